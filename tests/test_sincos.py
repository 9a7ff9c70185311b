"""cogpe.sincos: parity with diffusers and the SAT formulas, identities, reference numbers, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cogpe import divided_positions, sincos_1d, sincos_2d, sincos_3d
from cogpe.sincos import sincos_frequencies
from conftest import as_np, sat_sincos_3d_literal

dims_3d = st.sampled_from([16, 32, 48, 64, 96, 128])
sizes = st.integers(1, 9)
factors = st.sampled_from([1.0, 1.875, 2.0, 0.5, 1.5, 3.0, 45 / 24, 7.3])


def exact_positions(grid, s):
    """Positions as diffusers and SAT compute them: float32 arange / factor."""
    return [divided_positions(n, f, dtype=torch.float32) for n, f in zip(grid, s)]


# --- parity with diffusers -----------------------------------------------------------------------


@settings(max_examples=200)
@given(dim=dims_3d, T=sizes, H=sizes, W=sizes, s_sp=factors, s_t=factors)
def test_sincos_3d_matches_diffusers(diffusers_embeddings, dim, T, H, W, s_sp, s_t):
    ref = diffusers_embeddings.get_3d_sincos_pos_embed(
        dim, (W, H), T, spatial_interpolation_scale=s_sp, temporal_interpolation_scale=s_t,
        output_type="pt",
    )  # (T, H*W, dim) float64, spatial_size is (W, H)
    ref = ref.reshape(T * H * W, dim)
    # With diffusers' float32 positions: identical.
    ours = sincos_3d(dim, positions=exact_positions((T, H, W), (s_t, s_sp, s_sp)), dtype=torch.float64)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-14)
    # With cogpe's default float64 positions: equal to the rounding of float32 positions.
    default = sincos_3d(dim, (T, H, W), (s_t, s_sp, s_sp), dtype=torch.float64)
    torch.testing.assert_close(default, ref, rtol=0, atol=2e-6)


def test_sincos_3d_full_2b_table_matches_diffusers(diffusers_embeddings):
    ref = diffusers_embeddings.get_3d_sincos_pos_embed(1920, (45, 30), 13, 1.875, 1.0, output_type="pt")
    ours = sincos_3d(1920, positions=exact_positions((13, 30, 45), (1.0, 1.875, 1.875)), dtype=torch.float64)
    torch.testing.assert_close(ours, ref.reshape(-1, 1920), rtol=0, atol=1e-13)


# --- parity with the SAT formulas (literal reference) --------------------------------------------


@settings(max_examples=60)
@given(
    dim=st.sampled_from([16, 32, 48]), T=st.integers(1, 4), H=st.integers(1, 5), W=st.integers(1, 5),
    s_t=factors, s_h=factors, s_w=factors,
)
def test_sincos_3d_matches_sat_literal(dim, T, H, W, s_t, s_h, s_w):
    ref = sat_sincos_3d_literal(dim, T, H, W, s_t, s_h, s_w)
    ours = sincos_3d(dim, positions=exact_positions((T, H, W), (s_t, s_h, s_w)), dtype=torch.float64)
    np.testing.assert_allclose(as_np(ours), ref, rtol=0, atol=1e-13)


# --- reference numbers (chapter 2, section 2.5) ---------------------------------------------------


def test_reference_rows_small_table():
    table = sincos_3d(64, positions=exact_positions((3, 4, 6), (1, 1, 1)), dtype=torch.float64)
    assert table.shape == (72, 64)
    np.testing.assert_allclose(table[1, 16:20], [0.84147098, 0.44767083, 0.21378067, 0.09983342], atol=1e-8)
    np.testing.assert_allclose(table[1, 28:32], [0.54030231, 0.89419843, 0.97688169, 0.99500417], atol=1e-8)
    np.testing.assert_allclose(table[6, 40:44], [0.84147098, 0.44767083, 0.21378067, 0.09983342], atol=1e-8)
    np.testing.assert_allclose(table[24, 0:4], [0.84147098, 0.31098359, 0.09983342, 0.03161751], atol=1e-8)
    assert table.sum().item() == pytest.approx(2314.2365952962, abs=1e-9)
    assert table.abs().sum().item() == pytest.approx(2498.5712944787, abs=1e-9)
    rows = torch.arange(1, 73, dtype=torch.float64)[:, None]
    assert (rows * table).sum().item() == pytest.approx(84301.2824873679, abs=1e-8)


def test_reference_rows_interpolated_table():
    table = sincos_3d(64, positions=exact_positions((3, 4, 6), (1, 1.875, 1.875)), dtype=torch.float64)
    np.testing.assert_allclose(table[1, 16:20], [0.50840657, 0.24503076, 0.11465052, 0.05330806], atol=1e-8)
    np.testing.assert_allclose(table[1, 28:32], [0.86111715, 0.96951531, 0.99340589, 0.99857811], atol=1e-8)
    np.testing.assert_allclose(table[6, 40:44], table[1, 16:20])
    assert table.sum().item() == pytest.approx(2412.7374100037, abs=1e-9)
    assert table.abs().sum().item() == pytest.approx(2468.6082871638, abs=1e-9)


def test_reference_full_2b_checksums():
    table = sincos_3d(1920, positions=exact_positions((13, 30, 45), (1, 1.875, 1.875)), dtype=torch.float64)
    np.testing.assert_allclose(table[1, 480:484], [0.50840657, 0.49675992, 0.48532068, 0.47408983], atol=1e-8)
    np.testing.assert_allclose(table[1350, 0:4], [0.84147098, 0.82053744, 0.79929355, 0.77785849], atol=1e-8)
    np.testing.assert_allclose(table[-1, 0:4], [-0.53657292, -0.85114521, -0.99306367, -0.95516995], atol=1e-8)
    assert table.sum().item() == pytest.approx(15167673.32800005, abs=1e-6)
    assert table.abs().sum().item() == pytest.approx(18987505.17183582, abs=1e-6)


def test_channel_blocks_are_t_then_w_then_h():
    """Moving one step along w changes only the w block; along h only the h block (chapter 2, section 2.4, eq-sincos-3d)."""
    table = sincos_3d(64, (2, 2, 2)).reshape(2, 2, 2, 64)
    changed = lambda a, b: torch.nonzero((a - b).abs() > 0).flatten().tolist()  # noqa: E731
    dw = changed(table[0, 0, 1], table[0, 0, 0])
    dh = changed(table[0, 1, 0], table[0, 0, 0])
    dt = changed(table[1, 0, 0], table[0, 0, 0])
    assert min(dt) >= 0 and max(dt) < 16
    assert min(dw) >= 16 and max(dw) < 40
    assert min(dh) >= 40 and max(dh) < 64


# --- identities ----------------------------------------------------------------------------------


@settings(max_examples=100)
@given(
    dim=st.sampled_from([2, 4, 8, 16, 64]),
    p=st.floats(-50, 50),
    delta=st.floats(-50, 50),
)
def test_shift_is_a_rotation(dim, p, delta):
    """PE(p + Δ) = M_Δ PE(p) with M_Δ a block rotation that does not depend on p (chapter 2, eq. 2.5)."""
    pe = sincos_1d([p, p + delta], dim)
    half = dim // 2
    sin_p, cos_p = pe[0, :half], pe[0, half:]
    omega = sincos_frequencies(dim)
    c, s = torch.cos(omega * delta), torch.sin(omega * delta)
    rotated = torch.cat([sin_p * c + cos_p * s, cos_p * c - sin_p * s])
    torch.testing.assert_close(rotated, pe[1], rtol=0, atol=1e-12)


@settings(max_examples=100)
@given(dim=st.sampled_from([4, 16, 64, 128]), p=st.floats(-100, 100), q=st.floats(-100, 100))
def test_dot_product_depends_only_on_offset(dim, p, q):
    """PE(p)·PE(q) = Σ_k cos(ω_k (p − q)) (chapter 2, eq. 2.6)."""
    pe = sincos_1d([p, q], dim)
    expected = torch.cos(sincos_frequencies(dim) * (p - q)).sum()
    torch.testing.assert_close(pe[0] @ pe[1], expected, rtol=0, atol=1e-10)


@settings(max_examples=100)
@given(dim=dims_3d, T=sizes, H=sizes, W=sizes, s_h=factors, s_w=factors)
def test_index_division_equals_dividing_frequencies(dim, T, H, W, s_h, s_w):
    """f(i/s) with frequencies ω equals f(i) with frequencies ω/s (chapter 5, theorem 5.1)."""
    divided = sincos_3d(dim, (T, H, W), (1.0, s_h, s_w), dtype=torch.float64)
    d_t, d_s = dim // 4, dim // 8 * 3
    blocks = []
    for n, d, s in ((W, d_s, s_w), (H, d_s, s_h)):
        angles = torch.outer(torch.arange(n, dtype=torch.float64), sincos_frequencies(d) / s)
        blocks.append(torch.cat([angles.sin(), angles.cos()], -1))
    emb_w, emb_h = blocks
    spatial = torch.cat([emb_w[None, :, :].expand(H, W, d_s), emb_h[:, None, :].expand(H, W, d_s)], -1)
    torch.testing.assert_close(divided.reshape(T, H, W, dim)[..., d_t:], spatial.expand(T, H, W, 2 * d_s),
                               rtol=0, atol=1e-12)


def test_sincos_2d_is_the_spatial_part_of_3d():
    t3 = sincos_3d(64, (3, 5, 7), (1.0, 1.875, 2.5), dtype=torch.float64).reshape(3, 35, 64)
    t2 = sincos_2d(48, (5, 7), (1.875, 2.5), dtype=torch.float64)
    for t in range(3):
        torch.testing.assert_close(t3[t, :, 16:], t2, rtol=0, atol=0)


def test_interpolation_one_equals_plain_arange():
    torch.testing.assert_close(sincos_3d(32, (2, 3, 4)), sincos_3d(32, (2, 3, 4), (1, 1, 1)))
    ar = [torch.arange(n, dtype=torch.float64) for n in (2, 3, 4)]
    torch.testing.assert_close(sincos_3d(32, (2, 3, 4)), sincos_3d(32, positions=ar))


def test_dtype_device_and_meta():
    assert sincos_3d(16, (1, 2, 2), dtype=torch.bfloat16).dtype == torch.bfloat16
    meta = sincos_3d(16, (1, 2, 2), device="meta")
    assert meta.device.type == "meta" and meta.shape == (4, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_device():  # pragma: no cover - runs only where a GPU exists
    table = sincos_3d(64, (2, 3, 4), device="cuda")
    assert table.device.type == "cuda"
    torch.testing.assert_close(table.cpu(), sincos_3d(64, (2, 3, 4)), rtol=0, atol=1e-6)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: sincos_3d(40, (1, 2, 2)), ValueError, r"dim=40 cannot split.*multiple of 16"),
        (lambda: sincos_3d(64.0, (1, 2, 2)), TypeError, r"dim must be an integer"),
        (lambda: sincos_3d(64, (0, 2, 2)), ValueError, r"grid\[0\] \(T\) must be an integer >= 1, got 0"),
        (lambda: sincos_3d(64, (1, 2.5, 2)), TypeError, r"grid\[1\] \(H\)"),
        (lambda: sincos_3d(64, (2, 2)), ValueError, r"grid must have 3 entries ordered \(T, H, W\)"),
        (lambda: sincos_3d(64, (1, 2, 2), (1, 0, 1)), ValueError, r"interpolation\[1\] \(H\).*> 0, got 0"),
        (lambda: sincos_3d(64, (1, 2, 2), (1, -2, 1)), ValueError, r"interpolation\[1\]"),
        (lambda: sincos_3d(64, (1, 2, 2), (1, 1, float("nan"))), ValueError, r"interpolation\[2\] \(W\)"),
        (lambda: sincos_3d(64, (1, 2, 2), (1, 1, math.inf)), ValueError, r"finite"),
        (lambda: sincos_3d(64, (1, 2, 2), theta=0), ValueError, r"theta must be a finite number > 0"),
        (lambda: sincos_3d(64, (1, 2, 2), theta=float("inf")), ValueError, r"theta"),
        (lambda: sincos_3d(64), TypeError, r"grid=\(T, H, W\) or positions"),
        (lambda: sincos_2d(6, (2, 2)), ValueError, r"dim=6 .*multiple of 4"),
        (lambda: sincos_1d([0, 1], 5), ValueError, r"dim=5"),
        (lambda: sincos_1d([[0, 1]], 4), ValueError, r"positions must be a non-empty 1-D"),
        (lambda: sincos_1d([0, float("nan")], 4), ValueError, r"positions must be finite"),
        (lambda: sincos_1d(torch.zeros(2, dtype=torch.float16), 4), TypeError, r"float32 or float64"),
        (lambda: sincos_3d(64, (1, 2, 3), positions=[torch.zeros(1), torch.zeros(2), torch.zeros(2)]),
         ValueError, r"grid=\(1, 2, 3\) does not match"),
        # positions already include any interpolation: both given is refused, as rope_3d does
        (lambda: sincos_3d(64, None, (1, 2, 2), positions=[torch.zeros(1)] * 3), ValueError, r"either positions"),
        (lambda: sincos_2d(64, None, (2, 2), positions=[torch.zeros(1)] * 2), ValueError, r"either positions"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
