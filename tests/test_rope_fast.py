"""cogpe.rope's fast paths (chapter 8): every ``impl`` of apply_rope rotates exactly like the reference.

The reference path is the defining expression ``x·cos + rot(x)·sin``, term by term. The complex paths
(one complex multiply; on CPU for low-precision or half-layout inputs, blocks of tokens through a
complex scratch) may differ from it by float32 rounding only: a complex multiply may fuse
``a·c − b·d`` into one multiply-add. That is the documented tolerance, ``COMPLEX_TOL`` below.
"""

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogpe.rope_complex as rope_module
from cogpe import (
    IMPLS,
    apply_rope,
    apply_rope_complex,
    rope_1d,
    rope_3d,
    rope_complex_table,
    scaled_rope_3d,
    to_half_layout,
)
from cogpe.embeddings import RotaryEmbedding3D
from cogpe.rope_complex import AUTO_MIN_NUMEL

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
EAGER_IMPLS = ["reference", "complex", "auto"]


def tolerance(dtype: torch.dtype, scale: float = 1.0) -> dict:
    """The documented tolerance: 4 eps of the compute dtype, relative and times ``scale = max|x|`` absolute
    (a fused multiply-add rounds ``a·c − b·d`` once instead of twice), plus one unit in the last place of
    a low-precision output (the float32 results may round to the neighbouring float16/bfloat16 value)."""
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    tol = 4 * torch.finfo(compute).eps
    rtol = torch.finfo(dtype).eps if dtype in (torch.float16, torch.bfloat16) else tol
    return dict(rtol=rtol, atol=tol * max(1.0, scale))


def tables(head_dim: int, n: int, *, layout: str = "interleaved", dtype=torch.float32, seed: int = 0):
    """RoPE tables (N, head_dim) for N tokens at random positions, in ``layout``."""
    positions = torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 60
    cos, sin = rope_1d(positions, head_dim, dtype=dtype)
    if layout == "half":
        cos, sin = to_half_layout(cos), to_half_layout(sin)
    return cos, sin


def assert_rotates_like_reference(out, ref, dtype):
    assert out.dtype == ref.dtype == dtype and out.shape == ref.shape
    scale = 2 * ref.abs().max().item() if ref.numel() else 1.0  # ≥ max|x|: rotations keep each pair's norm
    torch.testing.assert_close(out.double(), ref.double(), **tolerance(dtype, scale))


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of a function of cogpe.rope_complex (the fast path) while keeping its behaviour."""

    def install(name):
        calls = []
        original = getattr(rope_module, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(rope_module, name, wrapper)
        return calls

    return install


# --- every path equals the reference -------------------------------------------------------------


@settings(max_examples=60)
@given(
    head_dim=st.sampled_from([2, 6, 16, 32, 64, 80]),
    n=st.integers(1, 37),
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    dtype=st.sampled_from(DTYPES),
    layout=st.sampled_from(["interleaved", "half"]),
    seed=st.integers(0, 2**16),
)
def test_complex_path_equals_reference(head_dim, n, lead, dtype, layout, seed):
    """Odd N, any number of batch/head dims, every dtype, both layouts."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(*lead, n, head_dim, generator=g, dtype=torch.float64) * 3).to(dtype)
    cos, sin = tables(head_dim, n, layout=layout, seed=seed)
    ref = apply_rope(x, cos, sin, layout=layout, impl="reference")
    assert_rotates_like_reference(apply_rope(x, cos, sin, layout=layout, impl="complex"), ref, dtype)
    table = rope_complex_table(cos, sin, layout=layout)
    assert_rotates_like_reference(apply_rope_complex(x, table, layout=layout), ref, dtype)


@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_blocks_of_tokens_equal_reference(monkeypatch, spy, dtype, layout):
    """The CPU block path, with blocks small enough that N = 37 splits into several and a ragged last one."""
    monkeypatch.setattr(rope_module, "_CHUNK_NUMEL", 2 * 3 * 64 * 5)  # 5 tokens per block
    calls = spy("_rotate_blocks")
    x = torch.randn(2, 3, 37, 64, generator=torch.Generator().manual_seed(1)).to(dtype)
    cos, sin = tables(64, 37, layout=layout)
    ref = apply_rope(x, cos, sin, layout=layout, impl="reference")
    out = apply_rope(x, cos, sin, layout=layout, impl="complex")
    assert_rotates_like_reference(out, ref, dtype)
    uses_blocks = dtype in (torch.float16, torch.bfloat16) or layout == "half"
    assert calls == (["_rotate_blocks"] if uses_blocks else [])


@pytest.mark.parametrize("impl", EAGER_IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_non_contiguous_inputs(impl, dtype):
    """q as attention code makes it: heads transposed out of (B, N, H, D), or sliced at an odd offset."""
    n, d = 300, 64  # 2 * 4 * 300 * 64 elements: above AUTO_MIN_NUMEL, so auto takes the complex path
    cos, sin = tables(d, n)
    bnhd = torch.randn(2, n, 4, d).to(dtype)
    transposed = bnhd.transpose(1, 2)  # (B, H, N, D), not contiguous
    odd_offset = torch.randn(2, 4, n, d + 1).to(dtype)[..., 1:]  # pairs start at odd addresses
    for x in (transposed, odd_offset):
        assert not x.is_contiguous() and x.numel() >= AUTO_MIN_NUMEL
        ref = apply_rope(x.contiguous(), cos, sin, impl="reference")
        assert_rotates_like_reference(apply_rope(x, cos, sin, impl=impl), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_auto_takes_the_complex_path_on_large_inputs_only(spy, dtype):
    calls = spy("rotate_complex")
    cos, sin = tables(64, 256)
    small = torch.randn(1, 1, 256, 64).to(dtype)
    large = torch.randn(1, AUTO_MIN_NUMEL // (256 * 64), 256, 64).to(dtype)
    assert torch.equal(apply_rope(small, cos, sin), apply_rope(small, cos, sin, impl="reference"))
    assert calls == []
    assert_rotates_like_reference(apply_rope(large, cos, sin), apply_rope(large, cos, sin, impl="reference"), dtype)
    assert calls == ["rotate_complex"]


def test_auto_keeps_the_reference_for_tables_that_are_not_rope_tables(spy):
    """Arbitrary tables (pairs not repeated) are still rotated term by term, as documented."""
    calls = spy("rotate_complex")
    x = torch.randn(1, 4, 256, 64)
    cos, sin = torch.randn(256, 64), torch.randn(256, 64)
    assert torch.equal(apply_rope(x, cos, sin), apply_rope(x, cos, sin, impl="reference"))
    assert calls == []
    with pytest.raises(ValueError, match=r"cos is not a RoPE table in the 'interleaved' layout.*impl='reference'"):
        apply_rope(x, cos, sin, impl="complex")


# --- the table cache ------------------------------------------------------------------------------


def test_tables_are_converted_once_per_pair_of_tensors(spy):
    """A model rotates q and k of every layer by the same tables: one check and conversion, then lookups."""
    calls = spy("_table_or_none")
    cos, sin = tables(64, 256)
    x = torch.randn(1, 4, 256, 64)
    first = apply_rope(x, cos, sin)
    for _ in range(3):
        assert torch.equal(apply_rope(x, cos, sin), first)
        assert torch.equal(apply_rope(x, cos, sin, impl="complex"), first)
    assert calls == ["_table_or_none"]
    assert torch.equal(apply_rope(x, cos.clone(), sin), first)  # another tensor, same values: converted again
    assert calls == ["_table_or_none"] * 2


def test_a_table_changed_in_place_is_converted_again():
    cos, sin = tables(64, 256)
    x = torch.randn(1, 4, 256, 64)
    apply_rope(x, cos, sin)
    sin.neg_()  # now the inverse rotation
    assert_rotates_like_reference(apply_rope(x, cos, sin), apply_rope(x, cos, sin, impl="reference"), torch.float32)
    cos.copy_(torch.randn(256, 64))  # no longer a RoPE table: back to the reference path, or the clear error
    assert torch.equal(apply_rope(x, cos, sin), apply_rope(x, cos, sin, impl="reference"))
    with pytest.raises(ValueError, match="cos is not a RoPE table"):
        apply_rope(x, cos, sin, impl="complex")


def test_cache_is_bounded_and_lets_tables_go():
    import gc

    rope_module._TABLE_CACHE.clear()
    x = torch.randn(1, 4, 256, 64)
    kept = [tables(64, 256, seed=i) for i in range(rope_module._TABLE_CACHE_SIZE + 3)]
    for cos, sin in kept:
        apply_rope(x, cos, sin)
    assert len(rope_module._TABLE_CACHE) == rope_module._TABLE_CACHE_SIZE
    del kept, cos, sin
    gc.collect()
    assert len(rope_module._TABLE_CACHE) == 0 and not rope_module._WATCHED


def test_inference_mode_tables_are_not_cached():
    with torch.inference_mode():
        cos, sin = tables(64, 256)
        x = torch.randn(1, 4, 256, 64)
        before = len(rope_module._TABLE_CACHE)
        assert_rotates_like_reference(apply_rope(x, cos, sin), apply_rope(x, cos, sin, impl="reference"), torch.float32)
        assert len(rope_module._TABLE_CACHE) == before


def test_scaled_tables_rotate_and_scale():
    """YaRN multiplies cos and sin by its temperature: the complex table is then not of unit modulus."""
    cos, sin = scaled_rope_3d(64, (8, 4, 6), (4, 4, 6), "yarn")
    x = torch.randn(2, 3, 8 * 4 * 6, 64, dtype=torch.float64)
    table = rope_complex_table(cos, sin)
    assert torch.allclose(table.abs(), table.abs()[0, 0].expand_as(table)) and table.abs()[0, 0] > 1
    ref = apply_rope(x, cos, sin, impl="reference")
    assert_rotates_like_reference(apply_rope_complex(x, table), ref, torch.float64)


# --- gradients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("impl", ["complex", "auto"])
def test_gradcheck(impl, layout):
    x = torch.randn(2, 33, 16, dtype=torch.float64, requires_grad=True)
    cos, sin = tables(16, 33, layout=layout, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: apply_rope(t, cos, sin, layout=layout, impl=impl), (x,))


def test_gradcheck_through_the_complex_table():
    """apply_rope_complex differentiates through x and the table (Wirtinger calculus for the table)."""
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    table = rope_complex_table(*tables(8, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: apply_rope_complex(a, b), (x, table))


@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", ["complex", "auto"])
def test_gradients_equal_reference(impl, dtype, layout):
    n, d = 257, 64  # 4 * 257 * 64 elements: auto takes the complex path
    cos, sin = tables(d, n, layout=layout)
    x = torch.randn(4, n, d).to(dtype)
    grad_out = torch.randn(4, n, d).to(dtype)
    grads = []
    for which in ("reference", impl):
        xi = x.clone().requires_grad_()
        apply_rope(xi, cos, sin, layout=layout, impl=which).backward(grad_out)
        grads.append(xi.grad)
    assert_rotates_like_reference(grads[1], grads[0], dtype)


def test_table_gradients_need_the_reference_path():
    """Pairs share one complex number, so the complex path cannot give each table channel its own gradient."""
    x = torch.randn(2, 300, 64)
    cos, sin = (t.requires_grad_() for t in tables(64, 300))
    with pytest.raises(ValueError, match=r"differentiates through x only.*impl='reference'"):
        apply_rope(x, cos, sin, impl="complex")
    apply_rope(x, cos, sin).sum().backward()  # auto: the reference path, gradients for both tables
    ref_cos = cos.grad.clone()
    cos.grad = None
    apply_rope(x, cos, sin, impl="reference").sum().backward()
    assert torch.equal(cos.grad, ref_cos)
    with torch.no_grad():  # without autograd the tables may require grad
        assert_rotates_like_reference(apply_rope(x, cos, sin, impl="complex"), apply_rope(x, cos, sin), torch.float32)


# --- parity with diffusers -----------------------------------------------------------------------


@settings(max_examples=20)
@given(
    head_dim=st.sampled_from([16, 32, 64, 128]),
    heads=st.integers(1, 4),
    dtype=st.sampled_from([torch.float32, torch.float16, torch.bfloat16]),
    seed=st.integers(0, 2**16),
)
def test_fast_paths_match_diffusers_within_tolerance(diffusers_embeddings, head_dim, heads, dtype, seed):
    n = AUTO_MIN_NUMEL // (2 * heads * head_dim) + 3  # large enough for auto's complex path
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, heads, n, head_dim, generator=g).to(dtype)
    cos, sin = tables(head_dim, n, seed=seed)
    ref = diffusers_embeddings.apply_rotary_emb(x, (cos, sin))
    for impl in ("complex", "auto"):
        assert_rotates_like_reference(apply_rope(x, cos, sin, impl=impl), ref, dtype)
    assert torch.equal(apply_rope(x, cos, sin, impl="reference"), ref)


# --- the compiled path ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch while compiling
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_compiled_path_equals_reference(compiled_available, dtype):
    """One shape per dtype (compilation takes seconds); values and gradients. Timing is never tested."""
    cos, sin = tables(32, 48)
    x = torch.randn(2, 3, 48, 32).to(dtype).requires_grad_()
    out = apply_rope(x, cos, sin, impl="compiled")
    ref = apply_rope(x, cos, sin, impl="reference")
    assert_rotates_like_reference(out, ref, dtype)
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    (ref_grad,) = torch.autograd.grad(ref, x, grad_out)
    assert_rotates_like_reference(grad, ref_grad, dtype)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch while compiling
def test_auto_inside_torch_compile_takes_the_reference_path(compiled_available):
    """A model calling ``apply_rope`` at a size where eager code uses the cached complex table can be
    compiled (the cache's weak references cannot be traced): values and gradients equal eager ones."""
    cos, sin = tables(64, 512)
    x = torch.randn(2, 2, 512, 64, requires_grad=True)
    assert x.numel() >= AUTO_MIN_NUMEL
    compiled = torch.compile(lambda t: apply_rope(t, cos, sin))
    out = compiled(x)
    ref = apply_rope(x, cos, sin, impl="reference")
    assert_rotates_like_reference(out, ref, torch.float32)
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    (ref_grad,) = torch.autograd.grad(ref, x, grad_out)
    assert_rotates_like_reference(grad, ref_grad, torch.float32)


def test_importing_and_using_cogpe_compiles_nothing():
    code = (
        "import sys, torch, cogpe\n"
        "x = torch.randn(2, 4, 300, 64)\n"
        "cogpe.apply_rope(x, *cogpe.rope_3d(64, (1, 1, 300)))\n"
        "assert cogpe.rope._compiled_reference.cache_info().currsize == 0\n"
        "assert 'torch._inductor' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- devices -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("impl", EAGER_IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_meta_device(impl, dtype, layout):
    cos, sin = rope_3d(64, (2, 30, 45), device="meta")
    if layout == "half":
        cos, sin = to_half_layout(cos), to_half_layout(sin)
    x = torch.empty(1, 2, 2700, 64, device="meta", dtype=dtype)
    out = apply_rope(x, cos, sin, layout=layout, impl=impl)
    assert out.device.type == "meta" and out.shape == x.shape and out.dtype == dtype
    table = rope_complex_table(cos, sin, layout=layout)
    assert table.device.type == "meta" and table.shape == (2700, 32) and table.dtype == torch.complex64
    assert apply_rope_complex(x, table, layout=layout).shape == x.shape
    assert RotaryEmbedding3D(64).complex_table((2, 3, 4), device="meta").shape == (24, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("layout", ["interleaved", "half"])
@pytest.mark.parametrize("impl", EAGER_IMPLS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_device(impl, dtype, layout):  # pragma: no cover - runs only where a GPU exists
    cos, sin = tables(64, 1000, layout=layout)
    x = torch.randn(2, 4, 1000, 64).to(dtype)
    ref = apply_rope(x, cos, sin, layout=layout, impl="reference")
    out = apply_rope(x.cuda(), cos.cuda(), sin.cuda(), layout=layout, impl=impl)
    assert out.device.type == "cuda"
    assert_rotates_like_reference(out.cpu(), ref, dtype)
    table = RotaryEmbedding3D(64).complex_table((1, 1, 1000), device="cuda")
    assert table.device.type == "cuda"


# --- complex tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_complex_table_holds_one_unit_number_per_pair(layout):
    cos, sin = tables(16, 9, layout=layout, dtype=torch.float64)
    table = rope_complex_table(cos, sin, layout=layout)
    assert table.shape == (9, 8) and table.dtype == torch.complex128
    first = cos[:, 0::2] if layout == "interleaved" else cos[:, :8]
    assert torch.equal(table.real, first)
    torch.testing.assert_close(table.abs(), torch.ones(9, 8, dtype=torch.float64), rtol=0, atol=1e-15)
    assert rope_complex_table(cos.float(), sin.float(), layout=layout).dtype == torch.complex64


def test_module_complex_table_is_cached_and_keyed():
    rope = RotaryEmbedding3D(64)
    table = rope.complex_table((2, 3, 4))
    assert torch.equal(table, rope_complex_table(*rope_3d(64, (2, 3, 4))))
    assert rope.complex_table((2, 3, 4)) is table  # cached
    assert rope.complex_table((2, 3, 5)).shape == (30, 32)  # new grid: rebuilt
    wide = rope.complex_table((2, 3, 5), dtype=torch.complex128)
    assert wide.dtype == torch.complex128
    torch.testing.assert_close(wide, rope_complex_table(*rope_3d(64, (2, 3, 5), dtype=torch.float64)))
    assert rope.state_dict() == {}  # not a buffer: checkpoints stay resolution-free
    rope.to(torch.float64)  # leaves the complex table alone, no complex-to-real warning
    assert rope.complex_table((2, 3, 5), dtype=torch.complex128) is wide
    yarn = RotaryEmbedding3D(64, strategy="yarn", base_grid=(2, 3, 4))
    torch.testing.assert_close(yarn.complex_table((4, 3, 4)), rope_complex_table(*yarn((4, 3, 4))))


# --- bad input -----------------------------------------------------------------------------------


def _x():
    return torch.zeros(1, 8, 64)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: apply_rope(_x(), *rope_3d(64, (1, 2, 4)), impl="fast"), ValueError,
         r"unknown impl 'fast'; valid: 'auto', 'reference', 'complex', 'compiled'"),
        (lambda: apply_rope(_x(), *rope_3d(64, (1, 2, 4)), impl=None), TypeError, r"impl must be a string"),
        (lambda: apply_rope(torch.zeros(1, 9, 64), *rope_3d(64, (1, 2, 4)), impl="complex"), ValueError,
         r"cos has shape \(8, 64\) but x .* needs \(9, 64\)"),
        (lambda: rope_complex_table(torch.ones(8, 64), torch.ones(8, 62)), ValueError,
         r"cos and sin must both have shape \(N, head_dim\)"),
        (lambda: rope_complex_table(torch.ones(8, 3), torch.ones(8, 3)), ValueError, r"even head_dim"),
        (lambda: rope_complex_table([1.0], torch.ones(8, 4)), TypeError, r"cos must be a floating torch.Tensor"),
        (lambda: rope_complex_table(torch.ones(8, 4), torch.ones(8, 4, dtype=torch.long)), TypeError,
         r"sin must be a floating"),
        (lambda: rope_complex_table(*rope_3d(64, (1, 2, 4)), layout="half"), ValueError,
         r"cos is not a RoPE table in the 'half' layout: channels \(j, j \+ head_dim/2\)"),
        (lambda: apply_rope_complex(_x(), rope_3d(64, (1, 2, 4))[0]), TypeError,
         r"table must be a complex tensor \(N, head_dim/2\) from rope_complex_table"),
        (lambda: apply_rope_complex(_x(), torch.ones(8, 64, dtype=torch.complex64)), ValueError,
         r"table has shape \(8, 64\) but x .* needs \(8, 32\)"),
        (lambda: apply_rope_complex(torch.zeros(8, 63), torch.ones(8, 31, dtype=torch.complex64)), ValueError,
         r"even head_dim"),
        (lambda: apply_rope_complex(torch.zeros(8, 64, dtype=torch.int32), torch.ones(8, 32, dtype=torch.complex64)),
         TypeError, r"x must be a floating"),
        (lambda: RotaryEmbedding3D(64).complex_table((1, 2, 2), dtype=torch.float32), TypeError,
         r"dtype must be torch.complex64 or torch.complex128"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_impls_are_public():
    assert IMPLS == ("auto", "reference", "complex", "compiled")
