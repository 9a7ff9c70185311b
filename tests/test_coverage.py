"""cogpe.coverage: wavelengths, turns and which pairs meet unseen angles (chapter 4, section 4.3)."""

import math

import numpy as np
import pytest
import torch

from cogpe import arange_positions, divided_positions, rope_frequencies
from cogpe.coverage import angle_coverage, turns, wavelengths


def test_wavelengths_of_cogvideox_axes_table_c():
    t = wavelengths(rope_frequencies(16))
    h = wavelengths(rope_frequencies(24))
    np.testing.assert_allclose(t[:4], [6.28, 19.9, 62.8, 199], rtol=3e-3)
    np.testing.assert_allclose(h[:4], [6.28, 13.5, 29.2, 62.8], rtol=3e-3)
    assert (t > 13).sum().item() == 7 and (h > 30).sum().item() == 9 and (h > 45).sum().item() == 9
    # HunyuanVideo's temporal axis: theta = 256, d = 16, training length 33 -> 5 of 8 pairs longer
    assert (wavelengths(rope_frequencies(16, 256.0)) > 33).sum().item() == 5


def test_turns_match_table_e():
    np.testing.assert_allclose(turns(rope_frequencies(16), 13)[:4], [2.07, 0.65, 0.21, 0.07], atol=6e-3)
    np.testing.assert_allclose(turns(rope_frequencies(24), 45)[:4], [7.16, 3.32, 1.54, 0.72], atol=6e-3)


def test_extrapolation_shows_unseen_angles_and_interpolation_does_not():
    f = rope_frequencies(24)
    ext = angle_coverage(f, arange_positions(30), arange_positions(60))
    # complete pairs: trained arc 29·θ_j ≥ 2π
    expected_complete = 29 * f >= 2 * math.pi
    assert torch.equal(ext.complete, expected_complete)
    assert torch.equal(ext.unseen, ~expected_complete)
    # align-corners interpolation keeps every new position inside [0, 29]
    inside = torch.linspace(0, 29, 60, dtype=torch.float64)
    assert not angle_coverage(f, arange_positions(30), inside).unseen.any()
    # index division overshoots the trained range by N0/N1·... : max 59/2 = 29.5 > 29
    div = angle_coverage(f, arange_positions(30), divided_positions(60, 2.0))
    torch.testing.assert_close(div.new_max / div.trained_max, torch.full_like(f, 29.5 / 29))


def test_changed_frequencies_are_used():
    f = rope_frequencies(16)
    # PI as frequency division: 25 tokens at half the speed turn exactly as far as 13 did
    slower = angle_coverage(f, arange_positions(13), arange_positions(25), new_freqs=f / 2)
    assert not slower.unseen.any()
    torch.testing.assert_close(slower.new_max, slower.trained_max)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: wavelengths(torch.tensor([1.0, 0.0])), ValueError, r"freqs must be > 0"),
        (lambda: turns(rope_frequencies(8), 0), ValueError, r"n must be an integer >= 1"),
        (lambda: angle_coverage(rope_frequencies(8), [0.0, 1.0], [0.0], new_freqs=rope_frequencies(6)),
         ValueError, r"new_freqs has shape \(3,\), freqs \(4,\)"),
        (lambda: angle_coverage(rope_frequencies(8), [[0.0]], [0.0]), ValueError, r"trained_positions must be a non-empty 1-D"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
