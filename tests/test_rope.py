"""cogpe.rope: parity with diffusers and SAT, identities, layouts, dtypes/devices, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cogpe import (
    apply_rope,
    arange_positions,
    default_split,
    diffusers_linspace_positions,
    layout_permutation,
    rope_1d,
    rope_3d,
    rope_frequencies,
    rotate_halves,
    rotate_pairs,
    slice_positions,
    to_half_layout,
    to_interleaved_layout,
)
from conftest import as_np, sat_rope_3d_literal, sat_rotate_literal

head_dims = st.sampled_from([16, 32, 48, 64, 80, 96, 128])
sizes = st.integers(1, 9)


def diffusers_style(head_dim, positions, theta=10000.0):
    """cogpe tables with diffusers' arithmetic: float32 positions and frequencies."""
    return rope_3d(head_dim, positions=positions, theta=theta, freqs_dtype=torch.float32)


# --- parity with diffusers -----------------------------------------------------------------------


@settings(max_examples=200)
@given(
    head_dim=head_dims, T=sizes, H=sizes, W=sizes,
    top=st.integers(0, 6), left=st.integers(0, 6), dh=st.integers(1, 30), dw=st.integers(1, 30),
    theta=st.sampled_from([10000.0, 256.0, 1e6]),
)
def test_rope_3d_linspace_matches_diffusers(diffusers_embeddings, head_dim, T, H, W, top, left, dh, dw, theta):
    crops = ((top, left), (top + dh, left + dw))
    ref_cos, ref_sin = diffusers_embeddings.get_3d_rotary_pos_embed(
        head_dim, crops, (H, W), T, theta=theta, grid_type="linspace"
    )
    positions = [
        diffusers_linspace_positions(0, T, T),
        diffusers_linspace_positions(top, top + dh, H),
        diffusers_linspace_positions(left, left + dw, W),
    ]
    cos, sin = diffusers_style(head_dim, positions, theta)
    torch.testing.assert_close(cos, ref_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, ref_sin, rtol=0, atol=0)
    # cogpe's default float64 arithmetic differs only by float32 rounding of the angles.
    cos64, sin64 = rope_3d(head_dim, positions=[p.double() for p in positions], theta=theta)
    torch.testing.assert_close(cos64, ref_cos, rtol=0, atol=2e-5)
    torch.testing.assert_close(sin64, ref_sin, rtol=0, atol=2e-5)


@settings(max_examples=100)
@given(head_dim=head_dims, T=sizes, H=sizes, W=sizes, extra_h=st.integers(0, 20), extra_w=st.integers(0, 20))
def test_rope_3d_slice_matches_diffusers(diffusers_embeddings, head_dim, T, H, W, extra_h, extra_w):
    max_hw = (H + extra_h, W + extra_w)
    ref_cos, ref_sin = diffusers_embeddings.get_3d_rotary_pos_embed(
        head_dim, None, (H, W), T, grid_type="slice", max_size=max_hw
    )
    positions = [
        arange_positions(T, dtype=torch.float32),
        slice_positions(H, max_hw[0], dtype=torch.float32),
        slice_positions(W, max_hw[1], dtype=torch.float32),
    ]
    cos, sin = diffusers_style(head_dim, positions)
    torch.testing.assert_close(cos, ref_cos, rtol=0, atol=0)
    torch.testing.assert_close(sin, ref_sin, rtol=0, atol=0)
    # Plain rope_3d on the grid is the same table (positions arange).
    cos64, _ = rope_3d(head_dim, (T, H, W))
    torch.testing.assert_close(cos64, ref_cos, rtol=0, atol=1e-5)


@settings(max_examples=100)
@given(
    head_dim=head_dims, N=st.integers(1, 12), heads=st.integers(1, 3),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]), seed=st.integers(0, 2**16),
)
def test_apply_rope_matches_diffusers(diffusers_embeddings, head_dim, N, heads, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, heads, N, head_dim, generator=g).to(dtype)
    positions = [torch.rand(n, generator=g) * 40 for n in (1, 1, N)]
    cos, sin = rope_3d(head_dim, positions=positions)
    ref = diffusers_embeddings.apply_rotary_emb(x, (cos, sin))
    torch.testing.assert_close(apply_rope(x, cos, sin), ref, rtol=0, atol=0)


# --- parity with the SAT formulas (literal reference) --------------------------------------------


@settings(max_examples=60)
@given(head_dim=st.sampled_from([16, 32, 48, 64]), T=st.integers(1, 4), H=st.integers(1, 5), W=st.integers(1, 5),
       theta=st.sampled_from([10000.0, 100.0]))
def test_rope_3d_matches_sat_literal(head_dim, T, H, W, theta):
    ref_cos, ref_sin = sat_rope_3d_literal(head_dim, T, H, W, theta)
    cos, sin = rope_3d(head_dim, (T, H, W), theta=theta, dtype=torch.float64)
    np.testing.assert_allclose(as_np(cos), ref_cos, rtol=0, atol=1e-12)
    np.testing.assert_allclose(as_np(sin), ref_sin, rtol=0, atol=1e-12)


@settings(max_examples=40)
@given(head_dim=st.sampled_from([16, 32, 64]), N=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_apply_rope_matches_sat_literal(head_dim, N, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, N, head_dim, generator=g, dtype=torch.float64)
    cos, sin = rope_3d(head_dim, positions=[torch.zeros(1), torch.rand(1, generator=g) * 9, torch.arange(N) * 1.3],
                       dtype=torch.float64)
    ref = sat_rotate_literal(as_np(x), as_np(cos), as_np(sin))
    np.testing.assert_allclose(as_np(apply_rope(x, cos, sin)), ref, rtol=0, atol=1e-12)


# --- reference numbers (chapter 3, section 3.6) ---------------------------------------------------


def test_reference_small_table():
    cos, sin = rope_3d(64, (3, 4, 6), freqs_dtype=torch.float32)
    assert cos.shape == sin.shape == (72, 64) and cos.dtype == torch.float32
    assert torch.all(cos[0] == 1) and torch.all(sin[0] == 0)
    np.testing.assert_allclose(cos[1, 40:44], [0.54030234, 0.54030234, 0.89419842, 0.89419842], atol=1e-7)
    assert torch.all(cos[1, 16:40] == 1)
    np.testing.assert_allclose(cos[6, 16:20], [0.54030234, 0.54030234, 0.89419842, 0.89419842], atol=1e-7)
    np.testing.assert_allclose(cos[24, 0:4], [0.54030234, 0.54030234, 0.95041531, 0.95041531], atol=1e-7)
    np.testing.assert_allclose(sin[24, 0:4], [0.84147096, 0.84147096, 0.31098360, 0.31098360], atol=1e-7)
    np.testing.assert_allclose(cos[-1, :4], [-0.41614684, -0.41614684, 0.8065784, 0.8065784], atol=1e-7)
    np.testing.assert_allclose(sin[-1, 16:20], [0.14112, 0.14112, 0.98414314, 0.98414314], atol=1e-6)
    np.testing.assert_allclose(sin[-1, 40:44], [-0.95892429, -0.95892429, 0.73169005, 0.73169005], atol=1e-7)
    assert cos.double().sum().item() == pytest.approx(4013.770982, abs=1e-4)
    assert sin.double().sum().item() == pytest.approx(614.702216, abs=1e-4)


def test_reference_5b_table():
    cos, sin = rope_3d(64, (13, 30, 45), freqs_dtype=torch.float32)
    assert cos.shape == (17550, 64)
    assert cos.double().sum().item() == pytest.approx(721837.851399, abs=1e-2)
    assert sin.double().sum().item() == pytest.approx(181623.847366, abs=1e-2)
    np.testing.assert_allclose(cos[-1, :4], [0.84385395, 0.84385395, -0.79417932, -0.79417932], atol=1e-6)
    np.testing.assert_allclose(sin[-1, 40:44], [0.01770193, 0.01770193, 0.99999654, 0.99999654], atol=1e-6)


def test_frequencies_of_the_5b_axes():
    np.testing.assert_allclose(rope_frequencies(16)[:3], [1, 0.31622776, 0.1], atol=1e-8)
    np.testing.assert_allclose(rope_frequencies(24), 10000 ** (-np.arange(12) / 12), rtol=1e-14)
    assert default_split(64) == (16, 24, 24)


def test_relative_score_reference_number():
    """Chapter 3, section 3.3: the score between (1,1,1) and (0,0,0) equals that between (2,3,5) and (1,2,4)."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(64, generator=g, dtype=torch.float64), torch.randn(64, generator=g, dtype=torch.float64)

    def score(pq, pk):
        cq, sq = rope_3d(64, positions=[torch.tensor([float(v)]) for v in pq], dtype=torch.float64)
        ck, sk = rope_3d(64, positions=[torch.tensor([float(v)]) for v in pk], dtype=torch.float64)
        return (apply_rope(q[None], cq, sq) @ apply_rope(k[None], ck, sk).T).item()

    assert score((1, 1, 1), (0, 0, 0)) == pytest.approx(score((2, 3, 5), (1, 2, 4)), abs=1e-12)


# --- identities ----------------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    head_dim=head_dims, seed=st.integers(0, 2**16),
    pq=st.tuples(*[st.floats(-60, 60)] * 3), pk=st.tuples(*[st.floats(-60, 60)] * 3),
    shift=st.tuples(*[st.floats(-60, 60)] * 3),
)
def test_scores_depend_only_on_offsets(head_dim, seed, pq, pk, shift):
    """⟨R(m)q, R(n)k⟩ = ⟨R(m+c)q, R(n+c)k⟩ for any per-axis shift c (chapter 3, eq. 3.2)."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, head_dim, generator=g, dtype=torch.float64), torch.randn(1, head_dim, generator=g, dtype=torch.float64)

    def rotated(x, p):
        cos, sin = rope_3d(head_dim, positions=[torch.tensor([v], dtype=torch.float64) for v in p], dtype=torch.float64)
        return apply_rope(x, cos, sin)

    a = (rotated(q, pq) * rotated(k, pk)).sum()
    b = (rotated(q, [p + c for p, c in zip(pq, shift)]) * rotated(k, [p + c for p, c in zip(pk, shift)])).sum()
    torch.testing.assert_close(a, b, rtol=0, atol=1e-9)


@settings(max_examples=100)
@given(head_dim=head_dims, T=sizes, H=sizes, W=sizes, seed=st.integers(0, 2**16))
def test_rotation_preserves_norms(head_dim, T, H, W, seed):
    x = torch.randn(3, T * H * W, head_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    cos, sin = rope_3d(head_dim, (T, H, W), dtype=torch.float64)
    torch.testing.assert_close(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    half = apply_rope(x, to_half_layout(cos), to_half_layout(sin), layout="half")
    torch.testing.assert_close(half.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)


def test_rotation_identity_and_quarter_turns():
    x = torch.randn(5, 16, dtype=torch.float64)
    cos, sin = rope_1d(torch.zeros(5), 16, dtype=torch.float64)
    torch.testing.assert_close(apply_rope(x, cos, sin), x, rtol=0, atol=0)  # angle 0: identity
    assert torch.equal(rotate_pairs(torch.tensor([1.0, 2, 3, 4])), torch.tensor([-2.0, 1, -4, 3]))
    assert torch.equal(rotate_halves(torch.tensor([1.0, 2, 3, 4])), torch.tensor([-3.0, -4, 1, 2]))
    torch.testing.assert_close(rotate_pairs(rotate_pairs(x)), -x)  # two quarter turns = half turn
    torch.testing.assert_close(rotate_halves(rotate_halves(x)), -x)


@settings(max_examples=100)
@given(head_dim=head_dims, T=sizes, H=sizes, W=sizes, seed=st.integers(0, 2**16))
def test_layouts_are_a_permutation_of_each_other(head_dim, T, H, W, seed):
    """apply_interleaved(x)[perm] = apply_half(x[perm]) with tables permuted alike (chapter 3, eq. 3.11)."""
    x = torch.randn(2, T * H * W, head_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    cos, sin = rope_3d(head_dim, (T, H, W), dtype=torch.float64)
    inter = apply_rope(x, cos, sin)
    half = apply_rope(to_half_layout(x), to_half_layout(cos), to_half_layout(sin), layout="half")
    torch.testing.assert_close(to_half_layout(inter), half, rtol=0, atol=1e-12)
    torch.testing.assert_close(to_interleaved_layout(half), inter, rtol=0, atol=1e-12)
    torch.testing.assert_close(to_interleaved_layout(to_half_layout(x)), x, rtol=0, atol=0)


def test_layout_mismatch_changes_the_result():
    """Chapter 3, section 3.5, eq-rope-layouts: the half-split rotation with interleaved tables is a different operator."""
    x = torch.randn(1, 24, 64, generator=torch.Generator().manual_seed(0))
    cos, sin = rope_3d(64, (1, 4, 6))
    assert (apply_rope(x, cos, sin) - apply_rope(x, cos, sin, layout="half")).abs().max() > 0.5
    assert layout_permutation(8).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


@settings(max_examples=50)
@given(head_dim=head_dims, T=sizes, H=sizes, W=sizes, s=st.tuples(*[st.sampled_from([1.0, 1.875, 2.0, 0.75])] * 3))
def test_index_division_equals_dividing_frequencies(head_dim, T, H, W, s):
    divided = rope_3d(head_dim, (T, H, W), s, dtype=torch.float64)
    freqs = [rope_frequencies(d) / f for d, f in zip(default_split(head_dim), s)]
    scaled = rope_3d(head_dim, (T, H, W), freqs=freqs, dtype=torch.float64)
    for a, b in zip(divided, scaled):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_custom_split():
    cos, sin = rope_3d(32, (2, 3, 4), split=(8, 8, 16))
    assert cos.shape == (24, 32)
    ref, _ = rope_1d(torch.arange(4.0), 16)
    torch.testing.assert_close(cos.reshape(2, 3, 4, 32)[0, 0, :, 16:], ref)


# --- dtypes and devices --------------------------------------------------------------------------

# float16 keeps 11 significant bits, bfloat16 8: the rotated values (|x| ≲ 4) are compared to a
# float64 reference within a few units in the last place of the output dtype.
TOLERANCE = {torch.float32: 1e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_inputs_within_documented_tolerance(dtype):
    g = torch.Generator().manual_seed(1)
    x64 = torch.randn(2, 4, 13 * 6 * 9, 64, generator=g, dtype=torch.float64)
    cos, sin = rope_3d(64, (13, 6, 9), dtype=torch.float64)
    ref = apply_rope(x64, cos, sin)
    x = x64.to(dtype)
    out = apply_rope(x, cos.to(dtype), sin.to(dtype))
    assert out.dtype == dtype
    # compared with the rotation of the *rounded* input, to isolate the error of apply_rope
    ref_rounded = apply_rope(x.double(), cos, sin)
    torch.testing.assert_close(out.double(), ref_rounded, rtol=0, atol=TOLERANCE[dtype] * 4)
    assert (out.double() - ref).abs().max() < 8 * TOLERANCE[dtype] * 4


def test_positions_are_never_low_precision():
    """Large positions in bfloat16 would collapse: 300 and 301 round to the same value."""
    assert torch.tensor(301.0, dtype=torch.bfloat16).item() == 300.0
    cos, _ = rope_3d(64, (1, 1, 302), dtype=torch.bfloat16)
    assert not torch.equal(cos[300], cos[301])
    with pytest.raises(TypeError, match="float32 or float64"):
        rope_1d(torch.arange(3, dtype=torch.bfloat16), 4)


def test_meta_device():
    cos, sin = rope_3d(64, (2, 3, 4), device="meta")
    assert cos.device.type == "meta" and cos.shape == (24, 64)
    x = torch.empty(1, 2, 24, 64, device="meta")
    assert apply_rope(x, cos, sin).shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_device():  # pragma: no cover - runs only where a GPU exists
    cos, sin = rope_3d(64, (2, 3, 4), device="cuda")
    x = torch.randn(1, 2, 24, 64, device="cuda", dtype=torch.bfloat16)
    out = apply_rope(x, cos, sin)
    assert out.device.type == "cuda" and out.dtype == torch.bfloat16
    torch.testing.assert_close(out.cpu().float(), apply_rope(x.cpu().float(), cos.cpu(), sin.cpu()),
                               rtol=0, atol=3e-2)


def test_gradients_flow_through_apply_rope():
    x = torch.randn(1, 6, 16, dtype=torch.float64, requires_grad=True)
    cos, sin = rope_3d(16, (1, 2, 3), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: apply_rope(t, cos, sin), (x,))


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: rope_3d(40, (1, 2, 2)), ValueError, r"head_dim=40 cannot split.*split=\(t, h, w\)"),
        (lambda: rope_3d(72, (1, 2, 2)), ValueError, r"multiple of 16"),
        (lambda: rope_3d(64, (1, 2, 2), split=(16, 24, 16)), ValueError, r"sums to 56.*head_dim=64"),
        (lambda: rope_3d(64, (1, 2, 2), split=(14, 25, 25)), ValueError, r"odd parts \(h=25, w=25\)"),
        (lambda: rope_3d(64, (1, 2, 2), split=(16, 48)), ValueError, r"split must have 3 entries"),
        (lambda: rope_3d(64, (1, -2, 2)), ValueError, r"grid\[1\] \(H\) must be an integer >= 1, got -2"),
        (lambda: rope_3d(64, (1, 2.0, 2)), TypeError, r"grid\[1\] \(H\) must be an integer"),
        (lambda: rope_3d(64, (1, 2, 2), (1, float("nan"), 1)), ValueError, r"interpolation\[1\]"),
        (lambda: rope_3d(64, (1, 2, 2), theta=-1), ValueError, r"theta must be a finite number > 0, got -1"),
        (lambda: rope_3d(64, (1, 2, 2), theta=float("nan")), ValueError, r"theta"),
        (lambda: rope_3d(64), TypeError, r"grid=\(T, H, W\) or positions"),
        (lambda: rope_3d(64, (1, 2, 2), positions=[torch.zeros(1)] * 3), ValueError, r"does not match"),
        (lambda: rope_3d(64, None, (1, 2, 2), positions=[torch.zeros(1)] * 3), ValueError, r"either positions"),
        (lambda: rope_3d(64, (1, 1, 1), freqs=[torch.ones(8)] * 3), ValueError, r"freqs for axis h must have shape \(12,\)"),
        (lambda: rope_1d([0.0], 3), ValueError, r"dim=3"),
        (lambda: rope_frequencies(8, dtype=torch.float16), TypeError, r"too coarse"),
        (lambda: apply_rope(torch.zeros(2, 10, 64), *rope_3d(64, (1, 2, 4))), ValueError,
         r"cos has shape \(8, 64\) but x .* needs \(10, 64\); x has 2 more tokens.*text tokens.*x\[\.\.\., 2:, :\]"),
        (lambda: apply_rope(torch.zeros(8, 32), *rope_3d(64, (1, 2, 4))), ValueError, r"needs \(8, 32\)"),
        (lambda: apply_rope(torch.zeros(8, 64), *rope_3d(64, (1, 2, 4)), layout="neox"), ValueError,
         r"unknown layout 'neox'; valid: 'interleaved', 'half'"),
        (lambda: apply_rope(torch.zeros(8, 64, dtype=torch.long), *rope_3d(64, (1, 2, 4))), TypeError, r"x must be a floating"),
        (lambda: apply_rope([0.0], *rope_3d(64, (1, 2, 4))), TypeError, r"x must be a torch.Tensor"),
        (lambda: apply_rope(torch.zeros(64), *rope_3d(64, (1, 1, 1))), ValueError, r"x must have shape"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
