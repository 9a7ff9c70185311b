"""Chapter 6: RoPE scaling strategies — PI, NTK, YaRN, RIFLEx and diffusers' linspace-crop — applied to
3-D RoPE tables (the formulas of ``cogpe.scaling`` through the strategies of ``cogpe.strategy``).

References: chen2023extending, bloc97_2023ntk, peng2024yarn, zhao2025riflex (the book's bibliography)
and chapter 6, sections 6.1–6.4 (the diffusers linspace-crop numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cogpe.grids import crop_region
from cogpe.embeddings import RotaryEmbedding3D
from cogpe.rope import apply_rope, rope_3d, rope_frequencies
from cogpe.scaling import (
    intrinsic_component,
    ntk_frequencies,
    repetition_component,
    riflex_frequencies,
    riflex_reference_frequencies,
    scale_factors,
    whole_periods,
    yarn_attention_factor,
    yarn_frequencies,
    yarn_ramp,
)
from cogpe.strategy import ENCODINGS, STRATEGY_OPTIONS
from cogpe.strategy_tables import attention_scale, scaled_axes, scaled_rope_3d

STRATEGIES = ENCODINGS["rope"]  # every strategy a RoPE table can use

FAST = settings(max_examples=50, deadline=None)
f64 = dict(dtype=torch.float64)
TWO_PI = 2 * math.pi
CROP = ("linspace-crop", "linspace-crop-diffusers")
NOT_CROP = tuple(s for s in STRATEGIES if s not in CROP)
COGVIDEOX_BASE = (13, 30, 45)  # 49 frames x 480 x 720


def grids(lo: int = 1, hi: int = 9):
    """(T, H, W) grids, odd and non-square ones and T = 1 included."""
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi), st.integers(lo, hi))


def _close(actual, expected, tol=1e-12):
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol)


def _at_least_one(grid, base):
    """Per-axis factors ``max(s, 1)``: what every non-crop strategy actually applies."""
    return tuple(max(s, 1.0) for s in scale_factors(grid, base))


# --- every strategy is the identity at the training grid -----------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@FAST
@given(base=grids())
def test_every_strategy_is_plain_extrapolation_at_the_base_grid(strategy, base):
    for dtype in (torch.float64, torch.float32):
        cos, sin = scaled_rope_3d(64, base, base, strategy, dtype=dtype)
        ref_cos, ref_sin = rope_3d(64, base, dtype=dtype)
        assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)


@pytest.mark.parametrize("strategy", CROP)
@FAST
@given(base=grids(1, 40))
def test_linspace_crop_at_the_base_grid_is_arange(strategy, base):
    for n, (positions, freqs) in zip(base, scaled_axes(64, base, base, strategy)):
        assert torch.equal(positions, torch.arange(n, **f64))


@pytest.mark.parametrize("strategy", NOT_CROP)
@FAST
@given(data=st.data())
def test_axes_with_s_at_most_one_are_plain_extrapolation(strategy, data):
    """Our rule: where ``n ≤ n0`` every non-crop strategy gives ``arange(n)`` and ``θ_j`` exactly."""
    base = data.draw(grids(2, 12))
    grid = data.draw(st.tuples(*(st.integers(1, n0) for n0 in base)))
    cos, sin = scaled_rope_3d(64, grid, base, strategy, dtype=torch.float64)
    ref_cos, ref_sin = rope_3d(64, grid, dtype=torch.float64)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)


@pytest.mark.parametrize("strategy", NOT_CROP)
@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_mixed_grids_leave_unscaled_axes_alone(strategy, base, grid):
    axes = scaled_axes(64, grid, base, strategy)
    for n, n0, d, (positions, freqs) in zip(grid, base, (16, 24, 24), axes):
        assert positions.shape == (n,) and freqs.shape == (d // 2,)
        assert positions.dtype == freqs.dtype == torch.float64
        if n <= n0:
            assert torch.equal(positions, torch.arange(n, **f64))
            assert torch.equal(freqs, rope_frequencies(d))


# --- interpolate = index division = every frequency divided by s ----------------------------------


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_interpolate_is_index_division(base, grid):
    s = _at_least_one(grid, base)
    cos, sin = scaled_rope_3d(64, grid, base, "interpolate", dtype=torch.float64)
    ref_cos, ref_sin = rope_3d(64, grid, interpolation=s, dtype=torch.float64)
    assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)
    # ... and equals integer positions with every frequency divided by s (chapter 5, theorem 5.1)
    positions = [torch.arange(n, **f64) for n in grid]
    freqs = [rope_frequencies(d) / si for d, si in zip((16, 24, 24), s)]
    div_cos, div_sin = rope_3d(64, positions=positions, freqs=freqs, dtype=torch.float64)
    _close(cos, div_cos)
    _close(sin, div_sin)


# --- NTK-aware ------------------------------------------------------------------------------------


@FAST
@given(d=st.sampled_from([4, 8, 16, 24, 64, 128]), s=st.floats(1.01, 16.0))
def test_ntk_keeps_the_first_frequency_and_divides_the_last_by_s(d, s):
    theta = rope_frequencies(d)  # θ_j, (d/2,)
    scaled = ntk_frequencies(d, s)
    assert scaled[0].item() == 1.0
    _close(scaled[-1], theta[-1] / s)  # YaRN App. A.1: the base is chosen for exactly this
    j = torch.arange(d // 2, **f64)
    _close(scaled, theta * s ** (-2 * j / (d - 2)))


def test_ntk_base_ratios_on_video_axes():
    """b'/b = s^(d/(d-2)): 2.21 (d=16, s=2) and 1.99 (d=24, s=1.875) — bloc97_2023ntk; peng2024yarn App. A.1."""
    for d, s, ratio in ((16, 2.0, 2.21), (24, 1.875, 1.99), (128, 2.0, 2.02)):
        base = ntk_frequencies(d, s)[1] ** (-d / 2)  # θ'_1 = b'^(-2/d)
        assert base.item() / 10000.0 == pytest.approx(ratio, abs=5e-3)


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_ntk_axes_use_integer_positions(base, grid):
    for n, n0, d, (positions, freqs) in zip(grid, base, (16, 24, 24), scaled_axes(64, grid, base, "ntk")):
        assert torch.equal(positions, torch.arange(n, **f64))
        _close(freqs, ntk_frequencies(d, max(n / n0, 1.0)))


# --- YaRN -----------------------------------------------------------------------------------------


@FAST
@given(
    d=st.sampled_from([8, 16, 24, 64]),
    n0=st.integers(1, 64),
    s=st.floats(1.01, 8.0),
    alpha=st.floats(0.0, 3.0),
    width=st.floats(0.1, 40.0),
)
def test_yarn_ramp_endpoints_and_monotone_blend(d, n0, s, alpha, width):
    beta = alpha + width
    theta = rope_frequencies(d)
    r = n0 * theta / TWO_PI  # turns in the training window, decreasing in j
    scaled = yarn_frequencies(d, n0, s, alpha=alpha, beta=beta)
    low, high = r < alpha, r > beta
    _close(scaled[low], theta[low] / s)  # fewer than α turns: exactly PI
    assert torch.equal(scaled[high], theta[high])  # more than β turns: kept
    kept = scaled / theta  # in [1/s, 1], non-increasing in j (non-decreasing in r)
    assert (kept >= 1 / s - 1e-12).all() and (kept <= 1 + 1e-12).all()
    assert (kept[1:] <= kept[:-1] + 1e-12).all()
    gamma = ((r - alpha) / (beta - alpha)).clamp(0, 1)
    _close(scaled, (1 - gamma) * theta / s + gamma * theta)


def test_yarn_ramp_with_llama_defaults_on_cogvideox_axes():
    """peng2024yarn Def. 2 (chapter 6, section 6.2): paper γ(r), α=1, β=32 on CogVideoX-5B's t, h, w axes.

    The table prints 2 decimals; its w entry 0.08 is (3.32 − 1)/31 = 0.0750, hence abs=6e-3, and its
    first h turn count 4.78 is 30/2π = 4.775.
    """
    table = (
        (16, 13, [2.07, 0.65, 0.21, 0.07], [0.03, 0, 0, 0]),
        (24, 30, [4.77, 2.22, 1.03, 0.48], [0.12, 0.04, 0.00, 0]),  # the table prints 4.78
        (24, 45, [7.16, 3.32, 1.54, 0.72], [0.20, 0.08, 0.02, 0]),
    )
    for d, n0, turns, expected in table:
        r = n0 * rope_frequencies(d)[:4] / TWO_PI
        assert r.tolist() == pytest.approx(turns, abs=5e-3)
        assert yarn_ramp(r, 1.0, 32.0).tolist() == pytest.approx(expected, abs=6e-3)
    # with β = 32 YaRN is nearly PI on video axes; the default β = 4 keeps w's fastest pair, blends the next
    w_turns = 45 * rope_frequencies(24)[:3] / TWO_PI  # 7.16, 3.32, 1.54
    assert yarn_ramp(w_turns).tolist() == pytest.approx([1.0, 0.775, 0.181], abs=1e-3)


def test_yarn_temperature_numbers():
    """√(1/t) = 0.1 ln s + 1: 1.063 for s = 1.875, 1.069 for 2, 1.208 for 8 (YaRN App. A.2)."""
    assert round(yarn_attention_factor(1.875), 3) == 1.063
    assert round(yarn_attention_factor(2.0), 3) == 1.069
    assert round(yarn_attention_factor(8.0), 3) == 1.208
    assert yarn_attention_factor(0.5) == yarn_attention_factor(1.0) == 1.0


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_yarn_scales_cos_and_sin_by_the_temperature_of_the_largest_scale(base, grid):
    factor = attention_scale("yarn", grid, base)
    s = max(scale_factors(grid, base))
    assert factor == pytest.approx(0.1 * math.log(s) + 1 if s > 1 else 1.0, abs=1e-15)
    cos, sin = scaled_rope_3d(64, grid, base, "yarn", dtype=torch.float64)
    raw_cos, raw_sin = scaled_rope_3d(64, grid, base, "yarn", dtype=torch.float64, attention_factor=1.0)
    _close(cos, raw_cos * factor)
    _close(sin, raw_sin * factor)
    for strategy in STRATEGIES:
        if strategy != "yarn":
            assert attention_scale(strategy, grid, base) == 1.0


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_yarn_with_a_huge_beta_is_pi_times_the_temperature(base, grid):
    factor = attention_scale("yarn", grid, base)
    cos, sin = scaled_rope_3d(64, grid, base, "yarn", dtype=torch.float64, yarn_beta=1e15)
    pi_cos, pi_sin = scaled_rope_3d(64, grid, base, "interpolate", dtype=torch.float64)
    _close(cos, pi_cos * factor, tol=1e-10)
    _close(sin, pi_sin * factor, tol=1e-10)


# --- RIFLEx ---------------------------------------------------------------------------------------


def test_riflex_default_k_on_cogvideox_5b():
    """k = 2 (1-indexed) for CogVideoX-5B's temporal axis: 0-based 1, period 19.9 > 12 (RIFLEx §3.3)."""
    assert intrinsic_component(16, 13) == 1
    assert TWO_PI / rope_frequencies(16)[1].item() == pytest.approx(19.87, abs=5e-3)
    # spatial axes (chapter 4, section 4.3): periods 6.28, 13.5, 29.2, 62.8 — the first incomplete pair
    # over 30 positions (29.2 > 29: its arc 29·θ_2 falls just short of 2π) and over 45 (62.8 > 44)
    assert intrinsic_component(24, 30) == 2 and intrinsic_component(24, 45) == 3
    assert 29 * rope_frequencies(24)[2].item() < TWO_PI < 30 * rope_frequencies(24)[2].item()
    # HunyuanVideo t (d = 16, θ = 256, 33 latent frames): the paper's k = 4, period 50.3
    assert intrinsic_component(16, 33, theta=256.0) == 3


def test_riflex_reference_numbers():
    """97 frames on CogVideoX-5B (L_test = 25) with the code's 0.9: θ_2 = 0.226, period 27.8;
    HunyuanVideo at 261 frames (L_test = 66): θ_4 = 0.0857 (zhao2025riflex)."""
    cog = riflex_frequencies(16, 13, 25 / 13, margin=0.9)[1].item()
    assert cog == pytest.approx(0.2262, abs=1e-4) and TWO_PI / cog == pytest.approx(27.78, abs=1e-2)
    hunyuan = riflex_frequencies(16, 33, 2.0, theta=256.0, margin=0.9)[3].item()
    assert hunyuan == pytest.approx(0.0857, abs=1e-4)


@FAST
@given(
    d=st.sampled_from([8, 16, 24]),
    n0=st.integers(1, 40),
    s=st.floats(1.01, 6.0),
    margin=st.floats(0.05, 1.0),
    k=st.one_of(st.none(), st.integers(0, 3)),
)
def test_riflex_changes_only_component_k(d, n0, s, margin, k):
    theta = rope_frequencies(d)
    scaled = riflex_frequencies(d, n0, s, k=k, margin=margin)
    k = intrinsic_component(d, n0) if k is None else k
    changed = (scaled != theta).nonzero().flatten().tolist()
    assert changed in ([k], [])  # [] where θ_k already satisfied the non-repetition condition
    # new period: s·n0/margin, or the old one where that was longer already (reduce only)
    expected = max(s * n0 / margin, TWO_PI / theta[k].item())
    assert TWO_PI / scaled[k].item() == pytest.approx(expected, rel=1e-12)
    assert scaled[k] <= theta[k]


@FAST
@given(base=grids(1, 8), grid=grids(1, 20))
def test_riflex_acts_per_axis(base, grid):
    k = (None, 2, 0)
    axes = scaled_axes(64, grid, base, "riflex", riflex_k=k, riflex_margin=0.9)
    for n, n0, d, ki, (positions, freqs) in zip(grid, base, (16, 24, 24), k, axes):
        assert torch.equal(positions, torch.arange(n, **f64))
        _close(freqs, riflex_frequencies(d, n0, max(n / n0, 1.0), k=ki, margin=0.9))


# --- RIFLEx's reference rule -----------------------------------------------------------------------
# Literal numpy transcriptions of zhao2025riflex's formulas, loop by loop, as slow references:
# Eq. 4 periods N_j = 2π/θ_j rounded to whole frames, Eq. 7 k = argmin_j |N_j - N| (lowest j on a tie),
# Eq. 8 with the code's margin, θ_k = 0.9·2π/L_test, applied only where L_test > N_k (and s > 1).


def _np_thetas(d, theta):
    return np.array([1.0 / theta ** (2 * j / d) for j in range(d // 2)], dtype=np.float64)


def _np_identify_k(d, theta, frame):
    """0-based; the reference counts from 1."""
    periods = [round(2 * math.pi / t) for t in _np_thetas(d, theta)]
    diffs = [abs(p - frame) for p in periods]
    return diffs.index(min(diffs)), periods


def _np_first_incomplete(d, theta, n0):
    for j, t in enumerate(_np_thetas(d, theta)):
        if 2 * math.pi / t > n0 - 1:
            return j
    return None


def _np_reference(d, theta, n0, length, k, margin=0.9):
    freqs = _np_thetas(d, theta)
    if length > n0 and length > round(2 * math.pi / freqs[k]):
        freqs[k] = margin * 2 * math.pi / length
    return freqs


@pytest.mark.parametrize("theta", [256.0, 10000.0, 1e5])
@pytest.mark.parametrize("d", [2, 4, 8, 16, 24, 32])
def test_repetition_component_is_the_literal_eq_7(d, theta):
    for frame in range(1, 400):
        k, periods = _np_identify_k(d, theta, frame)
        assert repetition_component(d, frame, theta) == k
    assert whole_periods(d, theta).tolist() == [float(p) for p in periods]


@pytest.mark.parametrize("theta", [256.0, 10000.0])
@pytest.mark.parametrize("d", [2, 4, 8, 16, 24])
def test_riflex_reference_is_the_literal_eq_8_over_many_lengths(d, theta):
    """Every (n0, L_test), odd ones included, with k given and k defaulted; identity at L_test <= n0."""
    for n0 in (1, 2, 5, 7, 13, 21, 33):
        intrinsic = _np_first_incomplete(d, theta, n0)
        for length in range(1, 4 * n0 + 30):
            s = length / n0
            for k in range(d // 2):
                expected = _np_reference(d, theta, n0, length, k)
                got = riflex_reference_frequencies(d, n0, s, theta, k=k).numpy()
                np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
                if length <= n0:
                    np.testing.assert_array_equal(got, _np_thetas(d, theta))
            if intrinsic is not None:
                got = riflex_reference_frequencies(d, n0, s, theta).numpy()
                np.testing.assert_allclose(got, _np_reference(d, theta, n0, length, intrinsic), rtol=1e-14, atol=0)


def test_riflex_reference_k_from_the_repetition_frame():
    """CogVideoX-5B t (d = 16, θ = 1e4, 13 latent frames): the reference code's k = 2, N_k = 20 —
    the period of pair 2 and the frame where plain extrapolation repeats it; every frame 14–41 gives
    k = 2. HunyuanVideo t (d = 16, θ = 256, 33 latent frames): repetition near frame 48 gives k = 4,
    N_k = 50 (zhao2025riflex; counted from 1 there, from 0 here). cogpe's first incomplete pair agrees."""
    assert whole_periods(16)[1].item() == 20.0 and repetition_component(16, 20) == 1
    assert {repetition_component(16, n) for n in range(14, 42)} == {1}
    assert repetition_component(16, 13) == 0 and repetition_component(16, 42) == 2  # 13: a tie, 6 vs 20
    assert whole_periods(16, 256.0)[3].item() == 50.0 and repetition_component(16, 48, 256.0) == 3
    assert intrinsic_component(16, 13) == 1 and intrinsic_component(16, 33, theta=256.0) == 3


def test_riflex_reference_numbers_and_gate():
    """97 frames of CogVideoX-5B (L_test = 25): θ_2 = 0.9·2π/25 = 0.2262, period 27.8; 261 frames of
    HunyuanVideo (L_test = 66): θ_4 = 0.0857. Below L_test = N_k + 1 nothing changes."""
    cog = riflex_reference_frequencies(16, 13, 25 / 13, k=1)
    assert cog[1].item() == pytest.approx(0.2262, abs=1e-4) and TWO_PI / cog[1].item() == pytest.approx(27.78, abs=1e-2)
    hunyuan = riflex_reference_frequencies(16, 33, 2.0, theta=256.0, k=3)
    assert hunyuan[3].item() == pytest.approx(0.0857, abs=1e-4)
    for length in range(14, 21):  # 13 < L_test <= N_k = 20: the reference scripts keep RoPE as is
        assert torch.equal(riflex_reference_frequencies(16, 13, length / 13, k=1), rope_frequencies(16))
    assert not torch.equal(riflex_reference_frequencies(16, 13, 21 / 13, k=1), rope_frequencies(16))
    # set, not min'ed: at a margin of 1 and L_test = 21 both rules agree, at 0.9 the reference is lower
    assert riflex_reference_frequencies(16, 13, 21 / 13, k=1, margin=1.0)[1] == riflex_frequencies(16, 13, 21 / 13)[1]
    # identity at s <= 1 even where L_test exceeds N_k (pair 0, period 6, at 13 positions)
    assert torch.equal(riflex_reference_frequencies(16, 13, 1.0, k=0), rope_frequencies(16))
    assert not torch.equal(riflex_reference_frequencies(16, 13, 14 / 13, k=0), rope_frequencies(16))


# --- diffusers' linspace-crop ---------------------------------------------------------------------


@pytest.mark.parametrize("strategy", CROP)
def test_linspace_crop_at_960x1440_is_exactly_half_steps(strategy):
    """Chapter 6, section 6.3: grid 60×90 in the 30×45 box → positions exactly i/2."""
    (t, _), (h, _), (w, _) = scaled_axes(64, (13, 60, 90), COGVIDEOX_BASE, strategy)
    assert torch.equal(t, torch.arange(13, **f64))
    assert torch.equal(h, torch.arange(60, **f64) / 2)
    assert torch.equal(w, torch.arange(90, **f64) / 2)


def test_linspace_crop_at_768x1360_numpy_vs_diffusers():
    """Grid 48×85, crop ((2, 0), (27, 45)): numpy step 25/48, diffusers ≥ 0.32 step 0.51995 (chapter 6, section 6.4 (a))."""
    assert crop_region((48, 85), (30, 45)) == ((2, 0), (27, 45))
    (_, _), (h, _), (w, _) = scaled_axes(64, (13, 48, 85), COGVIDEOX_BASE, "linspace-crop")
    _close(h, 2 + 25 * torch.arange(48, **f64) / 48)
    _close(w, 45 * torch.arange(85, **f64) / 85)
    (_, _), (hd, _), (wd, _) = scaled_axes(64, (13, 48, 85), COGVIDEOX_BASE, "linspace-crop-diffusers")
    assert hd[0].item() == 2.0
    _close(hd[1:] - hd[:-1], torch.full((47,), 0.519947, **f64), tol=1e-5)
    _close(wd, w, tol=1e-5)  # start 0: the two conventions agree
    cos, _ = scaled_rope_3d(64, (1, 48, 85), COGVIDEOX_BASE, "linspace-crop")
    cos_d, _ = scaled_rope_3d(64, (1, 48, 85), COGVIDEOX_BASE, "linspace-crop-diffusers")
    assert (cos - cos_d).abs().max().item() == pytest.approx(4.0e-2, abs=1e-3)


def test_linspace_crop_reference_rows_at_768x1360():
    """Chapter 6, section 6.3: rows (t0, h0, w1) and (t0, h1, w0) of the diffusers 1.0 table."""
    cos, _ = scaled_rope_3d(64, (13, 48, 85), COGVIDEOX_BASE, "linspace-crop-diffusers")
    assert cos.shape == (53040, 64)
    _close(cos[1, 40:44], torch.tensor([0.86310428, 0.86310428, 0.96995974, 0.96995974]), tol=1e-6)
    _close(cos[85, 16:20], torch.tensor([-0.81292105, -0.81292105, 0.39046869, 0.39046869]), tol=1e-6)


def test_linspace_crop_stretches_smaller_grids():
    """Unlike the other strategies it acts below the base grid too: 240×360 → step 2 (chapter 6, section 6.3)."""
    (_, _), (h, _), (w, _) = scaled_axes(64, (13, 15, 22), COGVIDEOX_BASE, "linspace-crop")
    assert torch.equal(h, 2 * torch.arange(15, **f64))
    assert torch.equal(w, 2 * torch.arange(22, **f64))


def test_linspace_crop_diffusers_matches_diffusers_at_768x1360():
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    ref_cos, ref_sin = get_3d_rotary_pos_embed(64, ((2, 0), (27, 45)), (48, 85), 13)
    cos, sin = scaled_rope_3d(64, (13, 48, 85), COGVIDEOX_BASE, "linspace-crop-diffusers")
    _close(cos, ref_cos, tol=1e-5)  # diffusers computes angles in float32
    _close(sin, ref_sin, tol=1e-5)


def _nonempty_crop(grid, base) -> bool:
    (top, left), (bottom, right) = crop_region(grid[1:], base[1:])
    return bottom > top and right > left


@settings(max_examples=15, deadline=None)
@given(grid=grids(1, 70), base=grids(4, 45))
def test_linspace_crop_diffusers_matches_diffusers_on_random_grids(grid, base):
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    assume(_nonempty_crop(grid, base))
    crops = crop_region(grid[1:], base[1:])
    ref_cos, ref_sin = get_3d_rotary_pos_embed(64, crops, grid[1:], grid[0])
    cos, sin = scaled_rope_3d(64, grid, base, "linspace-crop-diffusers")
    _close(cos, ref_cos, tol=2e-5)
    _close(sin, ref_sin, tol=2e-5)


# --- the relative property survives every strategy ------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=10, deadline=None)
@given(base=grids(1, 4), grid=grids(2, 6), seed=st.integers(0, 2**16))
def test_scores_depend_only_on_the_offset(strategy, base, grid, seed):
    """⟨R(a)q, R(b)k⟩ is unchanged when a and b move together by one token along any axis.

    Positions are affine in the index for every strategy (integer, ÷s or a linspace), so the
    property holds per index offset; diffusers' float32 linspace only approximately.
    """
    assume(strategy not in CROP or _nonempty_crop(grid, base))
    cos, sin = scaled_rope_3d(64, grid, base, strategy, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 64, generator=g, **f64)
    n = cos.shape[0]
    qr = apply_rope(q.expand(n, 64), cos, sin)  # (N, 64): q at every token
    kr = apply_rope(k.expand(n, 64), cos, sin)
    scores = (qr @ kr.T).reshape(*grid, *grid)  # (T, H, W, T, H, W): query token, key token
    tol = 1e-4 if strategy == "linspace-crop-diffusers" else 1e-9
    for axis in range(3):
        later = scores.narrow(axis, 1, grid[axis] - 1).narrow(axis + 3, 1, grid[axis] - 1)
        earlier = scores.narrow(axis, 0, grid[axis] - 1).narrow(axis + 3, 0, grid[axis] - 1)
        _close(later, earlier, tol=tol)


# --- the module -----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rotary_embedding_module_matches_and_caches(strategy):
    base = (3, 4, 5)
    options = {"yarn": {"yarn_beta": 8.0}, "riflex": {"riflex_margin": 0.9}}.get(strategy, {})
    module = RotaryEmbedding3D(64, strategy=strategy, base_grid=base, **options)
    for grid in ((5, 8, 7), (2, 3, 5)):
        cos, sin = module(grid)
        ref_cos, ref_sin = scaled_rope_3d(64, grid, base, strategy, **options)
        assert torch.equal(cos, ref_cos) and torch.equal(sin, ref_sin)
        again = module(grid)
        assert again[0] is cos and again[1] is sin


def test_dtypes_and_shapes():
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        cos, sin = scaled_rope_3d(64, (3, 5, 7), (2, 3, 3), "yarn", dtype=dtype)
        assert cos.shape == sin.shape == (105, 64) and cos.dtype == sin.dtype == dtype
    cos, _ = scaled_rope_3d(96, (2, 3, 4), (1, 1, 1), "ntk", split=(32, 32, 32))
    assert cos.shape == (24, 96)


def test_strategy_options_table():
    assert set(STRATEGY_OPTIONS) <= set(STRATEGIES)
    assert dict(STRATEGY_OPTIONS["yarn"]) == {"factor": None, "yarn_alpha": 1.0, "yarn_beta": 4.0, "attention_factor": None}
    assert dict(STRATEGY_OPTIONS["riflex"]) == {"factor": None, "riflex_k": None, "riflex_margin": None,
                                                "riflex_rule": "cogpe", "riflex_repetition_frame": None}
    assert dict(STRATEGY_OPTIONS["interpolate"]) == dict(STRATEGY_OPTIONS["ntk"]) == {"factor": None}


# --- bad input ------------------------------------------------------------------------------------

GRID, BASE = (4, 6, 8), (2, 3, 4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(strategy="pi"), ValueError, "strategy.*'interpolate'"),
        (dict(strategy=None), TypeError, "strategy"),
        (dict(strategy="ntk", yarn_beta=8.0), TypeError, "yarn_beta"),
        (dict(strategy="extrapolate", riflex_k=1), TypeError, "riflex_k"),
        (dict(strategy="yarn", yarn_gamma=1.0), TypeError, "yarn_gamma"),
        (dict(strategy="yarn", yarn_beta=1.0), ValueError, "yarn_beta"),
        (dict(strategy="yarn", yarn_alpha=5.0), ValueError, "yarn_beta"),
        (dict(strategy="yarn", yarn_alpha=-1.0), ValueError, "yarn_alpha"),
        (dict(strategy="yarn", yarn_beta=float("nan")), ValueError, "yarn_beta"),
        (dict(strategy="yarn", yarn_alpha="1"), TypeError, "yarn_alpha"),
        (dict(strategy="yarn", attention_factor="1"), TypeError, "attention_factor"),
        (dict(strategy="yarn", attention_factor=0.0), ValueError, "attention_factor"),
        (dict(strategy="interpolate", factor=(1, 2)), ValueError, "factor"),
        (dict(strategy="ntk", factor=-2.0), ValueError, r"factor\[0\] \(T\)"),
        (dict(strategy="extrapolate", factor=2.0), TypeError, "factor"),
        (dict(strategy="resample"), ValueError, "cannot be applied to a rope encoding"),
        (dict(strategy="riflex", riflex_k=8), ValueError, "riflex_k"),
        (dict(strategy="riflex", riflex_k=-1), ValueError, "riflex_k"),
        (dict(strategy="riflex", riflex_k=(0, 12, 0)), ValueError, r"riflex_k\[1\] \(h\)"),
        (dict(strategy="riflex", riflex_k=(0, 1)), TypeError, "riflex_k"),
        (dict(strategy="riflex", riflex_k=1.0), TypeError, "riflex_k"),
        (dict(strategy="riflex", riflex_margin=0.0), ValueError, "riflex_margin"),
        (dict(strategy="riflex", riflex_margin=-0.5), ValueError, "riflex_margin"),
        (dict(strategy="riflex", riflex_margin=float("nan")), ValueError, "riflex_margin"),
        (dict(strategy="riflex", riflex_margin=1.5), ValueError, "riflex_margin"),
        (dict(theta=0.0), ValueError, "theta"),
        (dict(split=(16, 24, 20)), ValueError, "split"),
        (dict(head_dim=40), ValueError, "head_dim"),
        (dict(head_dim=64.0), TypeError, "head_dim"),
        (dict(grid=(4, 0, 8)), ValueError, "grid"),
        (dict(grid=(4, 6)), ValueError, "grid"),
        (dict(base_grid=(2, 3, 4.5)), TypeError, "base_grid"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {**dict(head_dim=64, grid=GRID, base_grid=BASE), **kwargs}
    with pytest.raises(error, match=match):
        scaled_rope_3d(**args)
    with pytest.raises(error, match=match):
        scaled_axes(**args)


def test_bad_input_of_the_helpers():
    with pytest.raises(ValueError, match="strategy"):
        attention_scale("yarn2", GRID, BASE)
    with pytest.raises(ValueError, match="dim"):  # NTK's exponent d/(d-2) is undefined for d = 2
        scaled_rope_3d(64, GRID, BASE, "ntk", split=(2, 30, 32))
    with pytest.raises(ValueError, match="riflex_k"):  # no period exceeds 10^6 tokens
        intrinsic_component(16, 10**6)
    with pytest.raises(ValueError, match="dim"):
        yarn_frequencies(7, 13, 2.0)
    with pytest.raises(ValueError, match="yarn_beta"):
        yarn_ramp(torch.zeros(3), 2.0, 2.0)
    with pytest.raises(ValueError, match="s must"):
        riflex_frequencies(16, 13, 0.0)
    with pytest.raises(ValueError, match="riflex_margin"):
        RotaryEmbedding3D(64, strategy="riflex", base_grid=BASE, riflex_margin=2.0)
    with pytest.raises(ValueError, match=r"repetition_frame must be an integer >= 1, got 0"):
        repetition_component(16, 0)
    with pytest.raises(TypeError, match=r"repetition_frame must be an integer \(latent frame"):
        repetition_component(16, 20.0)
    with pytest.raises(ValueError, match=r"k=8 is out of range"):
        riflex_reference_frequencies(16, 13, 2.0, k=8)
    with pytest.raises(ValueError, match="riflex_margin"):
        riflex_reference_frequencies(16, 13, 2.0, margin=1.2)
    with pytest.raises(ValueError, match="base_grid"):  # crop ((0, 0), (0, 1)): zero height
        scaled_rope_3d(64, (1, 2, 4), (1, 1, 1), "linspace-crop")
    with pytest.raises(TypeError, match="yarn_beta"):
        RotaryEmbedding3D(64, strategy="ntk", base_grid=BASE, yarn_beta=2.0)
