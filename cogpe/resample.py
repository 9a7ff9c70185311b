"""Resampling a position *table* to a new grid, and the coordinate maps behind it (chapter 5).

A table holds one row per token: ``(H*W, D)`` flattened token-major (row ``h*W + w``) or ``(H, W, D)``;
in 3-D ``(T*H*W, D)`` or ``(T, H, W, D)``. Going from ``N0`` to ``N1`` tokens along an axis, fine row
``i`` reads the coarse table at a *source coordinate* ``x(i)`` in coarse-index units. Chapter 5 compares
three maps:

- :func:`asymmetric_coordinates` ``x(i) = i·N0/N1`` — CogVideoX-2B's index division ``arange(N1)/s``
  with ``s = N1/N0``; ``x(29) = 15.4667`` for 30 ← 16. ``mode="nearest"`` copies row ``⌊x(i)⌋``
  (PyTorch forms ``N0/N1`` in float32, so an integer ``x(i)`` can round one row down, e.g. 46 ← 14);
- :func:`align_corners_coordinates` ``x(i) = i·(N0−1)/(N1−1)`` — ``F.interpolate(align_corners=True)``;
  both end rows land on coarse end rows, ``x(29) = 15``;
- :func:`half_pixel_coordinates` ``x(i) = (i+½)·N0/N1 − ½`` — ``F.interpolate(align_corners=False)``;
  token *centres* line up, ``x(0) = −0.2333``, ``x(29) = 15.2333``; outside ``[0, N0−1]`` the borders
  are clamped (replicated).

Index division *evaluates* an analytic code at ``x(i)`` exactly; resampling a table (the only option
for a learned one) gives ``Σ_j K(x(i) − j)·T0[j]`` for a kernel ``K``. On a unit sinusoid of ``ω``
rad/sample, at half-integer ``x`` the kernel multiplies the exact value by :func:`kernel_gain`
(chapter 5): the error of a resampled sincos table grows with frequency.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence, overload

import torch
import torch.nn.functional as F
from torch.types import Device

from ._checks import check_choice, check_flag, check_grid, check_size

__all__ = [
    "align_corners_coordinates",
    "asymmetric_coordinates",
    "half_pixel_coordinates",
    "kernel_gain",
    "resample_table",
    "resample_table_3d",
    "resample_video_table",
    "source_coordinates",
]

MODES_2D = ("bilinear", "bicubic", "nearest")
MODES_3D = ("trilinear", "nearest")
CONVENTIONS = ("asymmetric", "align_corners", "half_pixel")
GAIN_MODES = ("bilinear", "bicubic", "keys")


def resample_table(
    table: torch.Tensor,
    old_hw: Sequence[int],
    new_hw: Sequence[int],
    mode: str = "bicubic",
    align_corners: bool = False,
    *,
    antialias: bool = False,
) -> torch.Tensor:
    """Resample a spatial table ``(H*W, D)`` or ``(H, W, D)`` to ``new_hw``; same form, dtype and device.

    ``F.interpolate`` over the (H, W) axes, channel by channel (chapter 5). ``mode`` is
    ``"bilinear"``, ``"bicubic"`` (the cubic convolution kernel with PyTorch's ``a = −0.75``; Keys'
    is ``a = −½``) or ``"nearest"``; ``align_corners`` picks :func:`align_corners_coordinates` (True) or :func:`half_pixel_coordinates` (False) and has
    no meaning for ``"nearest"``. ``antialias`` low-passes when shrinking (timm's default), which
    attenuates the fastest channels. Half-precision tables are resampled in float32.

    >>> table = torch.arange(4.0).reshape(4, 1)        # (H*W, D) = (2*2, 1): [[0, 1], [2, 3]]
    >>> resample_table(table, (2, 2), (3, 3), "bilinear", align_corners=True).reshape(3, 3)
    tensor([[0.0000, 0.5000, 1.0000],
            [1.0000, 1.5000, 2.0000],
            [2.0000, 2.5000, 3.0000]])
    """
    old = check_grid("old_hw", old_hw, 2)
    new = check_grid("new_hw", new_hw, 2)
    mode = check_choice("mode", mode, MODES_2D)
    align_corners = check_flag("align_corners", align_corners)
    antialias = check_flag("antialias", antialias)
    _check_nearest(mode, align_corners=align_corners, antialias=antialias)
    return _resample(table, old, new, mode, align_corners, antialias, "old_hw")


def resample_table_3d(
    table: torch.Tensor,
    old_thw: Sequence[int],
    new_thw: Sequence[int],
    mode: str = "trilinear",
    align_corners: bool = False,
) -> torch.Tensor:
    """Resample a video table ``(T*H*W, D)`` or ``(T, H, W, D)`` to ``new_thw``; same form, dtype, device.

    The 3-D counterpart of :func:`resample_table` (chapter 5): ``mode`` is ``"trilinear"`` (the
    separable product of three linear kernels) or ``"nearest"``; rows are token-major ``(t, h, w)``.

    >>> table = torch.arange(2.0).reshape(2, 1)        # (T*H*W, D) = (2*1*1, 1): one value per frame
    >>> resample_table_3d(table, (2, 1, 1), (3, 1, 1), align_corners=True).flatten()
    tensor([0.0000, 0.5000, 1.0000])
    """
    old = check_grid("old_thw", old_thw, 3)
    new = check_grid("new_thw", new_thw, 3)
    mode = check_choice("mode", mode, MODES_3D)
    align_corners = check_flag("align_corners", align_corners)
    _check_nearest(mode, align_corners=align_corners, antialias=False)
    return _resample(table, old, new, mode, align_corners, False, "old_thw")


def resample_video_table(table: torch.Tensor, old_thw: Sequence[int], new_thw: Sequence[int]) -> torch.Tensor:
    """A learned video table ``(T*H*W, D)`` or ``(T, H, W, D)`` resampled to ``new_thw``; same form, dtype, device.

    How a learned table follows a new grid (strategy ``"resample"``; EVA-style, fang2023eva02, as timm's
    ``resample_abs_pos_embed``): each frame bicubic over (H, W), then linear over T, ``align_corners=False``,
    no antialias (chapter 5). Half-precision tables are resampled in float32 and rounded once. At
    ``new_thw == old_thw`` the table comes back unchanged (a view of it).

    >>> table = torch.arange(2.0).reshape(2, 1)        # (T*H*W, D) = (2*1*1, 1): one value per frame
    >>> resample_video_table(table, (2, 1, 1), (4, 1, 1)).flatten()
    tensor([0.0000, 0.2500, 0.7500, 1.0000])
    """
    old = check_grid("old_thw", old_thw, 3)
    new = check_grid("new_thw", new_thw, 3)
    flat = _check_table(table, old, "old_thw")
    (t0, h0, w0), (t, h, w), d = old, new, table.shape[-1]
    work = table.float() if table.dtype in (torch.float16, torch.bfloat16) else table
    out = work.reshape(t0, h0, w0, d)  # (T0, H0, W0, D)
    if (h, w) != (h0, w0):
        frames = out.permute(1, 2, 0, 3).reshape(h0, w0, t0 * d)  # (H0, W0, T0*D): the frames side by side
        frames = resample_table(frames, (h0, w0), (h, w), "bicubic")  # (H, W, T0*D)
        out = frames.reshape(h, w, t0, d).permute(2, 0, 1, 3)  # (T0, H, W, D)
    if t != t0:
        out = resample_table_3d(out, (t0, h, w), (t, h, w), "trilinear")  # (T, H, W, D): H, W kept, so linear in T
    out = out.to(table.dtype)
    return out.reshape(t * h * w, d) if flat else out


def _resample(
    table: torch.Tensor,
    old: tuple[int, ...],
    new: tuple[int, ...],
    mode: str,
    align_corners: bool,
    antialias: bool,
    old_name: str,
) -> torch.Tensor:
    flat = _check_table(table, old, old_name)
    work = torch.float64 if table.dtype == torch.float64 else torch.float32
    d = table.shape[-1]
    grid = table.reshape(*old, d).to(work)                   # (*old, D)
    x = grid.movedim(-1, 0).unsqueeze(0)                     # (1, D, *old)
    kwargs = {} if mode == "nearest" else {"align_corners": align_corners}
    if antialias:
        kwargs["antialias"] = True
    y = F.interpolate(x, size=new, mode=mode, **kwargs)      # (1, D, *new)
    out = y.squeeze(0).movedim(0, -1).to(table.dtype)        # (*new, D)
    return out.reshape(-1, d) if flat else out               # (prod(new), D) or (*new, D)


def _check_table(table: object, old: tuple[int, ...], old_name: str) -> bool:
    """Validate ``table`` against the grid ``old``; return True for the flattened ``(prod(old), D)`` form."""
    n = len(old)
    axes = "THW"[3 - n:]
    forms = f"({'*'.join(axes)}, D) or ({', '.join(axes)}, D)"
    if not isinstance(table, torch.Tensor) or not table.is_floating_point():
        what = f"a {table.dtype} tensor" if isinstance(table, torch.Tensor) else type(table).__name__
        raise TypeError(f"table must be a floating-point torch.Tensor of shape {forms}, got {what}")
    if table.ndim not in (2, n + 1):
        raise ValueError(
            f"table must have shape {forms}, got {table.ndim} dims: {tuple(table.shape)}"
        )
    if table.shape[-1] == 0:
        raise ValueError(f"table has no channels (shape {tuple(table.shape)}); D must be >= 1")
    if table.ndim == 2:
        need = math.prod(old)
        if table.shape[0] != need:
            raise ValueError(
                f"table has {table.shape[0]} rows but {old_name}={old} needs {need} "
                f"({'*'.join(axes)}); pass the grid the table was built on"
            )
        return True
    if tuple(table.shape[:n]) != old:
        raise ValueError(
            f"table has shape {tuple(table.shape)} but {old_name}={old} needs ({', '.join(map(str, old))}, D); "
            "pass the grid the table was built on"
        )
    return False


def _check_nearest(mode: str, *, align_corners: bool, antialias: bool) -> None:
    if mode != "nearest":
        return
    for name, on in (("align_corners", align_corners), ("antialias", antialias)):
        if on:
            raise ValueError(
                f"{name}=True has no meaning for mode='nearest' (it copies row floor(i*N0/N1)); "
                f"pass {name}=False or use a linear/cubic mode"
            )


def asymmetric_coordinates(n_new: int, n_old: int, *, device: Device = None) -> torch.Tensor:
    """Index division ``x(i) = i·N0/N1``: float64 ``(n_new,)`` in old-index units (chapter 5).

    Equals :func:`cogpe.grids.divided_positions` ``(N1, s = N1/N0)``; covers ``[0, N0 − N0/N1]``.

    >>> asymmetric_coordinates(30, 16)[-1].item()      # 29 / 1.875
    15.466666666666667
    """
    n_new, n_old = check_size("n_new", n_new, what="positions"), check_size("n_old", n_old, what="positions")
    return torch.arange(n_new, dtype=torch.float64, device=device) * n_old / n_new


def align_corners_coordinates(n_new: int, n_old: int, *, device: Device = None) -> torch.Tensor:
    """``x(i) = i·(N0−1)/(N1−1)``, end rows on end rows: float64 ``(n_new,)`` (chapter 5).

    What ``F.interpolate(align_corners=True)`` reads; a single new row reads ``x = 0``.

    >>> align_corners_coordinates(30, 16)[[0, -1]].tolist()
    [0.0, 15.0]
    """
    n_new, n_old = check_size("n_new", n_new, what="positions"), check_size("n_old", n_old, what="positions")
    i = torch.arange(n_new, dtype=torch.float64, device=device)
    return i * (n_old - 1) / (n_new - 1) if n_new > 1 else i * 0.0


def half_pixel_coordinates(n_new: int, n_old: int, *, device: Device = None) -> torch.Tensor:
    """``x(i) = (i+½)·N0/N1 − ½``, centres on centres: float64 ``(n_new,)`` (chapter 5).

    What ``F.interpolate(align_corners=False)`` reads; it equals the asymmetric map shifted by the
    constant ``−½(1 − N0/N1)`` and overhangs ``[0, N0−1]`` at both ends (borders are clamped there).

    >>> half_pixel_coordinates(30, 16)[[0, -1]]
    tensor([-0.2333, 15.2333], dtype=torch.float64)
    """
    n_new, n_old = check_size("n_new", n_new, what="positions"), check_size("n_old", n_old, what="positions")
    i = torch.arange(n_new, dtype=torch.float64, device=device)
    return (i + 0.5) * n_old / n_new - 0.5


_MAPS = {
    "asymmetric": asymmetric_coordinates,
    "align_corners": align_corners_coordinates,
    "half_pixel": half_pixel_coordinates,
}


def source_coordinates(n_new: int, n_old: int, convention: str, *, device: Device = None) -> torch.Tensor:
    """Source coordinates ``x(i)``, float64 ``(n_new,)``, of the map named by ``convention`` (chapter 5).

    ``convention`` is ``"asymmetric"`` (index division), ``"align_corners"`` or ``"half_pixel"``.

    >>> source_coordinates(3, 2, "asymmetric").tolist()
    [0.0, 0.6666666666666666, 1.3333333333333333]
    """
    convention = check_choice("convention", convention, CONVENTIONS)
    return _MAPS[convention](n_new, n_old, device=device)


# Gain c1·cos(ω/2) + c3·cos(3ω/2). A symmetric kernel at a half-integer offset weighs the two nearest
# samples (distance ½) by K(½) and the next two (distance 3/2) by K(3/2). Linear: K(½) = ½. Cubic
# with parameter a: K(½) = (4 − a)/8, K(3/2) = a/8, so c1 = (4 − a)/4, c3 = a/4.
_GAIN = {"bilinear": (1.0, 0.0), "bicubic": (1.1875, -0.1875), "keys": (1.125, -0.125)}


@overload
def kernel_gain(omega: torch.Tensor, mode: str) -> torch.Tensor: ...


@overload
def kernel_gain(omega: float, mode: str) -> float: ...


def kernel_gain(omega: torch.Tensor | float, mode: str) -> torch.Tensor | float:
    """Gain of resampling a unit sinusoid of ``omega`` rad/sample at half-integer offsets (chapter 5).

    Resampling ``cos(ω j + φ)`` at ``x = m + ½`` returns ``G(ω)·cos(ω x + φ)`` exactly (no phase error,
    by symmetry), with ``G = 2K(½)cos(ω/2) + 2K(3/2)cos(3ω/2)``:

    - ``"bilinear"``: ``cos(ω/2)``;
    - ``"bicubic"`` (PyTorch, a = −0.75): ``1.1875·cos(ω/2) − 0.1875·cos(3ω/2)``;
    - ``"keys"`` (a = −0.5): ``1.125·cos(ω/2) − 0.125·cos(3ω/2)``.

    ``omega`` is a number (a float comes back) or a real tensor of any shape (a tensor of that shape
    comes back; integer tensors become float64).

    >>> round(kernel_gain(1.0, "bilinear"), 4), round(kernel_gain(1.0, "bicubic"), 4)
    (0.8776, 1.0289)
    """
    mode = check_choice("mode", mode, GAIN_MODES)
    c1, c3 = _GAIN[mode]
    if isinstance(omega, torch.Tensor):
        if omega.dtype == torch.bool or omega.is_complex():
            raise TypeError(f"omega must be a real tensor, got dtype {omega.dtype}")
        w = omega if omega.is_floating_point() else omega.to(torch.float64)
        return c1 * torch.cos(w / 2) + c3 * torch.cos(1.5 * w)
    if isinstance(omega, bool) or not isinstance(omega, numbers.Real):
        raise TypeError(
            f"omega must be a real number or tensor (rad/sample), got {omega!r} ({type(omega).__name__})"
        )
    x = float(omega)
    if not math.isfinite(x):
        raise ValueError(f"omega must be finite, got {x}")
    return c1 * math.cos(x / 2) + c3 * math.cos(1.5 * x)
