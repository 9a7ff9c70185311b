"""RoPE as complex multiplication: the fast path of :func:`cogpe.rope.apply_rope` and its table cache (chapter 8).

Both channels of a RoPE pair hold one angle θ, so a table is one unit complex number ``cos θ + i·sin θ``
per pair, and rotating a pair is one complex multiply (chapter 3, section 3.1). Applying RoPE is
memory-bound, so the point is to read ``x`` once and write the result once:

- :func:`rope_complex_table` converts ``(cos, sin)`` tables to ``(N, head_dim/2)`` complex;
- :func:`apply_rope_complex` rotates by a prebuilt table, with no per-call check or conversion;
- :func:`cached_table` remembers the complex table of the last few ``(cos, sin)`` tensors seen (by
  identity and version counter), so ``apply_rope(impl="auto")`` converts a model's tables once.

This module sits below :mod:`cogpe.rope`, which dispatches to it; it imports nothing of the package
but the argument checks.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
import torch

from ._checks import LAYOUTS, check_choice

__all__ = [
    "AUTO_MIN_NUMEL",
    "apply_rope_complex",
    "auto_table",
    "cached_table",
    "compute_dtype",
    "needs_grad",
    "rope_complex_table",
    "rotate_complex",
    "to_complex_table",
]

#: ``impl="auto"`` keeps the reference arithmetic for tensors smaller than this: there the fixed cost
#: of checking and converting the tables is comparable to the rotation itself.
AUTO_MIN_NUMEL = 1 << 16

# Tokens per block of the CPU low-precision path: about this many elements of x, so that the float32
# scratch (4 bytes each, 4 MiB) stays in cache while it is converted, multiplied and converted back.
_CHUNK_NUMEL = 1 << 20


def rope_complex_table(cos: torch.Tensor, sin: torch.Tensor, *, layout: str = "interleaved") -> torch.Tensor:
    """RoPE tables as unit complex numbers ``cos θ + i·sin θ``: ``(N, head_dim)`` twice -> ``(N, head_dim/2)``.

    Both channels of pair j (``(2j, 2j+1)`` interleaved, ``(j, j + d/2)`` half) hold the same angle, so
    one complex number per pair is the whole table (chapter 3, RoPE as ``q·e^{imθ}``, section 3.1). complex128 for float64
    tables, else complex64. Raises ValueError if the two channels of a pair differ. Pass the result
    to :func:`apply_rope_complex` (chapter 8).

    >>> from cogpe.rope import rope_1d
    >>> cos, sin = rope_1d([0.0, 1.0], 4)
    >>> table = rope_complex_table(cos, sin)     # (N, head_dim/2): one number per pair
    >>> table.shape, table.dtype
    (torch.Size([2, 2]), torch.complex64)
    >>> table[1].angle()                          # position 1: angles θ_j
    tensor([1.0000, 0.0100])
    """
    check_choice("layout", layout, LAYOUTS)
    _check_table_pair(cos, sin)
    real = torch.float64 if torch.float64 in (cos.dtype, sin.dtype) else torch.float32
    return to_complex_table(cos, sin, layout, real)


def apply_rope_complex(x: torch.Tensor, table: torch.Tensor, *, layout: str = "interleaved") -> torch.Tensor:
    """Rotate ``x (..., N, head_dim)`` by a complex table ``(N, head_dim/2)``: pair j times ``table[:, j]``.

    :func:`cogpe.rope.apply_rope`'s fast path without its per-call check and conversion of the tables: build the
    table once with :func:`rope_complex_table` or :meth:`cogpe.embeddings.RotaryEmbedding3D.complex_table`. Math in
    complex64 (complex128 for float64 ``x``); returns ``x``'s dtype and shape; autograd flows to ``x``
    and ``table`` (chapter 8).

    >>> from cogpe.rope import rope_1d
    >>> x = torch.tensor([[1.0, 0.0]])
    >>> cos, sin = rope_1d([torch.pi / 2], 2)     # a quarter turn
    >>> apply_rope_complex(x, rope_complex_table(cos, sin)).round(decimals=6)
    tensor([[0., 1.]])
    """
    check_choice("layout", layout, LAYOUTS)
    _check_complex_table(x, table)
    return rotate_complex(x, table, layout)


def _check_table_pair(cos, sin) -> None:
    for name, t in (("cos", cos), ("sin", sin)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise TypeError(f"{name} must be a floating torch.Tensor (N, head_dim), got {kind}")
    if cos.shape != sin.shape or cos.ndim != 2 or cos.shape[-1] % 2:
        raise ValueError(
            f"cos and sin must both have shape (N, head_dim) with an even head_dim, "
            f"got {tuple(cos.shape)} and {tuple(sin.shape)}"
        )


def _check_complex_table(x, table) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating torch.Tensor (..., N, head_dim), got {kind}")
    if x.ndim < 2 or x.shape[-1] % 2:
        raise ValueError(f"x must have shape (..., N, head_dim) with an even head_dim, got {tuple(x.shape)}")
    n, d = x.shape[-2:]
    if not isinstance(table, torch.Tensor) or not table.is_complex():
        kind = table.dtype if isinstance(table, torch.Tensor) else type(table).__name__
        raise TypeError(f"table must be a complex tensor (N, head_dim/2) from rope_complex_table(cos, sin), got {kind}")
    if tuple(table.shape) != (n, d // 2):
        raise ValueError(
            f"table has shape {tuple(table.shape)} but x (..., N, head_dim) = {tuple(x.shape)} needs ({n}, {d // 2})"
        )


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype RoPE arithmetic runs in for ``x``: float64 for float64 input, else float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def needs_grad(*tensors: torch.Tensor) -> bool:
    """Whether autograd would record an operation on any of ``tensors``."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _pair_halves(t: torch.Tensor, layout: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two channels of every pair as views: ``(..., d) -> (..., d/2), (..., d/2)``."""
    if layout == "interleaved":
        return t[..., 0::2], t[..., 1::2]  # [x0 x1 x2 x3] -> [x0 x2], [x1 x3]
    half = t.shape[-1] // 2
    return t[..., :half], t[..., half:]  # [a0 a1 | b0 b1] -> [a0 a1], [b0 b1]


def _repeats_pairs(t: torch.Tensor, layout: str) -> bool:
    """Whether both channels of every pair hold the same value (as in any RoPE table); True on meta."""
    if t.device.type == "meta":
        return True
    first, second = _pair_halves(t, layout)
    return torch.equal(first, second)


def auto_table(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor | None:
    """The complex table ``impl="auto"`` rotates ``x`` by, or None for the reference path (also while
    ``torch.compile`` traces: the compiler fuses the reference arithmetic, and the cache's weak references
    cannot be traced)."""
    if x.device.type == "meta" or x.numel() < AUTO_MIN_NUMEL or needs_grad(cos, sin):
        return None
    if torch.compiler.is_compiling():
        return None
    return cached_table(cos, sin, layout, compute_dtype(x))


# The complex tables of the last few (cos, sin) pairs, keyed by the tensors' identity: key ->
# (weak refs to cos and sin, their version counters, the table or None if the pairs do not repeat).
# An entry goes when cos or sin is freed, or when more than _TABLE_CACHE_SIZE pairs are newer.
_TABLE_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_TABLE_CACHE_SIZE = 8
_WATCHED: set[tuple] = set()  # keys whose tensors carry a finalizer


def cached_table(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype) -> torch.Tensor | None:
    """``to_complex_table(cos, sin, layout, real)``, or None where a pair's channels differ; remembered
    for the same tensor objects until one is changed in place (its version counter moves) or freed.
    Inference-mode tensors (no version counter) and tables on the meta device are not remembered."""
    if cos.device.type == "meta" or cos.is_inference() or sin.is_inference():
        return _table_or_none(cos, sin, layout, real)
    key = (id(cos), id(sin), layout, real)
    entry = _TABLE_CACHE.get(key)
    if entry is not None:
        cos_ref, sin_ref, versions, table = entry
        if cos_ref() is cos and sin_ref() is sin and versions == (cos._version, sin._version):
            _TABLE_CACHE.move_to_end(key)
            return table
    table = _table_or_none(cos, sin, layout, real)
    _TABLE_CACHE[key] = (weakref.ref(cos), weakref.ref(sin), (cos._version, sin._version), table)
    _TABLE_CACHE.move_to_end(key)
    if key not in _WATCHED:  # one finalizer per key, however often its entry is evicted and re-added
        _WATCHED.add(key)
        for t in (cos, sin):
            weakref.finalize(t, _forget, key)
    while len(_TABLE_CACHE) > _TABLE_CACHE_SIZE:
        _TABLE_CACHE.popitem(last=False)
    return table


def _forget(key) -> None:
    """cos or sin of ``key`` was freed: drop its entry (a new tensor may reuse the id)."""
    _TABLE_CACHE.pop(key, None)
    _WATCHED.discard(key)


def _table_or_none(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype) -> torch.Tensor | None:
    if not (_repeats_pairs(cos, layout) and _repeats_pairs(sin, layout)):
        return None
    return to_complex_table(cos, sin, layout, real)


def to_complex_table(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype) -> torch.Tensor:
    """``(N, d)`` cos, sin -> ``(N, d/2)`` complex ``cos θ + i·sin θ`` with parts in ``real``.

    Trusts its arguments except for the one property it relies on: ValueError where the two channels
    of a pair differ (not a RoPE table in ``layout``)."""
    for name, t in (("cos", cos), ("sin", sin)):
        if not _repeats_pairs(t, layout):
            pairs = "(2j, 2j+1)" if layout == "interleaved" else "(j, j + head_dim/2)"
            raise ValueError(
                f"{name} is not a RoPE table in the {layout!r} layout: channels {pairs} of a pair differ, "
                "so no single angle rotates the pair; build tables with rope_1d/rope_3d (to_half_layout for "
                "'half'), or use impl='reference' for arbitrary tables"
            )
    c, s = _pair_halves(cos, layout)[0], _pair_halves(sin, layout)[0]  # (N, d/2) each
    return torch.complex(c.to(real), s.to(real))


def rotate_complex(x: torch.Tensor, table: torch.Tensor, layout: str) -> torch.Tensor:
    """``x (..., N, d)`` times ``table (N, d/2)`` pair by pair, in complex64 (complex128 for float64 x)."""
    table = table.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)
    low_precision = x.dtype not in (torch.float32, torch.float64)
    if x.device.type == "cpu" and (low_precision or layout == "half") and not needs_grad(x, table):
        return _rotate_blocks(x, table, layout)
    if layout == "interleaved":
        xc = _complex_pairs(x.to(compute_dtype(x)))  # (..., N, d/2): x0 + i·x1, x2 + i·x3, …
        return torch.view_as_real(xc * table).flatten(-2).to(x.dtype)  # (..., N, d/2, 2) -> (..., N, d)
    a, b = _pair_halves(x.to(compute_dtype(x)), "half")
    y = torch.complex(a, b) * table  # (..., N, d/2): (a + i·b)·(cos θ + i·sin θ)
    return torch.cat((y.real, y.imag), dim=-1).to(x.dtype)  # [a' | b']


def _complex_pairs(x: torch.Tensor) -> torch.Tensor:
    """A complex view of interleaved pairs, ``(..., d) -> (..., d/2)``; copies only if strides forbid a view."""
    pairs = x.unflatten(-1, (-1, 2))  # (..., d/2, 2)
    if pairs.stride(-1) != 1 or pairs.storage_offset() % 2 or any(s % 2 for s in pairs.stride()[:-1]):
        pairs = pairs.clone(memory_format=torch.contiguous_format)
    return torch.view_as_complex(pairs)


def _rotate_blocks(x: torch.Tensor, table: torch.Tensor, layout: str) -> torch.Tensor:
    """CPU without autograd: rotate blocks of tokens through a complex scratch that stays in cache.

    Converting x to float32, multiplying and converting back would each stream the whole tensor
    through memory; done block by block (about :data:`_CHUNK_NUMEL` elements of x), x is read once
    and the output written once. ``(..., N, d) -> (..., N, d)``, contiguous.
    """
    n, d = x.shape[-2:]
    rows = max(1, _CHUNK_NUMEL // max(x.numel() // max(n, 1), 1))  # tokens per block, over all leading dims
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device)
    scratch = torch.empty((*x.shape[:-2], min(rows, n), d // 2), dtype=table.dtype, device=x.device)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        block = scratch[..., : stop - start, :]  # (..., rows, d/2) complex
        pairs = torch.view_as_real(block)  # (..., rows, d/2, 2): real, imaginary
        _copy_pairs(pairs, x[..., start:stop, :], layout, load=True)
        block.mul_(table[start:stop])
        _copy_pairs(pairs, out[..., start:stop, :], layout, load=False)
    return out


def _copy_pairs(pairs: torch.Tensor, t: torch.Tensor, layout: str, *, load: bool) -> None:
    """Between ``pairs (..., d/2, 2)`` and ``t (..., d)`` in ``layout``: ``t -> pairs`` if ``load``, else back."""
    if layout == "interleaved":
        views = [(pairs.flatten(-2), t)]  # [x0 x1 x2 x3] is already (re, im, re, im)
    else:
        a, b = _pair_halves(t, "half")
        views = [(pairs[..., 0], a), (pairs[..., 1], b)]  # re <- a, im <- b
    for p, v in views:
        if load:
            p.copy_(v)
        else:
            v.copy_(p)
