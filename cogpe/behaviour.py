"""What a video does, measured from its pixels alone: speed, repetition, scale and count (chapter 7).

A generated sample carries no scene description, so each metric reads the video only. The lab's videos
(:mod:`cogpe.data`) are bright objects over a smooth background that does not move, and the metrics lean
on exactly that:

- :func:`background` fits the background of each video: one plane per channel, ``a + b·y + c·x`` over
  the frame (the data's colour ramp), the same in every frame, fitted to the pixels it explains
  (inliers within ``threshold``, not beside an outlier, refitted thrice) and clamped to ``[-1, 1]``;
- :func:`objects` finds the **foreground components**: pixels whose largest channel differs from the
  background by more than ``threshold``, joined into 8-connected components frame by frame. Each
  component has a *soft* area, the sum of its pixels' coverage (residual ÷ the component's peak
  residual), so one pixel of anti-aliased edge counts as the fraction it covers and an area survives
  resampling (an n×n average pools n² pixels' coverage into one);
- **speed** (:func:`object_speed`): *round* components (isotropic second moments, as every lab shape
  has; objects merged by occlusion are not) of frame ``t`` are paired with those of frame ``t + 1``, and
  a video's speed is the median length of the paired steps;
- **scale** (:func:`object_scale`): the median equivalent radius ``√(area / π)`` of round components;
- **count** (:func:`object_count`): components per frame;
- **repetition** (:func:`repetition`, :func:`loop_period`): the normalised correlation of frames
  ``t`` and ``t + lag`` after the video's mean frame is removed, which is 1 at a lag a video repeats.

Lengths are in **frame sides** (a fraction of the height along ``y``, of the width along ``x``: the
units of :class:`cogpe.data.Scene`, so a non-square frame is measured in the square it stretches) and in
**pixels**. For the lab's shapes the equivalent radius is a fixed fraction of the circumradius ``r``
(:data:`EQUIVALENT_RADIUS`: 0.80 r for a disc, 0.72 r a ring, 0.64 r a triangle, 0.80 r a square).

Why centroids for speed: on one-object data videos the median step is within 4 % of the true speed in
9 videos of 10 at 16×16 (1 % at 32×32), while a gradient estimate (frame difference over total
variation, both summed: isotropic edges give half the step) spreads over −20 % … +9 % and runs 6 % low
at 32×32, where a step of up to 3 pixels is no longer small beside an object. Known biases: occlusion
merges components, and a step across a bounce is shorter than the speed. Each function states the
tolerance tests/test_behaviour.py checks over 16×16, 16×24, 32×32 and 32×48 frames, 8 and 16 frames.

The failures chapter 7 looks for at new sizes are built from a video by :mod:`cogpe.failures`; each
metric tells its failure apart from the data.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ._checks import check_factor, check_size, check_threshold, check_videos

__all__ = [
    "Behaviour",
    "EQUIVALENT_RADIUS",
    "Measured",
    "Objects",
    "background",
    "foreground",
    "loop_period",
    "measure",
    "object_count",
    "object_scale",
    "object_speed",
    "objects",
    "repetition",
    "repetition_profile",
]

#: Equivalent radius ``√(area / π)`` of each shape of :data:`cogpe.data.SHAPES` ÷ its circumradius ``r``
#: (disc of radius 0.8 r; ring between 0.45 r and 0.85 r; regular triangle and square of circumradius r).
EQUIVALENT_RADIUS = {
    "disc": 0.8,
    "ring": math.sqrt(0.85**2 - 0.45**2),
    "triangle": math.sqrt(3 * math.sqrt(3) / (4 * math.pi)),
    "square": math.sqrt(2 / math.pi),
}

_FIRST_TOLERANCE = 0.4  # the first background fit: around the per-channel median, wider than the ramp
_AREA_RATIO = 2.0  # a paired step joins components whose areas differ by less than this factor
_ROUND = 0.6  # speed and scale read components at least this round (one lab object: >= 0.66 at 16×16)


class Measured(NamedTuple):
    """A per-video quantity (chapter 7): ``sides`` ``(B,)`` in frame sides, ``pixels`` ``(B,)`` in pixels.

    Both are float64; NaN for a video with nothing to measure (no object, or no object paired).
    """

    sides: torch.Tensor
    pixels: torch.Tensor


class Objects(NamedTuple):
    """Foreground components of a batch ``(B, C, T, H, W)``, one entry each (``M`` in all; chapter 7).

    - ``frame`` ``(M,)`` long: the frame ``b·T + t`` the component is in;
    - ``area`` ``(M,)``: soft area in pixels (sum of coverage);
    - ``y``, ``x`` ``(M,)``: coverage-weighted centroid in pixels (pixel ``(i, j)`` is centred at
      ``(i + ½, j + ½)``), so ``y / H`` and ``x / W`` are in frame sides;
    - ``roundness`` ``(M,)`` in ``[0, 1]``: the smaller eigenvalue of the component's second moments (in
      frame sides, each pixel a uniform square) over the larger. Every shape of the lab is regular, so
      its moments are isotropic (1); two objects merged by occlusion, or one cut by another, are not.
    """

    frame: torch.Tensor
    area: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    roundness: torch.Tensor


def _videos(videos: object, name: str = "videos", *, frames: int = 1) -> torch.Tensor:
    return check_videos(name, videos, frames=frames)


def _threshold(value: object) -> float:
    return check_threshold(value)


def _ramps(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The plane's basis ``(H·W, 3)``: 1, then y and x in frame sides about the centre."""
    y = (torch.arange(height, dtype=torch.float64, device=device) + 0.5) / height - 0.5  # (H,)
    x = (torch.arange(width, dtype=torch.float64, device=device) + 0.5) / width - 0.5  # (W,)
    yy, xx = torch.meshgrid(y, x, indexing="ij")  # (H, W) each
    return torch.stack([torch.ones_like(yy), yy, xx], dim=-1).reshape(height * width, 3)


def _plane(v: torch.Tensor, threshold: float) -> torch.Tensor:
    """The clamped background plane ``(B, C, H·W)`` of float64 videos ``v (B, C, T, H, W)``."""
    b, c, t, h, w = v.shape
    pixels = v.reshape(b, c, t, h * w)  # (B, C, T, P)
    basis = _ramps(h, w, v.device)  # (P, 3)
    fit = pixels.flatten(2).median(dim=2).values[:, :, None].expand(b, c, h * w)  # (B, C, P) a constant
    # a clamped pixel says little of the plane: it only counts where nothing else does
    trust = torch.where((pixels.abs() < 1 - 1e-6).all(dim=1), 1.0, 1e-3).double()  # (B, T, P)
    for tol in (max(_FIRST_TOLERANCE, threshold), threshold, threshold):
        resid = (pixels - fit[:, :, None]).abs().amax(dim=1)  # (B, T, P)
        near = F.max_pool2d((resid >= tol).double().reshape(b * t, 1, h, w), 3, stride=1, padding=1)
        faint = torch.where(near.reshape(b, t, h * w) > 0, 1e-3, 1.0)  # (B, T, P): beside an outlier
        inlier = (resid < tol).double() * faint * trust  # an object's faint edge counts only where nothing else does
        weight = inlier.sum(dim=1)  # (B, P): inlier frames per pixel
        gram = torch.einsum("bp,pi,pj->bij", weight, basis, basis)  # (B, 3, 3)
        rhs = torch.einsum("btp,bctp,pi->bic", inlier, pixels, basis)  # (B, 3, C)
        ridge = (1e-12 * gram.diagonal(dim1=1, dim2=2).sum(-1) + 1e-300)[:, None, None]  # (B, 1, 1)
        coef = torch.linalg.solve(gram + ridge * torch.eye(3, dtype=v.dtype, device=v.device), rhs)  # (B, 3, C)
        fit = torch.einsum("pi,bic->bcp", basis, coef).clamp(-1.0, 1.0)  # (B, C, P)
    return fit


def background(videos: torch.Tensor, *, threshold: float = 0.2) -> torch.Tensor:
    """The fitted static background of ``videos (B, C, T, H, W)``: ``(B, C, H, W)`` float64 (chapter 7).

    One plane per channel over the frame, fitted to the pixels it explains within ``threshold``.

    >>> from cogpe.data import DataConfig, VideoDataset
    >>> v = VideoDataset(DataConfig(), frames=4, height=16, width=16, length=2).batch([0, 1])
    >>> background(v).shape
    torch.Size([2, 3, 16, 16])
    """
    v = _videos(videos)
    b, c, _, h, w = v.shape
    return _plane(v, _threshold(threshold)).reshape(b, c, h, w)


def _residual(v: torch.Tensor, threshold: float) -> torch.Tensor:
    """Largest channel's distance from the background: ``(B, T, H, W)`` float64."""
    b, c, t, h, w = v.shape
    plane = _plane(v, threshold).reshape(b, c, 1, h, w)
    return (v - plane).abs().amax(dim=1)


def foreground(videos: torch.Tensor, *, threshold: float = 0.2) -> torch.Tensor:
    """Pixels of ``videos (B, C, T, H, W)`` farther than ``threshold`` from the background: ``(B, T, H, W)``
    bool (chapter 7).

    >>> v = -torch.ones(1, 1, 2, 4, 4); v[..., 1:3, 1:3] = 1.0     # a bright square on black
    >>> foreground(v)[0, 0].int()
    tensor([[0, 0, 0, 0],
            [0, 1, 1, 0],
            [0, 1, 1, 0],
            [0, 0, 0, 0]], dtype=torch.int32)
    """
    return _residual(_videos(videos), _threshold(threshold)) > threshold


def _labels(mask: torch.Tensor) -> torch.Tensor:
    """8-connected components of ``mask (N, H, W)``: ``(N, H, W)`` long, 0 off the mask, else the
    largest flat index + 1 of the component's pixels (unique across frames)."""
    n, h, w = mask.shape
    exact = torch.float32 if n * h * w < 2**24 else torch.float64  # labels stay exact integers
    keep = mask[:, None].to(exact)  # (N, 1, H, W)
    labels = torch.arange(1, n * h * w + 1, dtype=exact, device=mask.device).reshape(n, 1, h, w) * keep
    while True:  # spread each component's largest index over it, one pixel a step (four steps a check)
        before = labels
        for _ in range(4):
            labels = F.max_pool2d(labels, 3, stride=1, padding=1) * keep
        if torch.equal(before, labels):
            return labels[:, 0].long()


def _min_area(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) < math.inf:
        raise ValueError(f"min_area must be a finite number of pixels >= 0, got {value!r}")
    return float(value)


def objects(videos: torch.Tensor, *, threshold: float = 0.2, min_area: float = 1.0) -> Objects:
    """The foreground components of ``videos (B, C, T, H, W)`` with a soft area of at least ``min_area``
    pixels, as :class:`Objects` of ``M`` entries sorted by frame (chapter 7).

    >>> v = -torch.ones(1, 1, 1, 6, 6); v[..., 1:3, 1:3] = 1.0; v[..., 4, 3:6] = 1.0
    >>> found = objects(v)
    >>> [[round(float(a), 6) for a in column] for column in (found.area, found.y, found.x)]
    [[4.0, 3.0], [2.0, 4.5], [2.0, 4.5]]
    """
    v = _videos(videos)
    threshold, min_area = _threshold(threshold), _min_area(min_area)
    b, _, t, h, w = v.shape
    resid = _residual(v, threshold).reshape(b * t, h, w)  # (N, H, W), N = B·T frames
    mask = resid > threshold
    labels = _labels(mask)[mask]  # (F,) one per foreground pixel
    pixel = torch.nonzero(mask)  # (F, 3): frame, row, column
    _, comp = torch.unique(labels, return_inverse=True)  # (F,) component 0..M-1, in order of label
    m = int(comp.max()) + 1 if comp.numel() else 0
    value = resid[mask]  # (F,)
    zeros = torch.zeros(m, dtype=torch.float64, device=v.device)
    peak = zeros.scatter_reduce(0, comp, value, reduce="amax", include_self=False)  # (M,)
    cover = value / peak[comp]  # (F,) in (0, 1]
    area = zeros.index_add(0, comp, cover)  # (M,)
    y = zeros.index_add(0, comp, cover * (pixel[:, 1] + 0.5)) / area
    x = zeros.index_add(0, comp, cover * (pixel[:, 2] + 0.5)) / area
    frame = torch.zeros(m, dtype=torch.long, device=v.device).scatter_reduce(
        0, comp, pixel[:, 0], reduce="amax", include_self=False
    )  # (M,)
    roundness = _roundness(comp, cover, (pixel[:, 1] + 0.5 - y[comp]) / h, (pixel[:, 2] + 0.5 - x[comp]) / w,
                           area, (h, w))
    keep = area >= min_area
    order = torch.argsort(frame[keep], stable=True)
    return Objects(*(a[keep][order] for a in (frame, area, y, x, roundness)))


def _roundness(comp: torch.Tensor, cover: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor,
               area: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Smaller over larger eigenvalue of each component's second moments: ``(M,)``.

    ``dy``, ``dx`` ``(F,)`` are each pixel's offset from its centroid in frame sides; a pixel adds its own
    spread, ``1/12`` of its side squared along each axis."""
    zeros = torch.zeros_like(area)
    syy = zeros.index_add(0, comp, cover * dy * dy) / area + 1 / (12 * size[0] ** 2)  # (M,)
    sxx = zeros.index_add(0, comp, cover * dx * dx) / area + 1 / (12 * size[1] ** 2)
    sxy = zeros.index_add(0, comp, cover * dy * dx) / area
    mean, half = (syy + sxx) / 2, torch.sqrt(((syy - sxx) / 2) ** 2 + sxy**2)
    return (mean - half) / (mean + half)


def object_count(videos: torch.Tensor, *, threshold: float = 0.2, min_area: float = 1.0) -> torch.Tensor:
    """Objects per frame of ``videos (B, C, T, H, W)``: ``(B, T)`` long, the foreground components of
    :func:`objects` (chapter 7).

    Occluding or touching objects are one component. On data the count is never above the number of
    objects, never below the number of groups of touching circumcircles, and exact in every frame where
    no two objects come within a pixel: one object always reads 1; DataConfig() scenes (1 to 3 objects,
    crowded) are exact in about 45 % of frames.

    >>> v = -torch.ones(1, 1, 1, 6, 6); v[..., 1:3, 1:3] = 1.0; v[..., 4, 3:6] = 1.0
    >>> object_count(v)
    tensor([[2]])
    """
    v = _videos(videos)
    b, _, t, _, _ = v.shape
    return _count(objects(v, threshold=threshold, min_area=min_area), b, t)


def _count(found: Objects, b: int, t: int) -> torch.Tensor:
    """Components per frame ``(B, T)`` long of the :func:`objects` of a ``(B, ·, T, ·, ·)`` batch."""
    return torch.bincount(found.frame, minlength=b * t).reshape(b, t)


def _per_video(values: torch.Tensor, video: torch.Tensor, round_: torch.Tensor, count: int) -> torch.Tensor:
    """Median of ``values (M,)`` over each video's round entries (``round_ (M,)`` bool), or over all its
    entries where none is round: ``(count,)``, NaN for a video without entries."""
    out = torch.full((count,), math.nan, dtype=torch.float64, device=values.device)
    for b in range(count):
        mine = video == b
        pick = mine & round_ if (mine & round_).any() else mine
        if pick.any():
            out[b] = values[pick].quantile(0.5)  # the mean of the middle two for an even count
    return out


def object_scale(videos: torch.Tensor, *, threshold: float = 0.2, min_area: float = 1.0) -> Measured:
    """Object size in ``videos (B, C, T, H, W)``: the median equivalent radius ``√(area / π)`` of the
    components of :func:`objects`, per video, as :class:`Measured` ``(B,)`` (chapter 7).

    ``sides`` divides the area by ``H·W`` first (a fraction of the frame side). Round components are
    read where a video has any (all otherwise). On data it is :data:`EQUIVALENT_RADIUS` times the
    circumradius: for one object within 10 % in every video (a thin ring at 16×16 reads up to 9 % large,
    other shapes within 4 %), median within 2 %; with 1 to 3 objects it lies within 10 % of the range of
    the objects' in 7 videos of 10 at 16×16, 9 of 10 at 32×32.

    >>> v = -torch.ones(1, 1, 1, 10, 10); v[..., 2:6, 2:6] = 1.0     # one 4×4 square: 16 pixels
    >>> s = object_scale(v)
    >>> round(float(s.pixels[0]) ** 2 * math.pi, 6), round(float(s.sides[0]) ** 2 * math.pi, 6)
    (16.0, 0.16)
    """
    v = _videos(videos)
    b, _, t, h, w = v.shape
    return _scale(objects(v, threshold=threshold, min_area=min_area), b, t, (h, w))


def _scale(found: Objects, b: int, t: int, size: tuple[int, int]) -> Measured:
    """:func:`object_scale` of the :func:`objects` of a ``(B, ·, T, H, W)`` batch, ``size = (H, W)``."""
    pixels = _per_video(torch.sqrt(found.area / math.pi), found.frame // t, found.roundness >= _ROUND, b)
    return Measured(pixels / math.sqrt(size[0] * size[1]), pixels)


def _steps(found: Objects, use: torch.Tensor, a: int, size: tuple[int, int], max_step: float) -> torch.Tensor:
    """Paired steps of the components ``use (M,)`` bool from frame ``a`` to frame ``a + 1``: ``(S, 2)``
    displacements ``(dy, dx)`` in pixels."""
    h, w = size
    one, two = (found.frame == a) & use, (found.frame == a + 1) & use
    if not one.any() or not two.any():
        return torch.zeros(0, 2, dtype=torch.float64, device=found.y.device)
    p = torch.stack([found.y[one], found.x[one]], dim=-1)  # (m, 2) pixels
    q = torch.stack([found.y[two], found.x[two]], dim=-1)  # (n, 2)
    scale = torch.tensor([1.0 / h, 1.0 / w], dtype=torch.float64, device=p.device)
    dist = torch.cdist(p * scale, q * scale)  # (m, n) in frame sides
    near = dist.argmin(dim=1)  # (m,) each one's nearest in frame c
    mutual = dist.argmin(dim=0)[near] == torch.arange(len(p), device=p.device)
    ratio = found.area[one] / found.area[two][near]
    keep = mutual & (dist.min(dim=1).values <= max_step) & (ratio < _AREA_RATIO) & (ratio > 1 / _AREA_RATIO)
    return (q[near] - p)[keep]


def object_speed(
    videos: torch.Tensor, *, threshold: float = 0.2, min_area: float = 1.0, max_step: float = 0.25
) -> Measured:
    """Object speed in ``videos (B, C, T, H, W)`` (T >= 2): the median step per frame of components
    paired between consecutive frames, per video, as :class:`Measured` ``(B,)`` (chapter 7).

    ``sides`` measures a step ``(dy/H, dx/W)`` in frame sides per frame (the units of
    :attr:`cogpe.data.Scene.velocity`), ``pixels`` ``(dy, dx)`` in pixels per frame. Pairs are mutual
    nearest centroids of round components at most ``max_step`` frame sides apart whose areas differ by
    less than a factor 2 (all components where a video has no round pair). On data: for one object
    within 12 % of its speed in every video (a bounce shortens a step), median within 2 %; with 1 to 3
    objects within 10 % of the range of their speeds in 7 videos of 10 at 16×16, 85 % at 32×32.

    >>> v = -torch.ones(1, 1, 3, 8, 12)
    >>> for t in range(3): v[0, 0, t, 2:5, 2 + 2 * t:5 + 2 * t] = 1.0   # 2 pixels right a frame
    >>> s = object_speed(v)
    >>> round(float(s.pixels[0]), 6), round(float(s.sides[0]), 6)
    (2.0, 0.166667)
    """
    v = _videos(videos, frames=2)
    max_step = check_factor("max_step", max_step)
    b, _, t, h, w = v.shape
    return _speed(objects(v, threshold=threshold, min_area=min_area), b, t, (h, w), max_step)


def _speed(found: Objects, b: int, t: int, size: tuple[int, int], max_step: float) -> Measured:
    """:func:`object_speed` of the :func:`objects` of a ``(B, ·, T, H, W)`` batch (T >= 2), ``size = (H, W)``."""
    h, w = size
    scale = torch.tensor([1.0 / h, 1.0 / w], dtype=torch.float64, device=found.y.device)
    sides, pixels = [], []
    round_ = found.roundness >= _ROUND
    for k in range(b):
        steps = torch.cat([_steps(found, round_, k * t + i, (h, w), max_step) for i in range(t - 1)])
        if not len(steps):  # every object merged with another all along: read the merged ones
            steps = torch.cat([_steps(found, round_ | True, k * t + i, (h, w), max_step) for i in range(t - 1)])
        none = torch.tensor(math.nan, dtype=torch.float64, device=found.y.device)
        sides.append((steps * scale).norm(dim=-1).quantile(0.5) if len(steps) else none)
        pixels.append(steps.norm(dim=-1).quantile(0.5) if len(steps) else none)
    return Measured(torch.stack(sides), torch.stack(pixels))


def repetition_profile(videos: torch.Tensor) -> torch.Tensor:
    """Temporal self-similarity of ``videos (B, C, T, H, W)`` at every lag: ``(B, T)`` float64, entry
    ``[b, lag]`` the normalised correlation of frames ``t`` and ``t + lag`` (all ``t``) after the video's
    mean frame is removed (chapter 7). Lag 0 is 1; a video that repeats with period P has 1 at lag P.

    Two empty residuals (identical frames) correlate 1, an empty with a non-empty one 0. Slow data
    videos read up to 0.86 at lags 1 and 2 (16 frames), falling with the lag; a loop reads 1 to 1e-9.

    >>> v = torch.randn(1, 1, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> repetition_profile(torch.cat([v, v, v], dim=2))[0].tolist()   # residuals r, -r, r, -r, r, -r
    [1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    """
    v = _videos(videos)
    b, _, t, _, _ = v.shape
    x = v - v.mean(dim=2, keepdim=True)  # (B, C, T, H, W)
    out = torch.ones(b, t, dtype=torch.float64, device=v.device)
    for lag in range(1, t):
        a, c = x[:, :, : t - lag].flatten(1), x[:, :, lag:].flatten(1)  # (B, C·(T-lag)·H·W)
        ea, ec = (a * a).sum(1), (c * c).sum(1)  # (B,)
        corr = (a * c).sum(1) / torch.sqrt(ea * ec).clamp_min(1e-300)
        empty = torch.where((ea == 0) & (ec == 0), 1.0, 0.0).double()
        out[:, lag] = torch.where(ea * ec > 0, corr, empty)
    return out.clamp(-1.0, 1.0)


def _lag(lag: object, frames: int) -> int:
    value = check_size("lag", lag, minimum=0, what="frames")
    if value >= frames:
        raise ValueError(f"lag={value} must be below the number of frames T={frames}; use 0 <= lag < {frames}")
    return value


def repetition(videos: torch.Tensor, lag: int) -> torch.Tensor:
    """Self-similarity of ``videos (B, C, T, H, W)`` at ``lag`` (0 <= lag < T): ``(B,)`` float64, one
    column of :func:`repetition_profile` (chapter 7). 1 means frame ``t + lag`` repeats frame ``t``.

    >>> v = torch.randn(2, 3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> repetition(v.repeat(1, 1, 2, 1, 1), 3).tolist()
    [1.0, 1.0]
    """
    v = _videos(videos)
    return repetition_profile(v)[:, _lag(lag, v.shape[2])]


def loop_period(videos: torch.Tensor, *, threshold: float = 0.9) -> torch.Tensor:
    """The period of ``videos (B, C, T, H, W)``: ``(B,)`` long, the smallest lag P >= 2 whose
    :func:`repetition` is at least ``threshold`` and above that at lag P − 1; 0 if none (chapter 7).

    A moving video's self-similarity falls with the lag; a loop's climbs back to 1 at its period. A
    frozen video (every lag 1) never climbs and reads 0 (its speed is 0). No data video reads a period
    (16×16 to 32×32, 8 and 16 frames, slowed 4× too); ``looped(v, P)`` reads P.

    >>> v = torch.randn(2, 3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> loop_period(v.repeat(1, 1, 3, 1, 1)).tolist(), loop_period(v).tolist()
    ([3, 3], [0, 0])
    """
    threshold = check_factor("threshold", threshold)
    if threshold > 1:
        raise ValueError(f"threshold={threshold} must be in (0, 1]: a correlation is at most 1")
    profile = repetition_profile(videos)  # (B, T)
    rises = (profile[:, 2:] >= threshold) & (profile[:, 2:] > profile[:, 1:-1])  # (B, T-2), lags 2..T-1
    t = profile.shape[1]
    lags = torch.arange(2, t + 1, device=profile.device)  # (T-1,): lag T stands for "none"
    found = torch.cat([rises, torch.ones_like(rises[:, :1])], dim=1)  # (B, T-1)
    first = torch.where(found, lags, t).amin(dim=1)  # (B,)
    return torch.where(first < t, first, 0)


class Behaviour(NamedTuple):
    """Every metric of one batch ``(B, C, T, H, W)`` (:func:`measure`; chapter 7): ``speed`` and ``scale``
    :class:`Measured` ``(B,)`` (speed NaN for T < 2), ``counts`` ``(B, T)`` long, ``period`` ``(B,)`` long
    (0: no loop; always 0 for T < 3)."""

    speed: Measured
    scale: Measured
    counts: torch.Tensor
    period: torch.Tensor


def measure(videos: torch.Tensor, *, threshold: float = 0.2, min_area: float = 1.0, max_step: float = 0.25,
            loop_threshold: float = 0.9, blocks: int = 1) -> Behaviour:
    """:func:`object_speed`, :func:`object_scale`, :func:`object_count` and :func:`loop_period` of
    ``videos (B, C, T, H, W)`` at once, the objects found once: the same numbers as the four calls
    (chapter 7's samples are measured this way, :func:`cogpe.videostats.behaviour_ratios`).

    ``blocks > 1`` measures the videos after averaging each ``blocks × blocks`` block of pixels (``H`` and
    ``W`` must be multiples of it), with lengths in pixels still those of the frame given: a mottled
    object, which the components split into fragments, is measured whole (chapter 7, section 7.10),
    while a data video keeps its count, and its scale within 5 % in 9 videos of 10 at 32 × 32 (the median
    within 1 %; tests/test_behaviour.py).

    >>> v = -torch.ones(1, 1, 3, 8, 12)
    >>> for t in range(3): v[0, 0, t, 2:5, 2 + 2 * t:5 + 2 * t] = 1.0
    >>> m = measure(v)
    >>> round(float(m.speed.pixels[0]), 6), m.counts.tolist(), m.period.tolist()
    (2.0, [[1, 1, 1]], [0])
    """
    v = _pooled(_videos(videos), blocks)
    b, _, t, h, w = v.shape
    found = objects(v, threshold=threshold, min_area=min_area)
    none = torch.full((b,), math.nan, dtype=torch.float64, device=v.device)
    speed = _speed(found, b, t, (h, w), check_factor("max_step", max_step)) if t >= 2 else Measured(none, none)
    period = loop_period(v, threshold=loop_threshold) if t >= 3 else torch.zeros(b, dtype=torch.long, device=v.device)
    scale = _scale(found, b, t, (h, w))
    return Behaviour(Measured(speed.sides, speed.pixels * blocks), Measured(scale.sides, scale.pixels * blocks),
                     _count(found, b, t), period)


def _pooled(v: torch.Tensor, blocks: object) -> torch.Tensor:
    """``v (B, C, T, H, W)`` with each ``blocks × blocks`` pixel block averaged: ``(B, C, T, H/blocks, W/blocks)``."""
    n = check_size("blocks", blocks)
    if n == 1:
        return v
    if v.shape[-2] % n or v.shape[-1] % n:
        raise ValueError(f"blocks={n} must divide the frame's height and width, got {tuple(v.shape[-2:])}")
    return F.avg_pool3d(v, (1, n, n))
