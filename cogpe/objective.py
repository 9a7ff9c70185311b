"""The denoising objective of the lab (chapter 7, section 7.2): corrupting videos, the held-out loss,
and sampling.

For a clean video ``x0``, noise ``ε`` and a level ``t ∈ [0, 1]`` (CogVideoX's family of objectives):

- ``"flow"`` (rectified flow / flow matching): ``x_t = (1 − t)·x0 + t·ε``, target velocity ``ε − x0``;
- ``"v"`` (v-prediction on the trigonometric schedule): ``x_t = cos(πt/2)·x0 + sin(πt/2)·ε``,
  target ``cos(πt/2)·ε − sin(πt/2)·x0``;

loss = mean squared error between the model's output and the target (:func:`corrupt`). Training draws
``t ~ U(0, 1)``; :func:`evaluate` measures the loss on a fixed held-out set; :func:`sample` integrates
from pure noise back to a video.

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

from ._checks import check_choice, check_size
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
    "sample",
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
) -> float:
    """Denoising loss on a fixed held-out set: videos ``0 … n_videos−1`` of the ``"val"`` split at ``resolution``.

    ``extent`` > 1 evaluates on scenes of a wider field of view (a spatial canvas, :mod:`cogpe.data`).

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
                                               extent, device):
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


def _heldout_batches(data, resolution, n_videos, seed, objective, timesteps, batch_size, extent, device):
    """:func:`evaluate`'s inputs in batches: ``(x_t (b, C, T, H, W), t (b,), target (b, C, T, H, W))``."""
    n_videos = check_size("n_videos", n_videos)
    batch_size = check_size("batch_size", batch_size)
    check_choice("objective", objective, OBJECTIVES)
    frames, height, width = resolution
    dataset = VideoDataset(data, frames, height, width, length=n_videos, split="val", seed=seed, extent=extent)
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
                                          device):
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
) -> torch.Tensor:
    """Generate ``n`` videos ``(n, C, T, H, W)`` at ``resolution = (frames, height, width)``, on CPU.

    Integrates from pure noise at ``t = 1`` to ``t = 0`` over ``steps`` equal steps: Euler on the
    flow-matching ODE ``dx/dt = v`` (``"flow"``), DDIM with the predicted ``x0, ε`` (``"v"``). The
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
    grid = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
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
