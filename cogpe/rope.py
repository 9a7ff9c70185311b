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
(``impl="reference"``) or, by default on large inputs, as one complex multiply per pair through
:mod:`cogpe.rope_complex` — the same rotation up to float32 rounding, one pass over ``x``. Tables for
a new grid under a named strategy are :mod:`cogpe.strategy`'s; the cached module is
:class:`cogpe.embeddings.RotaryEmbedding3D`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import torch

from . import rope_complex
from ._checks import LAYOUTS, check_choice, check_dim, check_factor, check_positions, check_split
from .grids import positions_3d

__all__ = [
    "IMPLS",
    "LAYOUTS",
    "apply_rope",
    "default_split",
    "layout_permutation",
    "rope_1d",
    "rope_3d",
    "rope_frequencies",
    "rotate_halves",
    "rotate_pairs",
    "to_half_layout",
    "to_interleaved_layout",
]

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
    ``(T,), (H,), (W,)`` — replaces them (:func:`cogpe.grids.positions_3d`), ``freqs`` — three tensors
    of half the split sizes — the per-axis frequencies (both used by :mod:`cogpe.strategy`).
    Positions are float64 unless given; angles are computed in float64 (``freqs_dtype``), the tables
    returned in ``dtype``. Text tokens get no rotation: apply the table to the video tokens only.

    >>> cos, sin = rope_3d(64, (13, 30, 45))   # CogVideoX-5B at 49 x 480 x 720
    >>> cos.shape
    torch.Size([17550, 64])
    """
    split = default_split(head_dim) if split is None else check_split("split", split, head_dim, "head_dim")
    positions = positions_3d(grid, interpolation, positions, device=device)
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
    - ``"complex"`` — one complex multiply by :func:`cogpe.rope_complex.rope_complex_table` (``cos θ + i·sin θ``, one
      number per pair). It needs tables whose pairs hold one angle, as every RoPE table does
      (ValueError otherwise), and differentiates through ``x`` only. It may differ from the reference
      by float32 rounding (a complex multiply may fuse ``a·c − b·d`` into one multiply-add): below
      ``eps·max|x|`` where measured; the tests allow ``4·eps`` relative and ``4·eps·max|x|`` absolute;
    - ``"compiled"`` — the reference expression through ``torch.compile`` (compiled on first use,
      never at import; on CPU it needs a C++ compiler);
    - ``"auto"`` (default) — ``"complex"`` when ``x`` has at least
      :data:`cogpe.rope_complex.AUTO_MIN_NUMEL` elements,
      no table requires grad and the tables' pairs repeat, else ``"reference"``. Never ``"compiled"``;
      inside code that ``torch.compile`` traces it is ``"reference"``, which the compiler fuses (the
      complex path cannot be traced there).

    The check and the complex table are kept for the last few ``(cos, sin)`` tensors seen (by
    identity; a table changed in place is checked again), so a model that applies the same tables to
    q and k in every layer converts them once, not per call.
    :func:`cogpe.rope_complex.apply_rope_complex` takes a prebuilt table and skips even the lookup.

    >>> x = torch.tensor([[1.0, 0.0]])            # one token, one pair
    >>> cos, sin = rope_1d([torch.pi / 2], 2)     # a quarter turn
    >>> apply_rope(x, cos, sin).round(decimals=6)
    tensor([[0., 1.]])
    """
    check_choice("layout", layout, LAYOUTS)
    check_choice("impl", impl, IMPLS)
    _check_tables(x, cos, sin)
    if impl == "compiled":
        return _compiled_reference()(x, cos, sin, layout)
    table = None  # (N, head_dim/2) complex, or None for the reference arithmetic
    if impl == "complex":
        table = _complex_table_of(x, cos, sin, layout)
    elif impl == "auto":
        table = rope_complex.auto_table(x, cos, sin, layout)
    if table is None:
        return _rotate_reference(x, cos, sin, layout)
    return rope_complex.rotate_complex(x, table, layout)

IMPLS = ("auto", "reference", "complex", "compiled")


def _complex_table_of(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor:
    """``impl="complex"``: the (cached) complex table of ``(cos, sin)``; ValueError for tables it cannot take."""
    if rope_complex.needs_grad(cos, sin):
        raise ValueError(
            "impl='complex' differentiates through x only, but cos or sin requires grad; "
            "use impl='reference' to differentiate through the tables"
        )
    real = rope_complex.compute_dtype(x)
    table = rope_complex.cached_table(cos, sin, layout, real)
    # None: a pair's channels differ; converting raises the error that names the table.
    return table if table is not None else rope_complex.to_complex_table(cos, sin, layout, real)


def _rotate_reference(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor:
    """The defining expression ``x·cos + rot(x)·sin`` (chapter 3, section 3.2), in float32 (float64 for float64 x)."""
    compute = rope_complex.compute_dtype(x)
    rotate = rotate_pairs if layout == "interleaved" else rotate_halves
    xc = x.to(compute)
    out = xc * cos.to(compute) + rotate(xc) * sin.to(compute)
    return out.to(x.dtype)


@functools.lru_cache(maxsize=None)
def _compiled_reference():
    """:func:`_rotate_reference` through ``torch.compile``; created on first use, compiled on first call."""
    return torch.compile(_rotate_reference)


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
