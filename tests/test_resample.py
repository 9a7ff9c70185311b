"""Chapter 5: resampling a table, the three coordinate maps, and the kernel gain.

References: chapter 5 — the coordinate maps of section 5.2 (eq-coordinate-maps), the resampling errors of
section 5.3 (THUDM/CogVideo issue #118 asks whether resampling the table equals index division; it does
not) and the kernel gain (eq-kernel-gain).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cogpe.grids import divided_positions
from cogpe.resample import (
    align_corners_coordinates,
    asymmetric_coordinates,
    half_pixel_coordinates,
    kernel_gain,
    resample_table,
    resample_table_3d,
    resample_video_table,
    source_coordinates,
)

FAST = settings(max_examples=60, deadline=None)
sizes = st.integers(1, 12)
f64 = dict(dtype=torch.float64)


def _close(actual, expected, atol=1e-12):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


# --- literal references ------------------------------------------------------------------------


def _sincos(p: torch.Tensor, d: int) -> torch.Tensor:
    """Literal 1-D sincos: ``[sin(ω_k p) | cos(ω_k p)]``, ω_k = 10000^(−2k/d): (len(p), d)."""
    k = torch.arange(d // 2, **f64)
    angle = p[:, None] * 10000.0 ** (-2 * k / d)  # (n, d/2)
    return torch.cat([angle.sin(), angle.cos()], dim=-1)


def _spatial_sincos(h: torch.Tensor, w: torch.Tensor, ds: int) -> torch.Tensor:
    """CogVideoX-2B spatial part at positions h (H,), w (W,): ``[w block | h block]``, (H, W, ds)."""
    ew = _sincos(w, ds // 2)[None].expand(len(h), -1, -1)  # (H, W, ds/2), varies along w
    eh = _sincos(h, ds // 2)[:, None].expand(-1, len(w), -1)  # (H, W, ds/2), varies along h
    return torch.cat([ew, eh], dim=-1)


def _index_table(*grid: int) -> torch.Tensor:
    """Channel a holds the linear function f(j) = j along axis a: shape (*grid, len(grid)), float64."""
    axes = torch.meshgrid(*[torch.arange(n, **f64) for n in grid], indexing="ij")
    return torch.stack(axes, dim=-1)


# --- resampling to the same grid is the identity -------------------------------------------------


@FAST
@given(h=sizes, w=sizes, d=st.integers(1, 4), mode=st.sampled_from(["bilinear", "bicubic"]),
       align=st.booleans(), flat=st.booleans())
def test_same_grid_is_identity_2d(h, w, d, mode, align, flat):
    table = torch.randn(h, w, d, **f64)
    table = table.reshape(h * w, d) if flat else table
    _close(resample_table(table, (h, w), (h, w), mode, align), table)


@FAST
@given(t=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6), align=st.booleans(),
       flat=st.booleans())
def test_same_grid_is_identity_3d(t, h, w, align, flat):
    table = torch.randn(t, h, w, 3, **f64)
    table = table.reshape(t * h * w, 3) if flat else table
    _close(resample_table_3d(table, (t, h, w), (t, h, w), "trilinear", align), table)
    _close(resample_table_3d(table, (t, h, w), (t, h, w), "nearest"), table)


@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 2), (16, 24), (30, 45)])
def test_same_grid_is_identity_named_sizes(hw):
    table = torch.randn(hw[0] * hw[1], 8)
    for mode in ("bilinear", "bicubic"):
        for align in (False, True):
            _close(resample_table(table, hw, hw, mode, align), table, atol=1e-6)
    _close(resample_table(table, hw, hw, "nearest"), table, atol=0)


# --- the coordinate maps are what F.interpolate uses ---------------------------------------------


@FAST
@given(h0=st.integers(1, 24), w0=st.integers(1, 24), h1=st.integers(1, 40), w1=st.integers(1, 40))
def test_bilinear_reads_the_half_pixel_and_align_corners_maps(h0, w0, h1, w1):
    table = _index_table(h0, w0)  # channel 0: f = h index, channel 1: f = w index
    out = resample_table(table, (h0, w0), (h1, w1), "bilinear", align_corners=False)
    # linear interpolation of f(j) = j returns x itself; outside [0, N0-1] the border is replicated
    xh = half_pixel_coordinates(h1, h0).clamp(0, h0 - 1)
    xw = half_pixel_coordinates(w1, w0).clamp(0, w0 - 1)
    _close(out[..., 0], xh[:, None].expand(h1, w1))
    _close(out[..., 1], xw[None, :].expand(h1, w1))
    out = resample_table(table, (h0, w0), (h1, w1), "bilinear", align_corners=True)
    _close(out[..., 0], align_corners_coordinates(h1, h0)[:, None].expand(h1, w1))
    _close(out[..., 1], align_corners_coordinates(w1, w0)[None, :].expand(h1, w1))


def _cubic_kernel(s: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """Keys' cubic convolution kernel K(s) with parameter a (PyTorch uses a = −0.75)."""
    s = s.abs()
    near = ((a + 2) * s - (a + 3)) * s * s + 1  # |s| <= 1
    far = ((a * s - 5 * a) * s + 8 * a) * s - 4 * a  # 1 < |s| < 2
    return torch.where(s <= 1, near, torch.where(s < 2, far, torch.zeros_like(s)))


def _literal_bicubic(f: torch.Tensor, x: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """Σ_k K(x − k)·f[clamp(k)] over the 4 taps k = ⌊x⌋−1 … ⌊x⌋+2, borders replicated: (len(x),)."""
    k = x.floor()[:, None] + torch.arange(-1, 3, **f64)  # (n1, 4) tap positions
    rows = k.clamp(0, len(f) - 1).long()
    return (_cubic_kernel(x[:, None] - k, a) * f[rows]).sum(-1)


@FAST
@given(n0=st.integers(1, 24), n1=st.integers(1, 48), align=st.booleans())
def test_bicubic_is_a_cubic_convolution_at_the_map_coordinates(n0, n1, align):
    f = torch.randn(n0, **f64)
    out = resample_table(f[:, None, None], (n0, 1), (n1, 1), "bicubic", align)[:, 0, 0]
    x = (align_corners_coordinates if align else half_pixel_coordinates)(n1, n0)
    _close(out, _literal_bicubic(f, x), atol=1e-10)


def test_torch_bicubic_does_not_reproduce_linear_functions():
    # a = −0.75 passes constants exactly but bends a ramp between half-integers (Keys' a = −0.5 would not)
    out = resample_table(_index_table(4, 1), (4, 1), (6, 1), "bicubic")[:, 0, 0]
    x = half_pixel_coordinates(6, 4)
    assert (out[2] - x[2]).abs().item() > 0.04
    _close(out[2], _literal_bicubic(torch.arange(4, **f64), x)[2])
    keys = _literal_bicubic(torch.arange(4, **f64), x, a=-0.5)
    _close(keys[2:4], x[2:4])  # rows whose 4 taps all lie inside the table
    ones = resample_table(torch.ones(4, 1, 1, **f64), (4, 1), (6, 1), "bicubic")
    _close(ones, torch.ones(6, 1, 1, **f64))


@FAST
@given(t0=st.integers(1, 8), t1=st.integers(1, 12), h0=st.integers(1, 6), h1=st.integers(1, 9))
def test_trilinear_reads_the_same_maps_per_axis(t0, t1, h0, h1):
    out = resample_table_3d(_index_table(t0, h0, 3), (t0, h0, 3), (t1, h1, 5), align_corners=True)
    _close(out[:, 0, 0, 0], align_corners_coordinates(t1, t0))
    _close(out[0, :, 0, 1], align_corners_coordinates(h1, h0))
    _close(out[0, 0, :, 2], align_corners_coordinates(5, 3))
    out = resample_table_3d(_index_table(t0, h0, 3), (t0, h0, 3), (t1, h1, 5), align_corners=False)
    _close(out[:, 0, 0, 0], half_pixel_coordinates(t1, t0).clamp(0, t0 - 1))
    _close(out[0, :, 0, 1], half_pixel_coordinates(h1, h0).clamp(0, h0 - 1))


@pytest.mark.parametrize("n0, n1", [(16, 30), (24, 45), (13, 26), (9, 13)])
def test_nearest_copies_the_floor_of_the_asymmetric_map(n0, n1):
    out = resample_table(_index_table(n0, 1), (n0, 1), (n1, 1), "nearest")[:, 0, 0]
    _close(out, asymmetric_coordinates(n1, n0).floor(), atol=0)


@FAST
@given(n0=st.integers(1, 64), n1=st.integers(1, 64))
def test_nearest_is_the_floor_up_to_float32_rounding(n0, n1):
    # PyTorch forms N0/N1 in float32: an integer x(i) may land one row lower (e.g. 46 <- 14)
    out = resample_table(_index_table(n0, 1), (n0, 1), (n1, 1), "nearest")[:, 0, 0]
    x = asymmetric_coordinates(n1, n0)
    exact = out == x.floor()
    rounded_down = (x == x.floor()) & (out == x - 1)
    assert bool((exact | rounded_down).all())


# --- the maps themselves ------------------------------------------------------------------------


@FAST
@given(n0=st.integers(1, 64), n1=st.integers(1, 64))
def test_asymmetric_map_is_index_division(n0, n1):
    torch.testing.assert_close(
        asymmetric_coordinates(n1, n0), divided_positions(n1, n1 / n0), atol=1e-12, rtol=1e-15
    )


@FAST
@given(n0=st.integers(1, 64), n1=st.integers(1, 64))
def test_half_pixel_is_asymmetric_shifted_by_a_constant(n0, n1):
    delta = 0.5 * (1 - n0 / n1)  # = 0.2333 for 30 <- 16
    _close(half_pixel_coordinates(n1, n0), asymmetric_coordinates(n1, n0) - delta)


@FAST
@given(n0=st.integers(1, 64), n1=st.integers(1, 64))
def test_align_corners_map_pins_both_ends(n0, n1):
    x = align_corners_coordinates(n1, n0)
    assert x.dtype == torch.float64 and x.shape == (n1,)
    assert x[0].item() == 0.0
    if n1 > 1:
        assert x[-1].item() == pytest.approx(n0 - 1, abs=1e-12)
        _close(x.diff(), torch.full((n1 - 1,), (n0 - 1) / (n1 - 1), **f64))


def test_source_coordinates_dispatches_by_name():
    for name, fn in [("asymmetric", asymmetric_coordinates),
                     ("align_corners", align_corners_coordinates),
                     ("half_pixel", half_pixel_coordinates)]:
        _close(source_coordinates(30, 16, name), fn(30, 16), atol=0)


def test_reference_coordinates_30_from_16():  # chapter 5, section 5.2
    hp = half_pixel_coordinates(30, 16)
    assert hp[0].item() == pytest.approx(-0.2333, abs=5e-5)
    assert hp[29].item() == pytest.approx(15.2333, abs=5e-5)
    assert align_corners_coordinates(30, 16)[29].item() == pytest.approx(15.0, abs=1e-12)
    assert asymmetric_coordinates(30, 16)[29].item() == pytest.approx(15.4667, abs=5e-5)
    # rows with integer x(i) coincide with coarse rows (chapter 5, section 5.1): i = 0, 15 -> 0, 8
    x = asymmetric_coordinates(30, 16)
    assert [i for i in range(30) if x[i] == x[i].round()] == [0, 15]


# --- bicubic vs the exact sincos: the measured numbers of chapter 5, section 5.3 ------------------


def _resampled_error(mode: str, align: bool) -> torch.Tensor:
    ds, (h0, w0), (h1, w1) = 1440, (16, 24), (30, 45)
    coarse = _spatial_sincos(torch.arange(h0, **f64), torch.arange(w0, **f64), ds)
    out = resample_table(coarse.reshape(h0 * w0, ds), (h0, w0), (h1, w1), mode, align)
    cmap = align_corners_coordinates if align else half_pixel_coordinates
    exact = _spatial_sincos(cmap(h1, h0), cmap(w1, w0), ds)  # f at the map's own coordinates
    return (out.reshape(h1, w1, ds) - exact).abs()  # (30, 45, 1440)


def test_bicubic_error_against_exact_sincos():
    err = _resampled_error("bicubic", False)
    assert err.max().item() == pytest.approx(1.62e-1, abs=5e-4)
    assert err.mean().item() == pytest.approx(2.74e-3, abs=5e-5)
    assert err[2:-2, 2:-2].max().item() == pytest.approx(3.33e-2, abs=5e-5)
    # the fastest w channel (ω = 1, channel 0) carries the error; the slowest (ω ≈ 1e-4) almost none
    assert err[..., 0].max().item() == pytest.approx(1.45e-1, abs=5e-4)
    assert err[..., 359].max().item() == pytest.approx(1.3e-5, abs=1e-6)


def test_other_kernels_error_against_exact_sincos():
    assert _resampled_error("bicubic", True).max().item() == pytest.approx(6.4e-2, abs=5e-4)
    err = _resampled_error("bilinear", False)
    assert err.max().item() == pytest.approx(2.3e-1, abs=5e-3)
    assert err[2:-2, 2:-2].max().item() == pytest.approx(1.2e-1, abs=5e-3)


# --- kernel gain ---------------------------------------------------------------------------------

OMEGAS = [0.1, 0.316, 0.5, 1.0, math.pi / 2, 2.5]


def _half_integer_samples(mode: str, n0: int = 20):
    """Upsample sin/cos of each ω to 2N0−1 rows, align_corners=True: odd rows read x = m + ½."""
    w = torch.tensor(OMEGAS, **f64)
    j = torch.arange(n0, **f64)
    table = torch.cat([torch.sin(j[:, None] * w), torch.cos(j[:, None] * w)], -1)  # (N0, 2K)
    out = resample_table(table[:, None], (n0, 1), (2 * n0 - 1, 1), mode, align_corners=True)
    x = align_corners_coordinates(2 * n0 - 1, n0)[1::2]  # (N0-1,) = m + ½
    _close(x, torch.arange(n0 - 1, **f64) + 0.5, atol=0)
    m = slice(1, n0 - 3)  # interior: the 4 cubic taps m-1..m+2 lie inside the table
    exact = torch.cat([torch.sin(x[:, None] * w), torch.cos(x[:, None] * w)], -1)
    return out[1::2, 0][m], exact[m], w


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_kernel_gain_matches_f_interpolate(mode):
    got, exact, w = _half_integer_samples(mode)
    gain = kernel_gain(w, mode).repeat(2)  # (2K,): same gain for the sin and the cos channel
    _close(got, gain * exact, atol=1e-12)


def test_keys_gain_matches_a_literal_convolution():
    w, j = torch.tensor(OMEGAS, **f64), torch.arange(20, **f64)
    f = torch.cos(j[:, None] * w + 0.3)  # (20, K), arbitrary phase
    taps = torch.tensor([-1 / 16, 9 / 16, 9 / 16, -1 / 16], **f64)  # Keys a = −0.5 at x = m + ½
    got = sum(taps[k] * f[k: 17 + k] for k in range(4))  # rows m = 1..17
    x = torch.arange(1, 18, **f64) + 0.5
    _close(got, kernel_gain(w, "keys") * torch.cos(x[:, None] * w + 0.3))


@pytest.mark.parametrize(
    "omega, bilinear, keys, bicubic",
    [(0.1, 0.9988, 1.0000, 1.0006), (0.316, 0.9875, 0.9998, 1.0059), (0.5, 0.9689, 0.9986, 1.0134),
     (1.0, 0.8776, 0.9784, 1.0289), (math.pi / 2, 0.7071, 0.8839, 0.9723), (math.pi, 0, 0, 0)],
)
def test_kernel_gain_reference_table(omega, bilinear, keys, bicubic):  # eq-kernel-gain, a = -0.5 and -0.75
    for mode, value in [("bilinear", bilinear), ("keys", keys), ("bicubic", bicubic)]:
        assert kernel_gain(omega, mode) == pytest.approx(value, abs=5e-5)


def test_kernel_gain_types_and_small_omega():
    assert isinstance(kernel_gain(1, "bicubic"), float)
    w = torch.linspace(-3, 3, 12, dtype=torch.float32).reshape(3, 4)
    g = kernel_gain(w, "bicubic")
    assert g.shape == (3, 4) and g.dtype == torch.float32
    _close(g, kernel_gain(-w, "bicubic"), atol=0)  # even in ω
    assert kernel_gain(torch.arange(3), "keys").dtype == torch.float64
    for mode in ("bilinear", "keys", "bicubic"):  # every kernel passes constants unchanged
        assert kernel_gain(0.0, mode) == pytest.approx(1.0, abs=1e-15)
    # bilinear error ≈ ω²/8; Keys is exact to second order; PyTorch's a = −0.75 overshoots
    assert 1 - kernel_gain(0.01, "bilinear") == pytest.approx(0.01**2 / 8, rel=1e-3)
    assert abs(1 - kernel_gain(0.01, "keys")) < 1e-8
    assert kernel_gain(0.5, "bicubic") > 1


# --- forms, dtypes, antialias --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_same_form_dtype_and_device(dtype):
    grid = torch.randn(5, 7, 6, dtype=dtype)
    flat = resample_table(grid.reshape(35, 6), (5, 7), (9, 4))
    full = resample_table(grid, (5, 7), (9, 4))
    assert flat.shape == (36, 6) and full.shape == (9, 4, 6)
    assert flat.dtype == full.dtype == dtype and flat.device == grid.device
    _close(flat, full.reshape(36, 6), atol=0)
    cube = torch.randn(2, 3, 4, 6, dtype=dtype)
    assert resample_table_3d(cube, (2, 3, 4), (3, 5, 2)).shape == (3, 5, 2, 6)
    assert resample_table_3d(cube.reshape(24, 6), (2, 3, 4), (3, 5, 2)).shape == (30, 6)


@pytest.mark.parametrize("old, new", [((3, 4, 6), (5, 7, 9)), ((2, 3, 5), (2, 6, 4)), ((4, 3, 3), (2, 3, 3)),
                                      ((1, 2, 2), (3, 1, 5))])
def test_video_table_is_bicubic_per_frame_then_linear_in_time(old, new):
    """A learned table's resample, against F.interpolate called literally: each frame bicubic over (H, W),
    then every (h, w) row linear over T, align_corners=False (EVA's and timm's choice)."""
    t0, h0, w0 = old
    table = torch.randn(t0 * h0 * w0, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    frames = table.reshape(t0, h0, w0, 8).permute(0, 3, 1, 2)  # (T0, D, H0, W0)
    if (h0, w0) != new[1:]:
        frames = F.interpolate(frames, size=new[1:], mode="bicubic", align_corners=False)  # (T0, D, H, W)
    rows = frames.permute(2, 3, 1, 0).reshape(-1, 8, t0)  # (H*W, D, T0)
    if t0 != new[0]:
        rows = F.interpolate(rows, size=new[0], mode="linear", align_corners=False)  # (H*W, D, T)
    expected = rows.reshape(new[1], new[2], 8, new[0]).permute(3, 0, 1, 2)  # (T, H, W, D)
    got = resample_video_table(table, old, new)
    assert got.shape == (math.prod(new), 8) and got.dtype == torch.float64
    _close(got, expected.reshape(-1, 8), atol=1e-12)
    _close(resample_video_table(table.reshape(*old, 8), old, new), expected, atol=1e-12)


def test_video_table_keeps_its_grid_and_rounds_half_precision_once():
    table = torch.randn(2 * 3 * 4, 6, generator=torch.Generator().manual_seed(1))
    same = resample_video_table(table, (2, 3, 4), (2, 3, 4))
    assert torch.equal(same, table) and same.data_ptr() == table.data_ptr()  # a view: gradients reach the table
    half = table.to(torch.bfloat16)
    once = resample_video_table(half.float(), (2, 3, 4), (3, 5, 7)).to(torch.bfloat16)
    assert torch.equal(resample_video_table(half, (2, 3, 4), (3, 5, 7)), once)  # float32 inside, rounded at the end


def test_flat_rows_are_token_major():
    table = _index_table(3, 4).reshape(12, 2)  # row h*W + w holds (h, w)
    out = resample_table(table, (3, 4), (3, 4), "nearest")
    _close(out, table, atol=0)
    cube = _index_table(2, 3, 4).reshape(24, 3)  # row (t*H + h)*W + w holds (t, h, w)
    _close(resample_table_3d(cube, (2, 3, 4), (2, 3, 4)), cube)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_suppresses_aliasing_when_shrinking(mode):
    j = torch.arange(30, **f64)
    alt = torch.cos(math.pi * j).reshape(30, 1, 1)  # ω = π: the Nyquist channel
    plain = resample_table(alt, (30, 1), (10, 1), mode)  # 3x shrink reads rows 1, 4, 7, …
    assert plain.abs().min().item() == pytest.approx(1.0)  # aliased: full amplitude survives
    assert resample_table(alt, (30, 1), (10, 1), mode, antialias=True).abs().max().item() < 0.1


# --- bad input -----------------------------------------------------------------------------------


def test_bad_table():
    with pytest.raises(TypeError, match="table must be a floating-point"):
        resample_table([[0.0]], (1, 1), (2, 2))
    with pytest.raises(TypeError, match="table .* torch.int64"):
        resample_table(torch.zeros(4, 2, dtype=torch.long), (2, 2), (3, 3))
    with pytest.raises(ValueError, match=r"table must have shape \(H\*W, D\) or \(H, W, D\)"):
        resample_table(torch.zeros(4), (2, 2), (3, 3))
    with pytest.raises(ValueError, match=r"table has 100 rows but old_hw=\(8, 16\) needs 128"):
        resample_table(torch.zeros(100, 4), (8, 16), (16, 32))
    with pytest.raises(ValueError, match=r"shape \(8, 15, 4\) but old_hw=\(8, 16\) needs \(8, 16, D\)"):
        resample_table(torch.zeros(8, 15, 4), (8, 16), (16, 32))
    with pytest.raises(ValueError, match=r"table has 23 rows but old_thw=\(2, 3, 4\) needs 24"):
        resample_table_3d(torch.zeros(23, 4), (2, 3, 4), (2, 3, 4))
    with pytest.raises(ValueError, match="no channels"):
        resample_table(torch.zeros(4, 0), (2, 2), (3, 3))


def test_bad_sizes_and_modes():
    table = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"new_hw\[1\] \(W\) must be an integer >= 1"):
        resample_table(table, (2, 2), (3, 0))
    with pytest.raises(TypeError, match=r"old_hw\[0\] \(H\)"):
        resample_table(table, (2.0, 2), (3, 3))
    with pytest.raises(ValueError, match="new_hw must have 2 entries"):
        resample_table(table, (2, 2), (1, 3, 3))
    with pytest.raises(ValueError, match="unknown mode 'area'; valid: 'bilinear', 'bicubic'"):
        resample_table(table, (2, 2), (3, 3), mode="area")
    with pytest.raises(ValueError, match="valid: 'trilinear', 'nearest'"):
        resample_table_3d(torch.zeros(4, 2), (1, 2, 2), (1, 3, 3), mode="bicubic")
    with pytest.raises(ValueError, match="align_corners=True has no meaning for mode='nearest'"):
        resample_table(table, (2, 2), (3, 3), "nearest", align_corners=True)
    with pytest.raises(ValueError, match="antialias=True has no meaning"):
        resample_table(table, (2, 2), (3, 3), "nearest", antialias=True)
    with pytest.raises(TypeError, match="align_corners must be True or False"):
        resample_table(table, (2, 2), (3, 3), align_corners=None)


def test_bad_coordinates_and_gain_arguments():
    with pytest.raises(ValueError, match="n_new must be an integer >= 1, got 0"):
        half_pixel_coordinates(0, 16)
    with pytest.raises(TypeError, match="n_old must be an integer"):
        asymmetric_coordinates(30, 16.0)
    with pytest.raises(ValueError, match="unknown convention 'pixel'; valid: 'asymmetric'"):
        source_coordinates(30, 16, "pixel")
    with pytest.raises(ValueError, match="unknown mode 'lanczos'; valid: 'bilinear', 'bicubic', 'keys'"):
        kernel_gain(1.0, "lanczos")
    with pytest.raises(TypeError, match="omega must be a real number"):
        kernel_gain("1.0", "bilinear")
    with pytest.raises(ValueError, match="omega must be finite"):
        kernel_gain(float("nan"), "bilinear")
    with pytest.raises(TypeError, match="omega must be a real tensor"):
        kernel_gain(torch.tensor([True]), "bicubic")
