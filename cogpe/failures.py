"""The failures chapter 7 looks for at new sizes, built from a video: slow motion (:func:`slowed`), a
loop (:func:`looped`), objects at the wrong scale (:func:`shrunk`) or repeated (:func:`tiled`).

Each keeps the shape ``(B, C, T, H, W)``; :mod:`cogpe.behaviour`'s metrics tell each apart from the data
(tests/test_behaviour.py).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ._checks import check_factor, check_size, check_threshold, check_videos
from .behaviour import background

__all__ = ["looped", "shrunk", "slowed", "tiled"]

Remap = Callable[[torch.Tensor], torch.Tensor]  # frames (N, C, H, W) -> (N, C, H, W)


def slowed(videos: torch.Tensor, factor: float) -> torch.Tensor:
    """``videos (B, C, T, H, W)`` at 1/``factor`` the speed (factor >= 1), same shape (chapter 7).

    Frame ``k`` shows the content at time ``k / factor``, linearly interpolated between the two frames
    around it (a cross-fade, whose weighted centroid moves at exactly 1/factor the speed). On data
    rendered from a scene, ``render(..., frame_step=1 / factor)`` is the exact slowed video.

    >>> v = torch.arange(4.0).reshape(1, 1, 4, 1, 1) / 4
    >>> slowed(v, 2.0).flatten().tolist()
    [0.0, 0.125, 0.25, 0.375]
    """
    v = check_videos("videos", videos)
    factor = check_factor("factor", factor)
    if factor < 1:
        raise ValueError(f"factor={factor} must be >= 1: a slowed video shows the first 1/factor of the clip")
    t = v.shape[2]
    time = torch.arange(t, dtype=torch.float64, device=v.device) / factor  # (T,) in input frames
    low = time.floor().long().clamp(max=t - 1)  # (T,)
    high = (low + 1).clamp(max=t - 1)
    frac = (time - low).reshape(1, 1, t, 1, 1)
    out = v[:, :, low] * (1 - frac) + v[:, :, high] * frac
    return out.to(videos.dtype)


def looped(videos: torch.Tensor, period: int) -> torch.Tensor:
    """``videos (B, C, T, H, W)`` whose first ``period`` frames repeat to fill the T frames (chapter 7).

    >>> v = torch.arange(5.0).reshape(1, 1, 5, 1, 1)
    >>> looped(v, 2).flatten().tolist()
    [0.0, 1.0, 0.0, 1.0, 0.0]
    """
    v = check_videos("videos", videos)
    t = v.shape[2]
    period = check_size("period", period, what="frames")
    if period > t:
        raise ValueError(f"period={period} is longer than the video (T={t}); use 1 <= period <= {t}")
    return videos[:, :, torch.arange(t, device=videos.device) % period]


def _over_background(v: torch.Tensor, remap: Remap, threshold: float) -> torch.Tensor:
    """``background + remap(v − background)`` of float64 ``v (B, C, T, H, W)``, frame by frame."""
    b, c, t, h, w = v.shape
    plane = background(v, threshold=threshold)[:, :, None]  # (B, C, 1, H, W)
    resid = (v - plane).transpose(1, 2).reshape(b * t, c, h, w)  # (B·T, C, H, W)
    moved = remap(resid).reshape(b, t, c, h, w).transpose(1, 2)  # (B, C, T, H, W)
    return plane + moved


def shrunk(videos: torch.Tensor, factor: float, *, threshold: float = 0.2) -> torch.Tensor:
    """``videos (B, C, T, H, W)`` whose objects are ``factor`` (0 < factor <= 1) times as large, centred in
    the same frame over the same :func:`cogpe.behaviour.background`; same shape (chapter 7).

    The foreground (video minus background) is resized to ``round(factor·H) × round(factor·W)``
    (averaging pixels, which keeps its mean, so areas scale by about factor²) and padded with zeros.

    >>> v = -torch.ones(1, 1, 1, 8, 8); v[..., 2:6, 2:6] = 1.0
    >>> shrunk(v, 0.5)[0, 0, 0, 2:6, 2:6]
    tensor([[-1., -1., -1., -1.],
            [-1.,  1.,  1., -1.],
            [-1.,  1.,  1., -1.],
            [-1., -1., -1., -1.]])
    """
    v = check_videos("videos", videos)
    factor = check_factor("factor", factor)
    if factor > 1:
        raise ValueError(f"factor={factor} must be in (0, 1]: shrunk objects are smaller")
    h, w = v.shape[-2:]
    size = (max(1, round(factor * h)), max(1, round(factor * w)))
    top, left = (h - size[0]) // 2, (w - size[1]) // 2

    def remap(x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        small = F.interpolate(x, size=size, mode="area")
        return F.pad(small, (left, w - size[1] - left, top, h - size[0] - top))

    return _over_background(v, remap, check_threshold(threshold)).to(videos.dtype)


def tiled(videos: torch.Tensor, n: int, *, threshold: float = 0.2) -> torch.Tensor:
    """``videos (B, C, T, H, W)`` whose objects repeat ``n × n`` times: the foreground tiled n×n and
    averaged back to ``H × W`` over the same :func:`cogpe.behaviour.background`; same shape (chapter 7).

    Each copy is 1/n the size and moves at 1/n the speed. Tiling the background too would add seams
    (the colour ramp restarting in every tile) that are not the failure measured here.

    >>> v = -torch.ones(1, 1, 1, 4, 4); v[..., 0:2, 0:2] = 1.0
    >>> tiled(v, 2)[0, 0, 0].round(decimals=6)
    tensor([[ 1., -1.,  1., -1.],
            [-1., -1., -1., -1.],
            [ 1., -1.,  1., -1.],
            [-1., -1., -1., -1.]])
    """
    v = check_videos("videos", videos)
    n = check_size("n", n, what="tiles per side")
    h, w = v.shape[-2:]

    def remap(x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, C, H, W)
        return F.interpolate(x.repeat(1, 1, n, n), size=(h, w), mode="area")

    return _over_background(v, remap, check_threshold(threshold)).to(videos.dtype)
