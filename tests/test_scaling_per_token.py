"""The strategies on per-token frequencies (cogpe.scaling's ``*_per_token``, Strategy.token_axes).

Mathematics stated: on RoPE's own ``θ_j`` they are the θ rules (bit for bit, NTK to rounding); they
do not depend on the order the pairs are listed in; on frequencies divided by a scale ``c`` they count
turns in tokens (YaRN's ramp sees ``n0·θ_j/(2π·c)``); bad input is refused naming the fix.
"""

from __future__ import annotations

import math

import pytest
import torch

from cogpe.rope import rope_frequencies
from cogpe.scaling import (
    intrinsic_component,
    intrinsic_pair,
    ntk_frequencies,
    ntk_per_token,
    repetition_component,
    repetition_pair,
    riflex_frequencies,
    riflex_per_token,
    riflex_reference_frequencies,
    riflex_reference_per_token,
    yarn_frequencies,
    yarn_per_token,
)
from cogpe.strategy import ENCODINGS, PER_TOKEN, Strategy

DIMS = [(4, 3), (16, 13), (24, 30), (44, 21), (56, 33), (32, 22)]


@pytest.mark.parametrize("d,n0", DIMS)
@pytest.mark.parametrize("s", [0.5, 1.0, 1.3, 2.0, 3.7])
def test_on_thetas_they_are_the_theta_rules(d, n0, s):
    f = rope_frequencies(d)
    torch.testing.assert_close(ntk_per_token(f, s), ntk_frequencies(d, s), rtol=1e-12, atol=0)
    assert torch.equal(yarn_per_token(f, n0, s), yarn_frequencies(d, n0, s))
    assert intrinsic_pair(f, n0) == intrinsic_component(d, n0)
    assert torch.equal(riflex_per_token(f, n0, s), riflex_frequencies(d, n0, s))
    assert torch.equal(riflex_reference_per_token(f, n0, s), riflex_reference_frequencies(d, n0, s))
    for frame in (3, 20, 48, 200):
        assert repetition_pair(f, frame) == repetition_component(d, frame)


@pytest.mark.parametrize("d,n0", DIMS)
def test_the_order_of_the_pairs_does_not_matter(d, n0):
    """Reversed (LTX-Video's rising order) or shuffled, each pair gets the same new frequency."""
    f = rope_frequencies(d) * 0.7
    order = torch.randperm(d // 2, generator=torch.Generator().manual_seed(d))
    for fn in (lambda x: ntk_per_token(x, 2.5), lambda x: yarn_per_token(x, n0, 2.5),
               lambda x: riflex_per_token(x, n0, 2.5)):
        torch.testing.assert_close(fn(f[order]), fn(f)[order], rtol=1e-15, atol=0)
    assert order[intrinsic_pair(f[order], n0)] == intrinsic_pair(f, n0)


def test_turns_are_counted_per_token():
    """Frequencies divided by c turn c times slower per token: YaRN's ramp and RIFLEx's pair see that, where the
    θ rules (which count ``n0·θ_j/2π``) would not."""
    c, n0, s = 2.2, 13, 2.0
    f = rope_frequencies(16) / c
    r = n0 * f / (2 * math.pi)
    gamma = ((r - 1) / 3).clamp(0, 1)
    assert torch.equal(yarn_per_token(f, n0, s), (1 - gamma) * f / s + gamma * f)
    assert not torch.allclose(yarn_per_token(f, n0, s), yarn_frequencies(16, n0, s) / c)
    assert intrinsic_pair(f, n0) == 0 and intrinsic_component(16, n0) == 1  # period 13.8 > 12 tokens


@pytest.mark.parametrize("name", PER_TOKEN)
def test_token_axes_on_thetas_are_the_axes(name):
    strategy = Strategy(name)
    for grid, base in (((26, 8, 12), (13, 4, 6)), ((13, 30, 45), (13, 30, 45)), ((7, 60, 20), (13, 30, 45))):
        a = strategy.axes(grid, base, (16, 24, 24))
        b = strategy.token_axes(grid, base, [rope_frequencies(d) for d in (16, 24, 24)])
        for (pa, fa), (pb, fb) in zip(a, b):
            assert torch.equal(pa, pb)
            torch.testing.assert_close(fa, fb, rtol=1e-12, atol=0)
    reference = Strategy("riflex", riflex_rule="reference", riflex_repetition_frame=20)
    a = reference.axes((26, 8, 12), (13, 4, 6), (16, 24, 24))
    b = reference.token_axes((26, 8, 12), (13, 4, 6), [rope_frequencies(d) for d in (16, 24, 24)])
    assert all(torch.equal(x[1], y[1]) for x, y in zip(a, b))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"per-token frequencies must be a 1-D tensor of positive finite radians"):
        yarn_per_token(torch.tensor([1.0, 0.0]), 4, 2.0)
    with pytest.raises(ValueError, match=r"ntk needs at least 2 channel pairs on a scaled axis"):
        ntk_per_token(torch.tensor([0.3]), 2.0)
    with pytest.raises(ValueError, match=r"every pair completed a turn over n0=1000 .* pass riflex_k=… explicitly"):
        intrinsic_pair(torch.tensor([1.0, 0.5]), 1000)
    with pytest.raises(ValueError, match=r"k=2 is out of range: an axis of 4 channels has pairs 0..1"):
        riflex_per_token(torch.tensor([1.0, 0.5]), 4, 2.0, k=2)
    for name in (n for n in ENCODINGS["rope"] if n not in PER_TOKEN):
        with pytest.raises(ValueError, match=rf"strategy '{name}' spreads positions over CogVideoX's crop region"):
            Strategy(name).token_axes((2, 2, 2), (1, 1, 1), [torch.ones(1)] * 3)
