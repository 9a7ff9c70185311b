"""The denoising objective of the lab (chapter 7, section 7.2): corrupting videos, the held-out loss,
and sampling.

For a clean video ``x0``, noise ``ε`` and a level ``t ∈ [0, 1]`` — two continuous-time objectives of
the denoising family, not CogVideoX's own (a discrete DDPM with v-prediction and zero terminal SNR,
yang2024cogvideox):

- ``"flow"`` (rectified flow / flow matching): ``x_t = (1 − t)·x0 + t·ε``, target velocity ``ε − x0``;
- ``"v"`` (v-prediction on the trigonometric schedule): ``x_t = cos(πt/2)·x0 + sin(πt/2)·ε``,
  target ``cos(πt/2)·ε − sin(πt/2)·x0``;

loss = mean squared error between the model's output and the target (:func:`corrupt`). Training draws
``t ~ U(0, 1)``; :func:`evaluate` measures the loss on a fixed held-out set; :func:`sample` integrates
from pure noise back to a video.

**Resolution-dependent shift.** More tokens average away more noise: at the same level a larger video
keeps more of its global structure visible, so video diffusion models shift the levels toward noise as
the token count grows (esser2024scaling, section 5.3.2; flow-matching video models such as Wan sample
with a shifted schedule too).
:func:`shift_levels` multiplies the noise-to-signal ratio ``σ/α`` by ``s`` — for ``"flow"``
``t' = s·t / (1 + (s − 1)·t)``, for ``"v"`` ``tan(πt'/2) = s·tan(πt/2)`` — and
:func:`resolution_shift` gives ``s = √(N/N0)`` for ``N`` tokens against a base of ``N0``. The lab
applies it (when its configuration asks) to the levels a stage trains on and the levels it samples
with; held-out losses stay on unshifted levels, so that every run is measured on the same levels.

Determinism: nothing draws from a global random stream. The noise and level of video ``i`` come from a
generator keyed on ``(stream, seed, i)`` (:func:`noise_and_levels`), with one stream for training, one for
evaluation and one for sampling — so a video's draw does not depend on the batch it is in, on the
number of processes, or on anything drawn before.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Sequence, cast

import numpy as np
import torch

from ._checks import check_choice, check_grid, check_size
from .data import DataConfig, VideoDataset
from .runfiles import autocast

if TYPE_CHECKING:  # the model only types arguments here; running needs no import of it
    from .model import VideoDiT

__all__ = [
    "NOISE_STREAMS",
    "OBJECTIVES",
    "corrupt",
    "evaluate",
    "heldout_attention_entropy",
    "keyed_generator",
    "noise_and_levels",
    "resolution_shift",
    "sample",
    "shift_levels",
]

OBJECTIVES = ("flow", "v")
#: The independent random streams of :func:`noise_and_levels`, and the integer each is keyed on.
NOISE_STREAMS = {"train": 1, "eval": 2, "sample": 3}


def corrupt(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, objective: str = "flow"):
    """Noisy input and regression target: ``(x_t, target)``, both shaped like ``x0 (B, ...)``; ``t (B,)``.

    ``"flow"``: ``x_t = (1−t)·x0 + t·ε``, target ``ε − x0``. ``"v"``: ``x_t = α·x0 + σ·ε``, target
    ``α·ε − σ·x0`` with ``α = cos(πt/2)``, ``σ = sin(πt/2)``.

    >>> x_t, target = corrupt(torch.ones(1, 2), torch.zeros(1, 2), torch.tensor([0.25]))
    >>> x_t, target
    (tensor([[0.7500, 0.7500]]), tensor([[-1., -1.]]))
    """
    check_choice("objective", objective, OBJECTIVES)
    tt = t.to(x0.dtype).reshape(-1, *([1] * (x0.ndim - 1)))  # (B, 1, ...)
    if objective == "flow":
        return (1 - tt) * x0 + tt * noise, noise - x0
    alpha, sigma = torch.cos(tt * math.pi / 2), torch.sin(tt * math.pi / 2)
    return alpha * x0 + sigma * noise, alpha * noise - sigma * x0


def keyed_generator(*key: int) -> torch.Generator:
    """A CPU generator seeded from the integers ``key`` through numpy's SeedSequence (well-mixed,
    platform-independent).

    >>> torch.equal(torch.randn(3, generator=keyed_generator(1, 2)), torch.randn(3, generator=keyed_generator(1, 2)))
    True
    """
    state = np.random.SeedSequence(list(key)).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def shift_levels(t: torch.Tensor, shift: float, objective: str = "flow") -> torch.Tensor:
    """Levels ``t (...)`` in ``[0, 1]`` shifted so that ``σ/α`` is ``shift`` times larger: same shape and dtype.

    ``"flow"``: ``t' = s·t / (1 + (s − 1)·t)``; ``"v"``: ``t' = (2/π)·atan(s·tan(πt/2))``. ``shift = 1``
    returns ``t``; 0 and 1 are fixed points (module docstring).

    >>> shift_levels(torch.tensor([0.0, 0.5, 1.0]), 3.0)
    tensor([0.0000, 0.7500, 1.0000])
    """
    if isinstance(shift, bool) or not isinstance(shift, numbers.Real) or not 0 < shift < math.inf:
        raise ValueError(f"shift must be a finite number > 0 (1: no shift), got {shift!r}")
    check_choice("objective", objective, OBJECTIVES)
    if shift == 1:
        return t
    if objective == "flow":
        return shift * t / (1 + (shift - 1) * t)
    out = torch.atan(shift * torch.tan(t.double() * (math.pi / 2))) * (2 / math.pi)
    return torch.where(t >= 1, torch.ones_like(t), out.to(t.dtype))  # tan(π/2) is finite in floats


def resolution_shift(grid: Sequence[int], base_grid: Sequence[int]) -> float:
    """The shift ``√(N/N0)`` for a token grid ``(T, H, W)`` of ``N`` tokens against ``base_grid`` (``N0``).

    >>> resolution_shift((8, 8, 8), (8, 4, 4))
    2.0
    """
    n, n0 = (math.prod(check_grid(name, g)) for name, g in (("grid", grid), ("base_grid", base_grid)))
    return math.sqrt(n / n0)


def noise_and_levels(stream: str, seed: int, indices: Sequence[int], shape):
    """Per-video noise ``(B, *shape)`` and levels ``(B,)`` in ``[0, 1)``, for videos ``indices`` (``B`` of them).

    Video ``i``'s draw comes from a generator keyed on ``(NOISE_STREAMS[stream], seed, i)`` and does not
    depend on the other indices: a DDP process drawing only its slice of a global batch gets exactly the
    single-process values.

    >>> noise, t = noise_and_levels("train", 0, [5, 6], (3, 2, 4, 4))
    >>> noise.shape, t.shape, torch.equal(noise[1], noise_and_levels("train", 0, [6], (3, 2, 4, 4))[0][0])
    (torch.Size([2, 3, 2, 4, 4]), torch.Size([2]), True)
    """
    tag = NOISE_STREAMS[check_choice("stream", stream, tuple(NOISE_STREAMS))]
    noise, t = [], []
    for i in indices:
        g = keyed_generator(tag, seed, i)
        t.append(torch.rand((), generator=g, dtype=torch.float64))
        noise.append(torch.randn(tuple(shape), generator=g))
    return torch.stack(noise), torch.stack(t).float()


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    data: DataConfig,
    resolution,
    *,
    n_videos: int = 16,
    seed: int = 0,
    objective: str = "flow",
    timesteps: Sequence[float] | None = None,
    batch_size: int = 16,
    extent: float = 1.0,
    frame_step: float = 1.0,
) -> float:
    """Denoising loss on a fixed held-out set: videos ``0 … n_videos−1`` of the ``"val"`` split at ``resolution``.

    ``extent`` > 1 evaluates on scenes of a wider field of view (a spatial canvas, :mod:`cogpe.data`);
    ``frame_step`` < 1 on the same clips at a higher frame rate (a temporal zoom).

    ``resolution = (frames, height, width)`` in pixels. Video ``i`` gets noise from the ``"eval"`` stream
    keyed on ``(seed, i)`` and the level ``t_i = (i + ½)/n_videos`` (a midpoint rule over ``t``), or every
    level in ``timesteps`` when given. Deterministic; the same number for every batch size up to float
    rounding. Returns the mean squared error (a float).

    >>> from cogpe.model import ModelConfig, VideoDiT
    >>> model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2)))
    >>> loss = evaluate(model, DataConfig(), (2, 8, 8), n_videos=2)
    >>> loss == evaluate(model, DataConfig(), (2, 8, 8), n_videos=2, batch_size=1)
    True
    """
    module = getattr(model, "module", model)
    device = next(module.parameters()).device
    total, count = 0.0, 0
    with _eval_mode(module):
        for x_t, t, target in _heldout_batches(data, resolution, n_videos, seed, objective, timesteps, batch_size,
                                               extent, frame_step, device):
            with autocast(device):
                pred = module(x_t, t)
            err = (pred.float() - target).pow(2).flatten(1).mean(1)  # (b,)
            total += err.double().sum().item()
            count += len(t)
    return total / count


@contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    """``module`` in eval mode for the block; its training flag restored afterwards, also on error."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _heldout_batches(data, resolution, n_videos, seed, objective, timesteps, batch_size, extent, frame_step,
                     device):
    """:func:`evaluate`'s inputs in batches: ``(x_t (b, C, T, H, W), t (b,), target (b, C, T, H, W))``."""
    n_videos = check_size("n_videos", n_videos)
    batch_size = check_size("batch_size", batch_size)
    check_choice("objective", objective, OBJECTIVES)
    frames, height, width = resolution
    dataset = VideoDataset(data, frames, height, width, length=n_videos, split="val", seed=seed, extent=extent,
                           frame_step=frame_step)
    if timesteps is None:
        spread = (torch.arange(n_videos, dtype=torch.float64) + 0.5).div(n_videos).float()  # (i + ½)/n
        jobs = [(i, spread[i]) for i in range(n_videos)]
    else:
        levels = [torch.tensor(_check_level(t)) for t in timesteps]
        jobs = [(i, t) for i in range(n_videos) for t in levels]
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        idx = [i for i, _ in chunk]
        x0 = dataset.batch(idx, device=device)  # (b, C, T, H, W)
        noise, _ = noise_and_levels("eval", seed, idx, x0.shape[1:])
        t = torch.stack([lv for _, lv in chunk]).float().to(device)  # (b,)
        x_t, target = corrupt(x0, noise.to(device), t, objective)
        yield x_t, t, target


@torch.no_grad()
def heldout_attention_entropy(
    model: torch.nn.Module,
    data: DataConfig,
    resolution,
    *,
    n_videos: int = 16,
    seed: int = 0,
    objective: str = "flow",
    extent: float = 1.0,
    batch_size: int = 16,
    frame_step: float = 1.0,
) -> list[float]:
    """Mean attention entropy per block (nats; :meth:`cogpe.model.VideoDiT.attention_entropy`) on the
    inputs :func:`evaluate` uses — the same videos, noise and levels — at ``resolution`` (pixels).

    >>> from cogpe.model import ModelConfig, VideoDiT
    >>> model = VideoDiT(ModelConfig(width=32, depth=2, heads=2, base_grid=(2, 2, 2)))
    >>> len(heldout_attention_entropy(model, DataConfig(), (2, 8, 8), n_videos=2))
    2
    """
    module = cast("VideoDiT", getattr(model, "module", model))
    device = next(module.parameters()).device
    sums, count = None, 0
    with _eval_mode(module):
        for x_t, t, _ in _heldout_batches(data, resolution, n_videos, seed, objective, None, batch_size, extent,
                                          frame_step, device):
            h = module.attention_entropy(x_t, t) * len(t)  # (depth,), weighted by the batch
            sums = h if sums is None else sums + h
            count += len(t)
    assert sums is not None
    return (sums / count).tolist()


def _check_level(t: object) -> float:
    """A noise level in ``[0, 1]``."""
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= float(t) <= 1:
        raise ValueError(f"timesteps must be numbers in [0, 1], got {t!r}")
    return float(t)


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    n: int,
    resolution,
    *,
    steps: int = 20,
    seed: int = 0,
    objective: str = "flow",
    channels: int | None = None,
    shift: float = 1.0,
) -> torch.Tensor:
    """Generate ``n`` videos ``(n, C, T, H, W)`` at ``resolution = (frames, height, width)``, on CPU.

    Integrates from pure noise at ``t = 1`` to ``t = 0`` over ``steps`` equal steps: Euler on the
    flow-matching ODE ``dx/dt = v`` (``"flow"``), DDIM with the predicted ``x0, ε`` (``"v"``); with
    ``shift`` ≠ 1 the steps are equal in the unshifted level and mapped through :func:`shift_levels`. The
    initial noise of video ``i`` comes from the ``"sample"`` stream keyed on ``(seed, i)``. Output
    clamped to [-1, 1].

    >>> from cogpe.model import ModelConfig, VideoDiT
    >>> model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2)))
    >>> sample(model, 2, (2, 8, 8), steps=2).shape
    torch.Size([2, 3, 2, 8, 8])
    """
    n = check_size("n", n)
    steps = check_size("steps", steps)
    check_choice("objective", objective, OBJECTIVES)
    module: VideoDiT = cast("VideoDiT", getattr(model, "module", model))  # a VideoDiT, or DDP around one
    c = module.config.in_channels if channels is None else channels
    module.config.token_grid(*resolution)
    device = next(module.parameters()).device
    x, _ = noise_and_levels("sample", seed, range(n), (c, *resolution))
    x = x.to(device)
    grid = shift_levels(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift, objective)
    with _eval_mode(module):
        for t_now, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
            t = torch.full((n,), t_now, device=device)
            with autocast(device):
                v = module(x, t).float()
            if objective == "flow":
                x = x + (t_next - t_now) * v
            else:
                a, s = math.cos(t_now * math.pi / 2), math.sin(t_now * math.pi / 2)
                x0, eps = a * x - s * v, s * x + a * v
                a2, s2 = math.cos(t_next * math.pi / 2), math.sin(t_next * math.pi / 2)
                x = a2 * x0 + s2 * eps
    return x.clamp(-1.0, 1.0).cpu()
