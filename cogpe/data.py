"""Procedural videos for the lab: moving, occluding shapes rendered at any size and length (chapter 7).

A *scene* is a handful of objects — discs, rings, triangles, squares — with a colour, a size and a
velocity measured **relative to the frame**, bouncing elastically off the frame's borders, over a
smooth background. Nothing is simulated step by step: every object's centre is a closed-form function
of time (a reflected straight line), so a scene can be rendered

- at **any resolution** ``H × W``: the same scene at 16×16 and at 32×32 is the same picture sampled
  twice as densely — a *zoom* (chapter 7, section 7.1), so a resolution change is a pure token-grid change;
- at **any number of frames** ``T``: frame ``k`` shows time ``start + k·frame_step`` (in units of the
  base frame interval). More frames with ``frame_step=1`` is a longer clip at the same fps (a temporal
  *canvas*: its first frames equal the shorter clip), ``frame_step=1/2`` the same clip at twice the fps
  (a temporal *zoom*);
- over a **wider field of view** (a spatial *canvas*): a scene of ``extent`` e lives on the square
  ``[0, e]²`` instead of the unit square, with objects of the same sizes and speeds (in units of the
  base frame) at the same density (e² times as many), and fills the whole frame. Rendered at e times
  the pixels it has the pixels per object and per frame of motion of the ``extent=1`` rendering — more
  of the same kind of world, not a magnified one (the background's gentle colour ramp still spans the
  frame, so no colour leaves the range).

Scenes are sampled deterministically from ``(seed, split, index)`` (numpy ``SeedSequence``), so video
``i`` of a split is the same at every size, on every machine, in every process of a distributed run.

Coordinates: ``y`` down the frame, ``x`` across, both in ``[0, e]`` (``e = 1`` unless a canvas); pixel
``(i, j)`` of an ``H × W`` frame samples ``e·((i + ½)/H, (j + ½)/W)``. A non-square frame stretches the
square. Edges are anti-aliased over one pixel (coverage ``clamp(½ − d·ppu, 0, 1)`` for a signed distance
``d`` and ``ppu = √(H·W)/e`` pixels per unit), which keeps a low-resolution rendering close to an average-pooled
high-resolution one. Videos are float32 in ``[-1, 1]``, laid out ``(C, T, H, W)`` — ``(B, C, T, H, W)``
for a batch.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.types import Device

from ._checks import check_choice, check_factor, check_size

__all__ = [
    "DataConfig",
    "SHAPES",
    "SPLITS",
    "Scene",
    "VideoDataset",
    "check_extent",
    "object_counts",
    "render",
    "sample_scenes",
    "trajectory",
]

#: Object kinds, in the order of their integer codes in :class:`Scene`.
SHAPES = ("disc", "ring", "triangle", "square")
#: Named splits; each draws scenes from its own seed stream.
SPLITS = ("train", "val", "test")

_DISC, _RING, _TRIANGLE, _SQUARE = range(4)


@dataclass(frozen=True)
class DataConfig:
    """What scenes look like. Sizes and speeds are fractions of the frame, so they hold at any resolution.

    - ``min_objects`` … ``max_objects`` objects per scene, drawn back to front (later ones occlude);
    - ``shapes``: names from :data:`SHAPES`;
    - ``size``: range of an object's circumradius (fraction of the frame side);
    - ``speed``: range of the speed in frame sides per base frame (direction uniform);
    - ``spin``: largest angular speed of triangles and squares, radians per base frame;
    - ``gradient``: amplitude of the background's linear colour gradient (0 for a flat background);
    - ``channels``: 3 (RGB) or 1 (luminance).

    >>> DataConfig(max_objects=2).max_objects
    2
    """

    min_objects: int = 1
    max_objects: int = 3
    shapes: tuple[str, ...] = SHAPES
    size: tuple[float, float] = (0.12, 0.24)
    speed: tuple[float, float] = (0.03, 0.09)
    spin: float = 0.2
    gradient: float = 0.25
    channels: int = 3

    def __post_init__(self) -> None:
        lo = check_size("min_objects", self.min_objects, what="objects")
        hi = check_size("max_objects", self.max_objects, what="objects")
        if lo > hi:
            raise ValueError(f"min_objects={lo} is larger than max_objects={hi}; use min_objects <= max_objects")
        if isinstance(self.shapes, str) or not isinstance(self.shapes, Sequence) or not self.shapes:
            raise TypeError(f"shapes must be a non-empty tuple of names from {SHAPES}, got {self.shapes!r}")
        for s in self.shapes:
            check_choice("shape", s, SHAPES)
        object.__setattr__(self, "shapes", tuple(self.shapes))
        for name, upper in (("size", 0.5), ("speed", None)):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
                raise TypeError(f"{name} must be a (low, high) pair of fractions of the frame, got {value!r}")
            a, b = (check_factor(f"{name}[{i}]", v) for i, v in enumerate(value))
            if a > b:
                raise ValueError(f"{name}={value!r} must be (low, high) with low <= high")
            if upper is not None and b >= upper:
                raise ValueError(
                    f"{name}={value!r}: an object of circumradius {b} does not fit in the frame; "
                    f"use sizes below {upper}"
                )
            object.__setattr__(self, name, (a, b))
        for name, amount in (("spin", self.spin), ("gradient", self.gradient)):
            if isinstance(amount, bool) or not isinstance(amount, numbers.Real) or not 0 <= amount < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {amount!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 3 (RGB) or 1 (luminance), got {self.channels!r}")


@dataclass(frozen=True)
class Scene:
    """A batch of ``B`` scenes of up to ``K`` objects; float64 tensors unless stated.

    - ``kind`` ``(B, K)`` long: index into :data:`SHAPES`;
    - ``active`` ``(B, K)`` bool: objects beyond a scene's count are inactive (not drawn);
    - ``center`` ``(B, K, 2)``: ``(y, x)`` at time 0, inside ``[r, e − r]``;
    - ``velocity`` ``(B, K, 2)``: ``(dy, dx)`` per base frame;
    - ``radius`` ``(B, K)``: circumradius ``r``;
    - ``angle``, ``spin`` ``(B, K)``: orientation at time 0 and its change per base frame;
    - ``color`` ``(B, K, 3)`` and ``background`` ``(B, 3)`` in ``[-1, 1]``; ``gradient`` ``(B, 2, 3)``
      the background's change across the frame along ``(y, x)``, about its centre;
    - ``extent`` ``(B,)``: the side ``e`` of the square the scene lives on (1 unless a spatial canvas).
    """

    kind: torch.Tensor
    active: torch.Tensor
    center: torch.Tensor
    velocity: torch.Tensor
    radius: torch.Tensor
    angle: torch.Tensor
    spin: torch.Tensor
    color: torch.Tensor
    background: torch.Tensor
    gradient: torch.Tensor
    extent: torch.Tensor

    def __len__(self) -> int:
        return self.kind.shape[0]

    def __getitem__(self, item: int | slice | torch.Tensor | Sequence[int]) -> Scene:
        """Scenes ``item`` (an int, slice or index tensor) as a batch; an int keeps a batch of one."""
        if isinstance(item, numbers.Integral):
            item = slice(item, item + 1 if item != -1 else None)
        return Scene(**{f.name: getattr(self, f.name)[item] for f in fields(self)})

    def to(self, device: Device) -> Scene:
        """The same scenes with every tensor on ``device``."""
        return Scene(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] to RGB in [0, 1]: ``(...,)`` × 3 -> ``(..., 3)``."""
    n = np.array([5.0, 3.0, 1.0])  # r, g, b
    k = (n + h[..., None] * 6.0) % 6.0
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _seed_sequence(seed: int, split: str, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, SPLITS.index(split), index])


def object_counts(config: DataConfig, extent: float = 1.0) -> tuple[int, int]:
    """The fewest and most objects of a scene of ``extent`` (the same density as at ``extent=1``).

    >>> object_counts(DataConfig(), 2.0)
    (4, 12)
    """
    area = extent * extent
    return max(1, round(config.min_objects * area)), max(1, round(config.max_objects * area))


def _sample_one(config: DataConfig, rng: np.random.Generator, extent: float) -> dict[str, np.ndarray]:
    """One scene as numpy arrays (K = the most objects at ``extent``, :func:`object_counts`)."""
    low, k = object_counts(config, extent)
    count = rng.integers(low, k + 1)
    codes = np.array([SHAPES.index(s) for s in config.shapes])
    radius = rng.uniform(*config.size, size=k)
    center = rng.uniform(radius[:, None], extent - radius[:, None], size=(k, 2))
    speed = rng.uniform(*config.speed, size=k)
    direction = rng.uniform(0.0, 2.0 * math.pi, size=k)
    hue = rng.uniform(0.0, 1.0, size=k)
    color = _hsv_to_rgb(hue, rng.uniform(0.6, 1.0, size=k), rng.uniform(0.75, 1.0, size=k))
    bg = _hsv_to_rgb(rng.uniform(0.0, 1.0, size=()), rng.uniform(0.0, 0.6, size=()), rng.uniform(0.05, 0.35, size=()))
    return {
        "kind": codes[rng.integers(0, len(codes), size=k)],
        "active": np.arange(k) < count,
        "center": center,
        "velocity": speed[:, None] * np.stack([np.sin(direction), np.cos(direction)], axis=-1),
        "radius": radius,
        "angle": rng.uniform(0.0, 2.0 * math.pi, size=k),
        "spin": rng.uniform(-config.spin, config.spin, size=k),
        "color": 2.0 * color - 1.0,
        "background": 2.0 * bg - 1.0,
        "gradient": rng.uniform(-config.gradient, config.gradient, size=(2, 3)),
        "extent": np.float64(extent),
    }


def sample_scenes(
    config: DataConfig,
    indices: int | Sequence[int] | torch.Tensor,
    *,
    seed: int = 0,
    split: str = "train",
    extent: float = 1.0,
) -> Scene:
    """Scenes number ``indices`` (ints ≥ 0) of ``split`` under ``seed``: a :class:`Scene` batch of ``len(indices)``.

    Scene ``i`` depends only on ``(config, seed, split, i, extent)`` — not on which other indices are
    asked for. ``extent`` e > 0 is the side of the square the scenes live on (module docstring: a
    spatial canvas for e > 1); every object must fit, so e must exceed twice the largest size.

    >>> a = sample_scenes(DataConfig(), [3, 7])
    >>> b = sample_scenes(DataConfig(), [7])
    >>> torch.equal(a.center[1:], b.center)
    True
    """
    if not isinstance(config, DataConfig):
        raise TypeError(f"config must be a DataConfig, got {type(config).__name__}")
    seed = check_size("seed", seed, minimum=0, what="a seed")
    check_choice("split", split, SPLITS)
    extent = check_extent(config, extent)
    flat = indices.tolist() if isinstance(indices, torch.Tensor) else indices  # a number for a 0-d tensor
    items: Iterable[object] = [flat] if isinstance(flat, (int, numbers.Integral)) else flat
    picked = [check_size(f"indices[{j}]", i, minimum=0, what="a video index") for j, i in enumerate(items)]
    if not picked:
        raise ValueError("indices is empty; ask for at least one scene")
    rows = [_sample_one(config, np.random.default_rng(_seed_sequence(seed, split, i)), extent) for i in picked]
    stacked = {name: np.stack([r[name] for r in rows]) for name in rows[0]}
    return Scene(**{name: torch.from_numpy(value) for name, value in stacked.items()})


def check_extent(config: DataConfig, extent: object) -> float:
    """``extent`` as a float, or a ValueError naming it when it is not a number that fits every object."""
    value = check_factor("extent", extent)
    if value <= 2 * config.size[1]:
        raise ValueError(
            f"extent={extent!r} leaves no room for objects of circumradius up to {config.size[1]}; "
            f"use an extent above {2 * config.size[1]:g} (1 is the trained field of view, 2 a canvas twice as wide)"
        )
    return value


def _fold(u: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Reflect ``u`` into ``[0, length]`` (a triangle wave of period ``2·length``): elastic bounces."""
    return length - (torch.remainder(u, 2.0 * length) - length).abs()


def _times(frames: int, frame_step: float, start: float, device: Device = None) -> torch.Tensor:
    frames = check_size("frames", frames, what="frames")
    frame_step = check_factor("frame_step", frame_step)
    if isinstance(start, bool) or not isinstance(start, numbers.Real) or not math.isfinite(start):
        raise ValueError(f"start must be a finite number of base frames, got {start!r}")
    return float(start) + frame_step * torch.arange(frames, dtype=torch.float64, device=device)


def trajectory(scene: Scene, frames: int, *, frame_step: float = 1.0, start: float = 0.0) -> torch.Tensor:
    """Object centres ``(y, x)`` over time: ``(B, K, T, 2)`` float64, each inside ``[r, e − r]``.

    Free flight ``c + v·t`` reflected off the borders of the box the centre may occupy (side ``e − 2r``).

    >>> scene = sample_scenes(DataConfig(), [0])
    >>> trajectory(scene, 100).shape
    torch.Size([1, 3, 100, 2])
    """
    t = _times(frames, frame_step, start, scene.center.device)  # (T,)
    r = scene.radius[..., None, None]  # (B, K, 1, 1)
    e = scene.extent[:, None, None, None]  # (B, 1, 1, 1)
    free = scene.center[:, :, None, :] + scene.velocity[:, :, None, :] * t[None, None, :, None]  # (B, K, T, 2)
    return r + _fold(free - r, e - 2.0 * r)


def render(
    scene: Scene,
    frames: int,
    height: int,
    width: int,
    *,
    frame_step: float = 1.0,
    start: float = 0.0,
    channels: int = 3,
    device: Device = None,
) -> torch.Tensor:
    """Render ``scene`` as videos ``(B, C, T, H, W)``, float32 in ``[-1, 1]`` (C = ``channels``, 3 or 1).

    Frame ``k`` shows time ``start + k·frame_step`` base frames. Objects are composited back to front
    ("over"), each with one pixel of anti-aliasing. ``device`` renders there (e.g. on the GPU that
    trains; the scene tensors are moved), by default where the scene's tensors are.

    >>> scene = sample_scenes(DataConfig(), [0, 1])
    >>> render(scene, 8, 16, 24).shape
    torch.Size([2, 3, 8, 16, 24])
    """
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a Scene (see sample_scenes), got {type(scene).__name__}")
    height, width = check_size("height", height, what="pixels"), check_size("width", width, what="pixels")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 3 (RGB) or 1 (luminance), got {channels!r}")
    if device is not None:
        scene = scene.to(device)
    dev = scene.center.device
    t = _times(frames, frame_step, start, dev)  # (T,)
    f32 = torch.float32
    e = scene.extent[:, None]  # (B, 1)
    ppu = (math.sqrt(height * width) / e).to(f32)[:, :, None, None, None]  # (B, 1, 1, 1, 1) pixels per unit
    fy = (torch.arange(height, dtype=torch.float64, device=dev) + 0.5) / height  # (H,) fraction of the frame
    fx = (torch.arange(width, dtype=torch.float64, device=dev) + 0.5) / width  # (W,)
    y, x = (e * fy).to(f32), (e * fx).to(f32)  # (B, H), (B, W)

    centres = trajectory(scene, frames, frame_step=frame_step, start=start).to(f32)  # (B, K, T, 2)
    dy = y[:, None, None, :, None] - centres[..., 0, None, None]  # (B, K, T, H, 1)
    dx = x[:, None, None, None, :] - centres[..., 1, None, None]  # (B, K, T, 1, W)
    dist = torch.sqrt(dy * dy + dx * dx)  # (B, K, T, H, W)
    r = scene.radius.to(f32)[..., None, None, None]  # (B, K, 1, 1, 1)
    kind = scene.kind[..., None, None, None]  # (B, K, 1, 1, 1)

    # Regular n-gon of circumradius r: distance to the nearest edge line, r_p·cos(δ) − r·cos(π/n), where δ
    # is the polar angle's offset from the nearest edge normal (an exact SDF inside, a bound outside).
    sides = torch.where(kind == _TRIANGLE, 3.0, 4.0)  # (B, K, 1, 1, 1)
    angle = (scene.angle[:, :, None] + scene.spin[:, :, None] * t[None, None, :]).to(f32)  # (B, K, T)
    sector = 2.0 * math.pi / sides
    rel = torch.atan2(dy, dx) - angle[..., None, None]  # (B, K, T, H, W)
    delta = torch.remainder(rel + sector / 2, sector) - sector / 2
    sdf_poly = dist * torch.cos(delta) - r * torch.cos(math.pi / sides)
    sdf_disc = dist - 0.8 * r
    sdf_ring = (dist - 0.65 * r).abs() - 0.2 * r
    sdf = torch.where(kind == _DISC, sdf_disc, torch.where(kind == _RING, sdf_ring, sdf_poly))
    alpha = (0.5 - sdf * ppu).clamp(0.0, 1.0) * scene.active[..., None, None, None]  # (B, K, T, H, W)

    bg = scene.background.to(f32)[:, :, None, None]  # (B, 3, 1, 1)
    grad = scene.gradient.to(f32)  # (B, 2, 3)
    ry, rx = fy.to(f32) - 0.5, fx.to(f32) - 0.5  # (H,), (W,): the ramp spans the frame at any extent
    video = bg + grad[:, 0, :, None, None] * ry[None, None, :, None] + grad[:, 1, :, None, None] * rx
    video = video[:, :, None].expand(-1, -1, len(t), -1, -1)  # (B, 3, T, H, W)
    color = scene.color.to(f32)  # (B, K, 3)
    for k in range(scene.kind.shape[1]):  # back to front
        a = alpha[:, k, None]  # (B, 1, T, H, W)
        video = video * (1.0 - a) + color[:, k, :, None, None, None] * a
    video = video.clamp(-1.0, 1.0)
    if channels == 1:
        lum = torch.tensor([0.299, 0.587, 0.114], dtype=f32, device=dev)
        video = torch.einsum("bcthw,c->bthw", video, lum)[:, None]  # (B, 1, T, H, W)
    return video.contiguous()


class VideoDataset(torch.utils.data.Dataset[torch.Tensor]):
    """``length`` procedural videos of ``split``, each ``(C, T, H, W)`` float32 in ``[-1, 1]``.

    Item ``i`` is scene ``i`` of :func:`sample_scenes` (of ``extent``) rendered at ``frames × height × width``;
    :meth:`resized` gives the same scenes at another size or length. :meth:`batch` renders many
    items at once (vectorised; equal to stacking the items), which is what the trainer uses; the
    dataset also works with a :class:`torch.utils.data.DataLoader`.

    >>> ds = VideoDataset(DataConfig(), frames=8, height=16, width=16, length=4)
    >>> ds[0].shape, len(ds)
    (torch.Size([3, 8, 16, 16]), 4)
    >>> torch.equal(ds.batch([0, 1])[1], ds[1])
    True
    """

    def __init__(
        self,
        config: DataConfig,
        frames: int,
        height: int,
        width: int,
        *,
        length: int = 1024,
        split: str = "train",
        seed: int = 0,
        frame_step: float = 1.0,
        extent: float = 1.0,
    ) -> None:
        if not isinstance(config, DataConfig):
            raise TypeError(f"config must be a DataConfig, got {type(config).__name__}")
        self.config = config
        self.frames = check_size("frames", frames, what="frames")
        self.height = check_size("height", height, what="pixels")
        self.width = check_size("width", width, what="pixels")
        self.length = check_size("length", length, what="videos")
        self.split = check_choice("split", split, SPLITS)
        self.seed = check_size("seed", seed, minimum=0, what="a seed")
        self.frame_step = check_factor("frame_step", frame_step)
        self.extent = check_extent(config, extent)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (
            f"VideoDataset(split={self.split!r}, seed={self.seed}, length={self.length}, "
            f"frames={self.frames}, height={self.height}, width={self.width}, frame_step={self.frame_step}, "
            f"extent={self.extent})"
        )

    def _index(self, i: object) -> int:
        if isinstance(i, torch.Tensor) and i.ndim == 0:
            i = int(i)
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"index must be an int, got {i!r}")
        index = int(i)
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} is out of range for a dataset of length {self.length}")
        return index % self.length

    def scenes(self, indices: Sequence[int] | torch.Tensor) -> Scene:
        """The :class:`Scene` batch behind items ``indices``."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        return sample_scenes(self.config, [self._index(i) for i in indices], seed=self.seed, split=self.split,
                             extent=self.extent)

    def batch(self, indices: Sequence[int] | torch.Tensor, *, device: Device = None) -> torch.Tensor:
        """Items ``indices`` stacked: ``(B, C, T, H, W)``, rendered in one vectorised call (on ``device``)."""
        return render(
            self.scenes(indices), self.frames, self.height, self.width,
            frame_step=self.frame_step, channels=self.config.channels, device=device,
        )

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.batch([i])[0]

    def resized(self, frames: int | None = None, height: int | None = None, width: int | None = None,
                *, frame_step: float | None = None, extent: float | None = None) -> "VideoDataset":
        """The same scenes at another size, length or frame step, or scenes of another ``extent``
        (``None`` keeps the current value)."""
        return VideoDataset(
            self.config,
            self.frames if frames is None else frames,
            self.height if height is None else height,
            self.width if width is None else width,
            length=self.length,
            split=self.split,
            seed=self.seed,
            frame_step=self.frame_step if frame_step is None else frame_step,
            extent=self.extent if extent is None else extent,
        )
