"""Per-axis position vectors and CogVideoX's latent geometry (chapters 1, 5 and 6).

A position encoding never sees pixels: it sees one position per token along each axis. Every scheme
in the book differs only in *which* positions it hands to the encoder:

- :func:`arange_positions` — ``0, 1, …, n-1``: extrapolation, the range grows with the grid;
- :func:`divided_positions` — ``arange(n)/s``: index division, CogVideoX-2B's ``/1.875``
  (interpolation, chapter 5);
- :func:`linspace_positions` — ``n`` points on ``[start, stop)`` (numpy ``endpoint=False``): the
  diffusers 1.0 RoPE path inside a crop region; :func:`diffusers_linspace_positions` is what
  diffusers ≥ 0.32 really computes (it differs when ``start != 0``);
- :func:`slice_positions` — a prefix of a fixed ``arange`` table (CogVideoX 1.5);
- :func:`crop_region` — the aspect-preserving, centred box diffusers fits a grid into.

Positions are computed in float64 by default: low precision is applied, if at all, only to the final
table.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch.types import Device

from ._checks import (
    POSITION_DTYPES,
    check_choice,
    check_factor,
    check_factors,
    check_grid,
    check_positions,
    check_size,
)

__all__ = [
    "arange_positions",
    "crop_positions",
    "crop_region",
    "diffusers_linspace_positions",
    "divided_positions",
    "grid_positions",
    "positions_3d",
    "latent_grid",
    "linspace_positions",
    "slice_positions",
]



def _check_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype not in POSITION_DTYPES:
        raise TypeError(
            f"dtype={dtype} is too coarse for positions; use torch.float64 (default) or torch.float32"
        )
    return dtype


def arange_positions(n: int, *, dtype: torch.dtype = torch.float64, device: Device = None) -> torch.Tensor:
    """Integer positions ``0 … n-1`` as floats: shape ``(n,)``. Extrapolation (chapter 4).

    >>> arange_positions(4)
    tensor([0., 1., 2., 3.], dtype=torch.float64)
    """
    n = check_size("n", n)
    return torch.arange(n, dtype=_check_dtype(dtype), device=device)


def divided_positions(
    n: int, s: float, *, dtype: torch.dtype = torch.float64, device: Device = None
) -> torch.Tensor:
    """Index division ``arange(n) / s``: shape ``(n,)``. CogVideoX-2B uses s = 1.875 (chapter 5, section 5.1).

    With ``s = n / n0`` the ``n`` positions lie in ``[0, n0 - n0/n]``: the last one is less than one
    step past ``n0 - 1``, the last position a grid of ``n0`` tokens saw (chapter 4, section 4.3).

    >>> divided_positions(30, 1.875)[-1].item()  # 29 / 1.875 = 16 - 16/30: 0.47 past the trained 15
    15.466666666666667
    """
    n = check_size("n", n)
    s = check_factor("s", s)
    return torch.arange(n, dtype=_check_dtype(dtype), device=device) / s


def linspace_positions(
    start: float, stop: float, n: int, *, dtype: torch.dtype = torch.float64, device: Device = None
) -> torch.Tensor:
    """``n`` evenly spaced positions on ``[start, stop)``: numpy ``linspace(start, stop, n, endpoint=False)``.

    Shape ``(n,)``; position ``i`` is ``start + (stop - start) * i / n`` for any ``start``.

    >>> linspace_positions(2, 27, 4)
    tensor([ 2.0000,  8.2500, 14.5000, 20.7500], dtype=torch.float64)
    """
    start, stop = _check_interval(start, stop)
    n = check_size("n", n)
    i = torch.arange(n, dtype=_check_dtype(dtype), device=device)
    return start + (stop - start) * i / n


def diffusers_linspace_positions(
    start: float, stop: float, n: int, *, dtype: torch.dtype = torch.float32, device: Device = None
) -> torch.Tensor:
    """What diffusers ≥ 0.32 computes for a crop ``[start, stop)``: ``linspace(start, stop*(n-1)/n, n)``.

    Shape ``(n,)``. Equals :func:`linspace_positions` only when ``start == 0``: with a non-zero crop start
    the step becomes ``(stop*(n-1)/n - start)/(n-1)`` instead of ``(stop-start)/n`` (chapter 6, section 6.4 (a)).
    float32 by default, as diffusers computes it.

    >>> diffusers_linspace_positions(2, 27, 4)
    tensor([ 2.0000,  8.0833, 14.1667, 20.2500])
    """
    start, stop = _check_interval(start, stop)
    n = check_size("n", n)
    return torch.linspace(start, stop * (n - 1) / n, n, dtype=_check_dtype(dtype), device=device)


def _check_interval(start: float, stop: float) -> tuple[float, float]:
    for name, v in (("start", start), ("stop", stop)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not (
            isinstance(v, torch.Tensor) and v.numel() == 1
        ):
            raise TypeError(f"{name} must be a real number, got {v!r}")
    start, stop = float(start), float(stop)
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(f"start and stop must be finite, got start={start}, stop={stop}")
    if stop <= start:
        raise ValueError(f"stop must be greater than start, got start={start}, stop={stop}")
    return start, stop


def slice_positions(
    n: int, max_n: int, *, dtype: torch.dtype = torch.float64, device: Device = None
) -> torch.Tensor:
    """The first ``n`` rows of an ``arange(max_n)`` table: shape ``(n,)`` (CogVideoX 1.5, ``grid_type="slice"``).

    The values equal :func:`arange_positions`; the table size only bounds ``n``.

    >>> slice_positions(3, 150)
    tensor([0., 1., 2.], dtype=torch.float64)
    """
    n = check_size("n", n)
    max_n = check_size("max_n", max_n)
    if n > max_n:
        raise ValueError(
            f"n={n} is larger than the table it is sliced from (max_n={max_n}); "
            f"grids up to {max_n} tokens per axis are valid"
        )
    return torch.arange(max_n, dtype=_check_dtype(dtype), device=device)[:n]


def crop_region(grid_hw: Sequence[int], base_hw: Sequence[int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The centred box of ``base_hw`` with the aspect ratio of ``grid_hw``: ``((top, left), (bottom, right))``.

    The grid is resized to fit the base box (full height if it is relatively taller, else full width),
    then centred; sizes and offsets use Python's ``round`` (round half to even), exactly as diffusers'
    ``get_resize_crop_region_for_grid(grid_hw, base_w, base_h)`` (note its (W, H) argument order;
    here both are (H, W)).

    >>> crop_region((48, 85), (30, 45))   # CogVideoX-5B at 768x1360
    ((2, 0), (27, 45))
    """
    h, w = check_grid("grid_hw", grid_hw, 2)
    th, tw = check_grid("base_hw", base_hw, 2)
    if h / w > th / tw:
        resize_h, resize_w = th, int(round(th / h * w))
    else:
        resize_w, resize_h = tw, int(round(tw / w * h))
    top = int(round((th - resize_h) / 2.0))
    left = int(round((tw - resize_w) / 2.0))
    return (top, left), (top + resize_h, left + resize_w)


def crop_positions(
    grid_hw: Sequence[int],
    base_hw: Sequence[int],
    *,
    convention: str = "numpy",
    dtype: torch.dtype | None = None,
    device: Device = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial positions of the diffusers 1.0 RoPE path: ``(h (H,), w (W,))`` spread over :func:`crop_region`.

    ``convention="numpy"`` is ``linspace(..., endpoint=False)`` (diffusers ≤ 0.31, and the intent);
    ``convention="diffusers"`` is what diffusers ≥ 0.32 computes (:func:`diffusers_linspace_positions`).
    ``dtype`` defaults to float64 for "numpy" and float32 for "diffusers".

    >>> h, w = crop_positions((60, 90), (30, 45))   # 960x1440: exactly i/2
    >>> h[:3].tolist(), w[-1].item()
    ([0.0, 0.5, 1.0], 44.5)
    """
    check_choice("convention", convention, ("numpy", "diffusers"))
    grid_hw = check_grid("grid_hw", grid_hw, 2)
    (top, left), (bottom, right) = crop_region(grid_hw, base_hw)
    if convention == "numpy":
        fn, dtype = linspace_positions, dtype or torch.float64
    else:
        fn, dtype = diffusers_linspace_positions, dtype or torch.float32
    h = fn(top, bottom, grid_hw[0], dtype=dtype, device=device)
    w = fn(left, right, grid_hw[1], dtype=dtype, device=device)
    return h, w


def grid_positions(
    grid: Sequence[int],
    interpolation: float | Sequence[float] = (1.0, 1.0, 1.0),
    *,
    dtype: torch.dtype = torch.float64,
    device: Device = None,
) -> tuple[torch.Tensor, ...]:
    """Per-axis positions ``arange(n)/s`` for a (T, H, W) grid: three tensors of shapes (T,), (H,), (W,).

    ``interpolation`` is one factor per axis (or one number for all); 1.0 is plain ``arange``.

    >>> [p.tolist() for p in grid_positions((2, 2, 3), (1.0, 2.0, 2.0))]
    [[0.0, 1.0], [0.0, 0.5], [0.0, 0.5, 1.0]]
    """
    grid = check_grid("grid", grid, 3)
    factors = check_factors("interpolation", interpolation, 3)
    return tuple(
        divided_positions(n, s, dtype=dtype, device=device) for n, s in zip(grid, factors)
    )


def positions_3d(
    grid: Sequence[int] | None = None,
    interpolation: float | Sequence[float] = (1.0, 1.0, 1.0),
    positions: Sequence[torch.Tensor] | None = None,
    *,
    device: Device = None,
) -> tuple[torch.Tensor, ...]:
    """The (t, h, w) positions a 3-D table is built on: ``(T,), (H,), (W,)`` tensors.

    Either ``grid`` with per-axis ``interpolation`` (:func:`grid_positions`), or ``positions`` given
    outright — then ``grid``, if also given, must match their lengths, and ``interpolation`` must be
    left at 1 (the positions already include it). Shared by :func:`cogpe.sincos.sincos_3d` and
    :func:`cogpe.rope.rope_3d`, so both treat the arguments alike.

    >>> [p.tolist() for p in positions_3d((1, 2, 2), (1.0, 2.0, 1.0))]
    [[0.0], [0.0, 0.5], [0.0, 1.0]]
    """
    if positions is None:
        if grid is None:
            raise TypeError("pass grid=(T, H, W) or positions=(t, h, w)")
        return grid_positions(grid, interpolation, device=device)
    if isinstance(positions, torch.Tensor) or len(positions) != 3:
        raise TypeError("positions must be three 1-D tensors (t, h, w)")
    checked = tuple(
        check_positions(f"positions[{i}] ({a})", p, device) for i, (a, p) in enumerate(zip("thw", positions))
    )
    if grid is not None:
        expected = check_grid("grid", grid, 3)
        lengths = tuple(len(p) for p in checked)
        if lengths != expected:
            raise ValueError(f"grid={expected} does not match the lengths of positions {lengths}")
    if check_factors("interpolation", interpolation, 3) != (1.0, 1.0, 1.0):
        raise ValueError("pass either positions or interpolation, not both (positions already include it)")
    return checked


def latent_grid(
    num_frames: int,
    height: int,
    width: int,
    *,
    patch_size: int = 2,
    patch_size_t: int | None = None,
    vae_scale: int = 8,
    temporal_compression: int = 4,
) -> tuple[int, int, int]:
    """Token grid (T, H, W) of a CogVideoX video of ``num_frames`` × ``height`` × ``width`` pixels (chapter 1).

    The VAE keeps frame 0 and compresses the rest ``temporal_compression``×:
    ``latent frames = (num_frames - 1) // 4 + 1``; space shrinks ``vae_scale``× and then ``patch_size``×.
    With ``patch_size_t`` (CogVideoX 1.5) latent frames are padded up to a multiple of it and grouped.

    >>> latent_grid(49, 480, 720)                    # CogVideoX 1.0: 13 x 30 x 45 = 17,550 tokens
    (13, 30, 45)
    >>> latent_grid(81, 768, 1360, patch_size_t=2)   # CogVideoX 1.5: 21 latent frames -> 22 -> 11
    (11, 48, 85)
    """
    num_frames = check_size("num_frames", num_frames)
    height = check_size("height", height)
    width = check_size("width", width)
    patch_size = check_size("patch_size", patch_size)
    vae_scale = check_size("vae_scale", vae_scale)
    temporal_compression = check_size("temporal_compression", temporal_compression)
    if (num_frames - 1) % temporal_compression:
        k = (num_frames - 1) // temporal_compression
        raise ValueError(
            f"num_frames={num_frames} is not {temporal_compression}k+1; the VAE needs e.g. "
            f"{k * temporal_compression + 1} or {(k + 1) * temporal_compression + 1}"
        )
    step = vae_scale * patch_size
    for name, v in (("height", height), ("width", width)):
        if v % step:
            lo = max(step, v - v % step)
            raise ValueError(
                f"{name}={v} is not a multiple of vae_scale*patch_size={step}; use e.g. {lo} or {lo + step}"
            )
    t = (num_frames - 1) // temporal_compression + 1
    if patch_size_t is not None:
        p_t = check_size("patch_size_t", patch_size_t)
        t = -(-t // p_t)  # pad latent frames up to a multiple of p_t, then group them
    return t, height // step, width // step
