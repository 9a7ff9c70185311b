"""Rotary position encodings: 1-D, CogVideoX's 3-D table, applying it, and its two layouts (chapter 3).

RoPE rotates each pair of channels of q and k by an angle ``p·θ_j`` (position p, frequency
``θ_j = theta**(-2j/d)``), so that ``⟨R(m)q, R(n)k⟩`` depends on ``m - n`` only (chapter 3, section 3.3).

Layouts — which channels form a pair:

- ``"interleaved"`` (RoFormer, CogVideoX SAT and diffusers): pairs ``(2j, 2j+1)``; tables repeat each
  angle twice, ``(θ0, θ0, θ1, θ1, …)``; rotation ``[x0 x1 x2 x3] -> [-x1 x0 -x3 x2]``;
- ``"half"`` (GPT-NeoX, LLaMA): pairs ``(j, j + d/2)``; tables ``(θ0, θ1, …, θ0, θ1, …)``;
  rotation ``[a | b] -> [-b | a]``.

They are the same operator up to the fixed channel permutation :func:`layout_permutation`, applied to
q, k *and* the cos/sin tables together; mixing them silently changes the model.

The 3-D table (CogVideoX-5B) splits the head dimension ``[t (hd/4) | h (3hd/8) | w (3hd/8)]`` — 16/24/24
for head_dim 64 — and flattens tokens ``(t, h, w)`` row-major to ``(T*H*W, head_dim)``.

Applying it is memory-bound (chapter 8): :func:`apply_rope` computes ``x·cos + rot(x)·sin`` term by term
(``impl="reference"``) or, by default on large inputs, as one complex multiply per pair by
:func:`rope_complex_table` — the same rotation up to float32 rounding, one pass over ``x``.
"""

from __future__ import annotations

import functools
import weakref
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from ._checks import (
    check_choice,
    check_dim,
    check_factor,
    check_factors,
    check_grid,
    check_positions,
    check_split,
)
from .grids import grid_positions

__all__ = [
    "AUTO_MIN_NUMEL",
    "IMPLS",
    "LAYOUTS",
    "RotaryEmbedding3D",
    "apply_rope",
    "apply_rope_complex",
    "default_split",
    "layout_permutation",
    "rope_1d",
    "rope_3d",
    "rope_complex_table",
    "rope_frequencies",
    "rotate_halves",
    "rotate_pairs",
    "to_half_layout",
    "to_interleaved_layout",
]

LAYOUTS = ("interleaved", "half")
_FREQ_DTYPES = (torch.float64, torch.float32)


def rope_frequencies(
    dim: int, theta: float = 10000.0, *, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """Rotation frequencies ``θ_j = theta**(-2j/dim)``, j = 0 … dim/2-1: shape ``(dim // 2,)`` (chapter 3, section 3.1).

    Computed as ``1 / theta**(arange(0, dim, 2) / dim)`` in ``dtype`` (float64 by default; float32
    reproduces SAT and diffusers bit for bit).

    >>> rope_frequencies(16)[:3]
    tensor([1.0000, 0.3162, 0.1000], dtype=torch.float64)
    """
    dim = check_dim("dim", dim, multiple=2, why="must be even: channels rotate in pairs")
    theta = check_factor("theta", theta)
    if dtype not in _FREQ_DTYPES:
        raise TypeError(f"dtype={dtype} is too coarse for frequencies; use torch.float64 or torch.float32")
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=dtype, device=device) / dim))


def _angles(positions: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Angles ``p·θ_j``: ``(n,) x (d/2,) -> (n, d/2)``, in the wider of the two dtypes."""
    dtype = torch.promote_types(positions.dtype, freqs.dtype)
    return torch.outer(positions.to(dtype), freqs.to(device=positions.device, dtype=dtype))


def rope_1d(
    positions,
    dim: int,
    theta: float = 10000.0,
    *,
    freqs: torch.Tensor | None = None,
    freqs_dtype: torch.dtype = torch.float64,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D RoPE tables ``(cos, sin)``, each ``(n, dim)`` in the interleaved layout ``(θ0, θ0, θ1, θ1, …)``.

    ``positions`` is ``(n,)`` (any reals: index division and crops give fractional ones); ``freqs``
    ``(dim/2,)`` overrides :func:`rope_frequencies` (how scaling strategies change them, chapter 6).
    Angles are computed in the wider of the positions' and frequencies' dtypes, then cast to ``dtype``.

    >>> cos, sin = rope_1d([0.0, 1.0], 4)
    >>> cos
    tensor([[1.0000, 1.0000, 1.0000, 1.0000],
            [0.5403, 0.5403, 0.9999, 0.9999]])
    """
    dim = check_dim("dim", dim, multiple=2, why="must be even: channels rotate in pairs")
    positions = check_positions("positions", positions)
    if freqs is None:
        freqs = rope_frequencies(dim, theta, dtype=freqs_dtype, device=positions.device)
    elif tuple(freqs.shape) != (dim // 2,):
        raise ValueError(f"freqs must have shape ({dim // 2},) for dim={dim}, got {tuple(freqs.shape)}")
    angles = _angles(positions, freqs)  # (n, dim/2)
    cos = angles.cos().repeat_interleave(2, dim=-1).to(dtype)  # (n, dim): θ0 θ0 θ1 θ1 …
    sin = angles.sin().repeat_interleave(2, dim=-1).to(dtype)
    return cos, sin


def default_split(head_dim: int) -> tuple[int, int, int]:
    """CogVideoX's channel split ``(t, h, w) = (hd/4, 3hd/8, 3hd/8)``: (16, 24, 24) for head_dim 64.

    >>> default_split(64)
    (16, 24, 24)
    """
    head_dim = check_dim(
        "head_dim",
        head_dim,
        multiple=16,
        why=(
            "cannot split into t/h/w = 1/4, 3/8, 3/8 with an even number of channels per axis "
            "(pass split=(t, h, w) for another split)"
        ),
    )
    return head_dim // 4, head_dim // 8 * 3, head_dim // 8 * 3


def rope_3d(
    head_dim: int,
    grid=None,
    interpolation=(1.0, 1.0, 1.0),
    theta: float = 10000.0,
    *,
    positions: Sequence[torch.Tensor] | None = None,
    freqs: Sequence[torch.Tensor] | None = None,
    split: Sequence[int] | None = None,
    freqs_dtype: torch.dtype = torch.float64,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CogVideoX-5B's 3-D RoPE tables ``(cos, sin)``, each ``(T*H*W, head_dim)`` (chapter 3, section 3.6).

    Channels ``[t (hd/4) | h (3hd/8) | w (3hd/8)]`` (``split`` overrides), each block interleaved
    ``(θ0, θ0, θ1, θ1, …)``; rows are tokens ``(t, h, w)`` row-major. Positions per axis are
    ``arange(n) / interpolation[axis]`` for ``grid = (T, H, W)``; ``positions`` — three 1-D tensors
    ``(T,), (H,), (W,)`` — overrides grid and interpolation, ``freqs`` — three tensors of half the
    split sizes — overrides the per-axis frequencies (both used by :mod:`cogpe.scaling`).
    Positions are float64 unless given; angles are computed in float64 (``freqs_dtype``), the tables
    returned in ``dtype``. Text tokens get no rotation: apply the table to the video tokens only.

    >>> cos, sin = rope_3d(64, (13, 30, 45))   # CogVideoX-5B at 49 x 480 x 720
    >>> cos.shape
    torch.Size([17550, 64])
    """
    split = default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")
    positions = _axis_positions(grid, interpolation, positions, device)
    if freqs is None:
        freqs = [rope_frequencies(d, theta, dtype=freqs_dtype, device=device) for d in split]
    else:
        freqs = _check_axis_freqs(freqs, split)
    cos_parts, sin_parts = [], []
    for p, f in zip(positions, freqs):
        angles = _angles(p, f)  # (n_axis, d_axis/2)
        cos_parts.append(angles.cos().repeat_interleave(2, dim=-1).to(dtype))  # (n_axis, d_axis)
        sin_parts.append(angles.sin().repeat_interleave(2, dim=-1).to(dtype))
    return _broadcast_3d(cos_parts), _broadcast_3d(sin_parts)


def _axis_positions(grid, interpolation, positions, device) -> tuple[torch.Tensor, ...]:
    if positions is None:
        if grid is None:
            raise TypeError("rope_3d needs grid=(T, H, W) or positions=(t, h, w)")
        return grid_positions(grid, interpolation, device=device)
    if isinstance(positions, torch.Tensor) or len(positions) != 3:
        raise TypeError("positions must be three 1-D tensors (t, h, w)")
    positions = tuple(check_positions(f"positions[{i}] ({a})", p, device) for i, (a, p) in enumerate(zip("thw", positions)))
    if grid is not None:
        grid = check_grid("grid", grid, 3)
        lengths = tuple(len(p) for p in positions)
        if lengths != grid:
            raise ValueError(f"grid={grid} does not match the lengths of positions {lengths}")
    if tuple(interpolation) != (1.0, 1.0, 1.0):
        check_factors("interpolation", interpolation, 3)
        raise ValueError("pass either positions or interpolation, not both (positions already include it)")
    return positions


def _check_axis_freqs(freqs, split) -> list[torch.Tensor]:
    if isinstance(freqs, torch.Tensor) or len(freqs) != 3:
        raise TypeError("freqs must be three 1-D tensors (t, h, w)")
    out = []
    for axis, f, d in zip("thw", freqs, split):
        if not isinstance(f, torch.Tensor) or tuple(f.shape) != (d // 2,):
            shape = tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
            raise ValueError(f"freqs for axis {axis} must have shape ({d // 2},) for split {split}, got {shape}")
        out.append(f)
    return out


def _broadcast_3d(parts: list[torch.Tensor]) -> torch.Tensor:
    """``(T, dt), (H, dh), (W, dw) -> (T*H*W, dt+dh+dw)``, tokens (t, h, w) row-major."""
    (t, dt), (h, dh), (w, dw) = (p.shape for p in parts)
    table = torch.cat(
        [
            parts[0][:, None, None, :].expand(t, h, w, dt),
            parts[1][None, :, None, :].expand(t, h, w, dh),
            parts[2][None, None, :, :].expand(t, h, w, dw),
        ],
        dim=-1,
    )  # (T, H, W, hd)
    return table.reshape(t * h * w, dt + dh + dw)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """Interleaved quarter turn: ``[x0 x1 x2 x3] -> [-x1 x0 -x3 x2]`` along the last axis (shape kept)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)  # (..., d/2) each
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def rotate_halves(x: torch.Tensor) -> torch.Tensor:
    """Half-split quarter turn: ``[a | b] -> [-b | a]`` along the last axis (shape kept)."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def _check_tables(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> None:
    for name, t in (("x", x), ("cos", cos), ("sin", sin)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., N, head_dim), got {tuple(x.shape)}")
    n, d = x.shape[-2:]
    if d % 2:
        raise ValueError(f"x has head_dim={d}; RoPE needs an even head_dim (channels rotate in pairs)")
    for name, t in (("cos", cos), ("sin", sin)):
        if tuple(t.shape) == (n, d):
            continue
        hint = ""
        if t.ndim == 2 and t.shape[1] == d and t.shape[0] < n:
            hint = (
                f"; x has {n - t.shape[0]} more tokens than the table — if x includes text tokens, "
                f"rotate only the video tokens, e.g. x[..., {n - t.shape[0]}:, :]"
            )
        raise ValueError(
            f"{name} has shape {tuple(t.shape)} but x (..., N, head_dim) = {tuple(x.shape)} needs ({n}, {d}){hint}"
        )


def apply_rope(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    *,
    layout: str = "interleaved",
    impl: str = "auto",
) -> torch.Tensor:
    """Rotate ``x (..., N, head_dim)`` by tables ``cos, sin (N, head_dim)``: ``x·cos + rot(x)·sin``.

    ``layout="interleaved"`` pairs channels ``(2j, 2j+1)`` (CogVideoX, equals diffusers
    ``apply_rotary_emb(x, (cos, sin))``), ``"half"`` pairs ``(j, j + d/2)``. The arithmetic runs in
    float32 (float64 for float64 input); the result has ``x``'s dtype and shape (chapter 3, section 3.2).

    ``impl`` chooses how it is computed (chapter 8); all of them rotate alike and differentiate through ``x``:

    - ``"reference"`` — the expression above, term by term: bit-identical to diffusers (which computes
      in float32 also for float64 input);
    - ``"complex"`` — one complex multiply by :func:`rope_complex_table` (``cos θ + i·sin θ``, one
      number per pair). It needs tables whose pairs hold one angle, as every RoPE table does
      (ValueError otherwise), and differentiates through ``x`` only. It may differ from the reference
      by float32 rounding (a complex multiply may fuse ``a·c − b·d`` into one multiply-add): below
      ``eps·max|x|`` where measured; the tests allow ``4·eps`` relative and ``4·eps·max|x|`` absolute;
    - ``"compiled"`` — the reference expression through ``torch.compile`` (compiled on first use,
      never at import; on CPU it needs a C++ compiler);
    - ``"auto"`` (default) — ``"complex"`` when ``x`` has at least :data:`AUTO_MIN_NUMEL` elements,
      no table requires grad and the tables' pairs repeat, else ``"reference"``. Never ``"compiled"``.

    The check and the complex table are kept for the last few ``(cos, sin)`` tensors seen (by
    identity; a table changed in place is checked again), so a model that applies the same tables to
    q and k in every layer converts them once, not per call. :func:`apply_rope_complex` takes a
    prebuilt table and skips even the lookup.

    >>> x = torch.tensor([[1.0, 0.0]])            # one token, one pair
    >>> cos, sin = rope_1d([torch.pi / 2], 2)     # a quarter turn
    >>> apply_rope(x, cos, sin).round(decimals=6)
    tensor([[0., 1.]])
    """
    check_choice("layout", layout, LAYOUTS)
    check_choice("impl", impl, IMPLS)
    _check_tables(x, cos, sin)
    if impl == "auto":
        table = _auto_table(x, cos, sin, layout)
        if table is None:
            return _rotate_reference(x, cos, sin, layout)
        return _rotate_complex(x, table, layout)
    if impl == "reference":
        return _rotate_reference(x, cos, sin, layout)
    if impl == "compiled":
        return _compiled_reference()(x, cos, sin, layout)
    if _needs_grad(cos, sin):
        raise ValueError(
            "impl='complex' differentiates through x only, but cos or sin requires grad; "
            "use impl='reference' to differentiate through the tables"
        )
    table = _cached_complex_table(cos, sin, layout, _compute_dtype(x))
    if table is None:
        _complex_table(cos, sin, layout, _compute_dtype(x))  # raises the error that names the table
    return _rotate_complex(x, table, layout)


def rope_complex_table(cos: torch.Tensor, sin: torch.Tensor, *, layout: str = "interleaved") -> torch.Tensor:
    """RoPE tables as unit complex numbers ``cos θ + i·sin θ``: ``(N, head_dim)`` twice -> ``(N, head_dim/2)``.

    Both channels of pair j (``(2j, 2j+1)`` interleaved, ``(j, j + d/2)`` half) hold the same angle, so
    one complex number per pair is the whole table (chapter 3, RoPE as ``q·e^{imθ}``, section 3.1). complex128 for float64
    tables, else complex64. Raises ValueError if the two channels of a pair differ. Pass the result
    to :func:`apply_rope_complex` (chapter 8).

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
    return _complex_table(cos, sin, layout, real)


def apply_rope_complex(x: torch.Tensor, table: torch.Tensor, *, layout: str = "interleaved") -> torch.Tensor:
    """Rotate ``x (..., N, head_dim)`` by a complex table ``(N, head_dim/2)``: pair j times ``table[:, j]``.

    :func:`apply_rope`'s fast path without its per-call check and conversion of the tables: build the
    table once with :func:`rope_complex_table` or :meth:`RotaryEmbedding3D.complex_table`. Math in
    complex64 (complex128 for float64 ``x``); returns ``x``'s dtype and shape; autograd flows to ``x``
    and ``table`` (chapter 8).

    >>> x = torch.tensor([[1.0, 0.0]])
    >>> cos, sin = rope_1d([torch.pi / 2], 2)     # a quarter turn
    >>> apply_rope_complex(x, rope_complex_table(cos, sin)).round(decimals=6)
    tensor([[0., 1.]])
    """
    check_choice("layout", layout, LAYOUTS)
    _check_complex_table(x, table)
    return _rotate_complex(x, table, layout)


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


# --- how apply_rope computes (chapter 8) ---------------------------------------------------------

IMPLS = ("auto", "reference", "complex", "compiled")

#: ``impl="auto"`` keeps the reference arithmetic for tensors smaller than this: there the fixed cost
#: of checking and converting the tables is comparable to the rotation itself.
AUTO_MIN_NUMEL = 1 << 16

# Tokens per block of the CPU low-precision path: about this many elements of x, so that the float32
# scratch (4 bytes each, 4 MiB) stays in cache while it is converted, multiplied and converted back.
_CHUNK_NUMEL = 1 << 20


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _needs_grad(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _rotate_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor:
    """The defining expression ``x·cos + rot(x)·sin`` (chapter 3, section 3.2), in float32 (float64 for float64 x)."""
    compute = _compute_dtype(x)
    rotate = rotate_pairs if layout == "interleaved" else rotate_halves
    xc = x.to(compute)
    out = xc * cos.to(compute) + rotate(xc) * sin.to(compute)
    return out.to(x.dtype)


@functools.lru_cache(maxsize=None)
def _compiled_reference():
    """:func:`_rotate_reference` through ``torch.compile``; created on first use, compiled on first call."""
    return torch.compile(_rotate_reference)


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


def _auto_table(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor | None:
    """The complex table ``impl="auto"`` rotates ``x`` by, or None for the reference path."""
    if x.device.type == "meta" or x.numel() < AUTO_MIN_NUMEL or _needs_grad(cos, sin):
        return None
    return _cached_complex_table(cos, sin, layout, _compute_dtype(x))


# The complex tables of the last few (cos, sin) pairs, keyed by the tensors' identity: key ->
# (weak refs to cos and sin, their version counters, the table or None if the pairs do not repeat).
# An entry goes when cos or sin is freed, or when more than _TABLE_CACHE_SIZE pairs are newer.
_TABLE_CACHE: OrderedDict = OrderedDict()
_TABLE_CACHE_SIZE = 8
_WATCHED: set = set()  # keys whose tensors carry a finalizer


def _cached_complex_table(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype):
    """``_complex_table(cos, sin, layout, real)``, or None where a pair's channels differ; remembered
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


def _table_or_none(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype):
    if not (_repeats_pairs(cos, layout) and _repeats_pairs(sin, layout)):
        return None
    return _complex_table(cos, sin, layout, real)


def _complex_table(cos: torch.Tensor, sin: torch.Tensor, layout: str, real: torch.dtype) -> torch.Tensor:
    """``(N, d)`` cos, sin -> ``(N, d/2)`` complex ``cos θ + i·sin θ`` with parts in ``real``."""
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


def _rotate_complex(x: torch.Tensor, table: torch.Tensor, layout: str) -> torch.Tensor:
    """``x (..., N, d)`` times ``table (N, d/2)`` pair by pair, in complex64 (complex128 for float64 x)."""
    table = table.to(torch.complex128 if x.dtype == torch.float64 else torch.complex64)
    low_precision = x.dtype not in (torch.float32, torch.float64)
    if x.device.type == "cpu" and (low_precision or layout == "half") and not _needs_grad(x, table):
        return _rotate_blocks(x, table, layout)
    if layout == "interleaved":
        xc = _complex_pairs(x.to(_compute_dtype(x)))  # (..., N, d/2): x0 + i·x1, x2 + i·x3, …
        return torch.view_as_real(xc * table).flatten(-2).to(x.dtype)  # (..., N, d/2, 2) -> (..., N, d)
    a, b = _pair_halves(x.to(_compute_dtype(x)), "half")
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


def layout_permutation(dim: int, *, device=None) -> torch.Tensor:
    """Channel order taking the interleaved layout to the half layout: ``(dim,)`` long tensor.

    ``x_half = x_interleaved[..., perm]`` with ``perm = [0, 2, 4, …, 1, 3, 5, …]``: pair ``(2j, 2j+1)``
    becomes ``(j, j + dim/2)``. Apply it to x and to the cos/sin tables alike (chapter 3, section 3.5).

    >>> layout_permutation(6)
    tensor([0, 2, 4, 1, 3, 5])
    """
    dim = check_dim("dim", dim, multiple=2, why="must be even: channels rotate in pairs")
    return torch.cat([torch.arange(0, dim, 2, device=device), torch.arange(1, dim, 2, device=device)])


def to_half_layout(x: torch.Tensor) -> torch.Tensor:
    """Reorder the last axis from interleaved to half layout (q, k, cos or sin alike); shape kept."""
    return x[..., layout_permutation(x.shape[-1], device=x.device)]


def to_interleaved_layout(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_half_layout`: ``[a0 a1 … | b0 b1 …] -> [a0 b0 a1 b1 …]``; shape kept."""
    perm = layout_permutation(x.shape[-1], device=x.device)
    return x[..., torch.argsort(perm)]


def _resolve(device: torch.device) -> torch.device:
    """``cuda`` -> ``cuda:<current>``, so a cached table on ``cuda:0`` matches a request for ``cuda``."""
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class RotaryEmbedding3D(nn.Module):
    """3-D RoPE as a module: returns ``(cos, sin)``, each ``(T*H*W, head_dim)``, for any grid.

    Tables live in non-persistent buffers, so a checkpoint never fixes a resolution; they are rebuilt
    when any argument changes — grid, base grid, strategy, device or dtype — and reused otherwise
    (the cache key holds every argument). ``strategy`` chooses how positions and frequencies move
    when the grid differs from ``base_grid`` (see :mod:`cogpe.scaling`); ``"extrapolate"`` with no
    base grid is CogVideoX-5B's plain ``arange``.

    >>> rope = RotaryEmbedding3D(64)
    >>> cos, sin = rope((13, 30, 45))
    >>> cos.shape, rope((13, 30, 45))[0] is cos     # second call: cached
    (torch.Size([17550, 64]), True)
    """

    def __init__(
        self,
        head_dim: int,
        theta: float = 10000.0,
        *,
        split: Sequence[int] | None = None,
        strategy: str = "extrapolate",
        base_grid=None,
        **strategy_options,
    ):
        super().__init__()
        self.split = (
            default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")
        )
        self.head_dim = head_dim
        self.theta = check_factor("theta", theta)
        self.strategy = strategy
        self.base_grid = None if base_grid is None else check_grid("base_grid", base_grid, 3)
        self.strategy_options = dict(strategy_options)
        self._key = None
        self._complex_key, self._complex = None, None  # complex_table's cache (not a buffer)
        # Follows .to()/.cuda() like any buffer: the default device of the tables.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        self.register_buffer("cos", torch.empty(0), persistent=False)
        self.register_buffer("sin", torch.empty(0), persistent=False)
        self._build_tables((1, 1, 1), torch.device("cpu"), torch.float32)  # validates strategy + options

    def extra_repr(self) -> str:
        return (
            f"head_dim={self.head_dim}, split={self.split}, theta={self.theta}, "
            f"strategy={self.strategy!r}, base_grid={self.base_grid}"
        )

    def _build_tables(self, grid, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        # Imported here: cogpe.scaling builds on this module's functions.
        from .scaling import scaled_rope_3d

        base = self.base_grid if self.base_grid is not None else grid
        return scaled_rope_3d(
            self.head_dim,
            grid,
            base,
            self.strategy,
            self.theta,
            split=self.split,
            dtype=dtype,
            device=device,
            **self.strategy_options,
        )

    def _table_key(self, grid, device, dtype) -> tuple:
        return (grid, self.base_grid, self.strategy, tuple(sorted(self.strategy_options.items())),
                self.theta, self.split, device, dtype)

    def _device(self, device) -> torch.device:
        return _resolve(torch.device(device)) if device is not None else self._anchor.device

    def forward(self, grid, *, device=None, dtype: torch.dtype | None = None):
        """Tables for ``grid = (T, H, W)``: ``(cos, sin)``, each ``(T*H*W, head_dim)`` on ``device`` in ``dtype``.

        ``device`` defaults to the module's device (where ``.to()`` put it), ``dtype`` to float32.
        """
        grid = check_grid("grid", grid, 3)
        device = self._device(device)
        dtype = dtype or torch.float32
        key = self._table_key(grid, device, dtype)
        # .to() may have moved or cast the cached tables: compare what they are, not only the key.
        if key != self._key or self.cos.device != device or self.cos.dtype != dtype:
            self.cos, self.sin = self._build_tables(grid, device, dtype)
            self._key = key
        return self.cos, self.sin

    def complex_table(self, grid, *, device=None, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """Tables for ``grid`` as one complex tensor ``cos θ + i·sin θ``: ``(T*H*W, head_dim/2)``, cached.

        For :func:`apply_rope_complex` — the rotation then costs one complex multiply and no per-call
        conversion (chapter 8). ``dtype`` is complex64 (parts in float32) or complex128. Cached like
        :meth:`forward`, keyed on every argument, in a plain attribute rather than a buffer: ``.to()``
        leaves it alone and the next call for the new device rebuilds it.

        >>> rope = RotaryEmbedding3D(64)
        >>> table = rope.complex_table((13, 30, 45))
        >>> table.shape, table.dtype, rope.complex_table((13, 30, 45)) is table
        (torch.Size([17550, 32]), torch.complex64, True)
        """
        if dtype not in (torch.complex64, torch.complex128):
            raise TypeError(f"dtype must be torch.complex64 or torch.complex128, got {dtype}")
        grid = check_grid("grid", grid, 3)
        device = self._device(device)
        key = self._table_key(grid, device, dtype)
        if key != self._complex_key:
            real = torch.float64 if dtype == torch.complex128 else torch.float32
            cos, sin = self._build_tables(grid, device, real)
            self._complex = _complex_table(cos, sin, "interleaved", real)
            self._complex_key = key
        return self._complex
