"""Progressive training of :class:`cogpe.model.VideoDiT` on :mod:`cogpe.data` videos (chapter 7).

CogVideoX trains at a low resolution first and then at a high one; this module does the same at toy
scale. A :class:`TrainConfig` is a list of :class:`Stage` s — (frames, height, width, steps, batch, lr) —
run one after the other with the same model and AdamW state; only the token grid (and with it what the
position encoding sees) changes at a stage boundary.

Objective (CogVideoX's family, chapter 7): for a clean video ``x0``, noise ``ε`` and a level ``t ∈ [0, 1]``

- ``"flow"`` (rectified flow / flow matching): ``x_t = (1 − t)·x0 + t·ε``, target velocity ``ε − x0``;
- ``"v"`` (v-prediction on the trigonometric schedule): ``x_t = cos(πt/2)·x0 + sin(πt/2)·ε``,
  target ``cos(πt/2)·ε − sin(πt/2)·x0``;

loss = mean squared error, ``t ~ U(0, 1)``.

Determinism: nothing draws from a global random stream. Training video ``i`` (counting every video the
run has consumed) is scene ``i`` of the ``"train"`` split under ``seed``, and its noise and level come
from a generator keyed on ``(seed, i)``; the model is initialised from ``seed``. Hence

- ``resume`` from a checkpoint continues bit for bit on CPU (model, AdamW moments, counters and the
  metrics so far are all in the checkpoint);
- under ``torchrun --nproc_per_node=N`` each process takes its ``batch/N`` slice of the same global
  batch; DDP averages gradients, so the updates equal single-process training with that batch (up to
  float summation order).

Files in ``out_dir`` (written by rank 0, each atomically: temp file, fsync, ``os.replace``):

- ``ckpt.pt`` — the latest state, every ``ckpt_every`` steps and at every stage boundary; at the end,
  the final state;
- ``stage{k}.pt`` — the state right after stage ``k`` (1-based, every stage but the last) finished: a
  branching point;
- ``metrics.jsonl`` and ``metrics.csv`` — one row per training step (``kind="train"``) and per
  evaluation (``kind="eval"``, one per probe), rewritten at every checkpoint;
- ``run.json`` — config, device, world size, versions and wall time, at the end.

Branching (what ``cogpe.lab`` does to share stage 1 between strategies of one family):
``train(config_b, out_b, init_from="out_a/stage1.pt")`` continues run ``a``'s state after stage 1
under ``config_b``, whose strategy may differ within :data:`cogpe.model.FAMILIES` (same parameters).
The result equals running ``config_b`` from scratch, since strategies of one family compute the same
function at the base grid. The branch evaluates zero-shot (its stage-2 probes at stage step 0) under its
own strategy; rows copied from the source run keep the source's ``strategy``.

Command line::

    python -m cogpe.train --preset quick --strategy rope-ntk --seed 0 --out runs/x
    torchrun --nproc_per_node=2 -m cogpe.train --preset quick --strategy rope-ntk --out runs/x
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import numbers
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_choice, check_factor, check_size
from .data import DataConfig, VideoDataset
from .model import STRATEGIES, ModelConfig, VideoDiT, strategy_family

__all__ = [
    "OBJECTIVES",
    "PRESET_SEEDS",
    "Probe",
    "Stage",
    "TRAIN_PRESETS",
    "TrainConfig",
    "corrupt",
    "evaluate",
    "load_checkpoint",
    "load_model",
    "main",
    "parse_stages",
    "sample",
    "train",
    "train_preset",
]

OBJECTIVES = ("flow", "v")
CKPT_FORMAT = 1
_TRAIN_TAG, _EVAL_TAG, _SAMPLE_TAG = 1, 2, 3
METRIC_COLUMNS = (
    "kind", "step", "stage", "stage_step", "strategy", "probe", "frames", "height", "width", "tokens",
    "batch", "lr", "loss", "grad_norm", "samples", "time",
)


# --- configuration ---------------------------------------------------------------------------------


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class Stage:
    """One training stage: ``steps`` AdamW steps on ``frames × height × width`` videos.

    ``batch`` is the *global* batch (split over DDP processes); ``lr`` rises linearly over the first
    ``warmup`` steps of the stage and is constant after; ``eval_every`` adds evaluations every that
    many steps. Without it a stage is evaluated at its start (zero-shot; stages after the first) and,
    for the last stage, at its end — the end of an earlier stage is the next one's start.

    >>> Stage(8, 16, 16, steps=300, batch=8, lr=1e-3).resolution
    (8, 16, 16)
    """

    frames: int
    height: int
    width: int
    steps: int
    batch: int
    lr: float
    warmup: int = 0
    eval_every: int = 0

    def __post_init__(self):
        for name in ("frames", "height", "width", "steps", "batch"):
            _check_int(name, getattr(self, name), 1)
        for name in ("warmup", "eval_every"):
            _check_int(name, getattr(self, name), 0)
        object.__setattr__(self, "lr", check_factor("lr", self.lr))

    @property
    def resolution(self) -> tuple[int, int, int]:
        """``(frames, height, width)`` in pixels."""
        return (self.frames, self.height, self.width)


@dataclass(frozen=True)
class Probe:
    """A held-out evaluation: the loss on ``frames × height × width`` videos of the ``"val"`` split.

    >>> Probe("long", 16, 32, 32).resolution
    (16, 32, 32)
    """

    name: str
    frames: int
    height: int
    width: int

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Probe name must be a non-empty string, got {self.name!r}")
        for name in ("frames", "height", "width"):
            _check_int(name, getattr(self, name), 1)

    @property
    def resolution(self) -> tuple[int, int, int]:
        """``(frames, height, width)`` in pixels."""
        return (self.frames, self.height, self.width)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (the device and output directory do not).

    - ``model``: :class:`cogpe.model.ModelConfig`; its ``base_grid`` may stay ``None`` — then the token
      grid of ``stages[0]`` is used (:meth:`model_config`);
    - ``stages``: non-empty sequence of :class:`Stage`, every resolution divisible by ``model.patch``;
    - ``data``: :class:`cogpe.data.DataConfig`; ``seed``: model init, training videos and noise;
    - ``objective``: ``"flow"`` or ``"v"``; AdamW ``betas``, ``weight_decay`` (not on biases, norms or
      the position table), ``grad_clip`` (global norm, 0 for none);
    - ``probes``: evaluations on the held-out set (``eval_videos`` videos of split ``"val"`` under
      ``eval_seed``, fixed noise and levels — the same for every training seed);
    - ``ckpt_every``: steps between checkpoints (0: only at stage boundaries).
    """

    model: ModelConfig
    stages: tuple[Stage, ...]
    data: DataConfig = field(default_factory=DataConfig)
    seed: int = 0
    objective: str = "flow"
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    probes: tuple[Probe, ...] = ()
    eval_videos: int = 16
    eval_seed: int = 0
    ckpt_every: int = 100

    def __post_init__(self):
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if not isinstance(self.data, DataConfig):
            raise TypeError(f"data must be a DataConfig, got {type(self.data).__name__}")
        if isinstance(self.stages, Stage) or not isinstance(self.stages, Sequence):
            raise TypeError(f"stages must be a sequence of Stage, got {type(self.stages).__name__}")
        stages = tuple(self.stages)
        if not stages:
            raise ValueError(
                "stages is empty; give at least one Stage(frames, height, width, steps, batch, lr), "
                "e.g. Stage(8, 16, 16, steps=300, batch=8, lr=1e-3)"
            )
        for i, stage in enumerate(stages):
            if not isinstance(stage, Stage):
                raise TypeError(f"stages[{i}] must be a Stage, got {type(stage).__name__}")
            try:
                self.model.token_grid(*stage.resolution)
            except ValueError as err:
                raise ValueError(f"stages[{i}]: {err}") from None
        object.__setattr__(self, "stages", stages)
        probes = tuple(self.probes)
        for i, probe in enumerate(probes):
            if not isinstance(probe, Probe):
                raise TypeError(f"probes[{i}] must be a Probe, got {type(probe).__name__}")
            try:
                self.model.token_grid(*probe.resolution)
            except ValueError as err:
                raise ValueError(f"probes[{i}] ({probe.name!r}): {err}") from None
        names = [p.name for p in probes]
        if len(set(names)) != len(names):
            raise ValueError(f"probe names must be unique, got {names}")
        object.__setattr__(self, "probes", probes)
        _check_int("seed", self.seed, 0)
        _check_int("eval_seed", self.eval_seed, 0)
        _check_int("eval_videos", self.eval_videos, 1)
        _check_int("ckpt_every", self.ckpt_every, 0)
        check_choice("objective", self.objective, OBJECTIVES)
        betas = tuple(self.betas)
        if len(betas) != 2 or not all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", tuple(float(b) for b in betas))
        for name in ("weight_decay", "grad_clip"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 <= v < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")

    def model_config(self) -> ModelConfig:
        """``model`` with ``base_grid`` filled in from ``stages[0]`` when it is ``None``."""
        if self.model.base_grid is not None:
            return self.model
        return dataclasses.replace(self.model, base_grid=self.model.token_grid(*self.stages[0].resolution))

    @property
    def strategy(self) -> str:
        """The position-encoding strategy (``model.strategy``)."""
        return self.model.strategy

    def with_strategy(self, strategy: str) -> "TrainConfig":
        """The same run with another PE strategy."""
        return dataclasses.replace(self, model=dataclasses.replace(self.model, strategy=strategy))

    def to_dict(self) -> dict:
        """Plain-data form (JSON- and checkpoint-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["model"] = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["model"].items()})
        d["data"] = DataConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["data"].items()})
        d["stages"] = tuple(Stage(**s) for s in d["stages"])
        d["probes"] = tuple(Probe(**p) for p in d["probes"])
        d["betas"] = tuple(d["betas"])
        return cls(**d)


_TINY = TrainConfig(
    model=ModelConfig(patch=(1, 4, 4), width=32, depth=2, heads=2),
    stages=(
        Stage(4, 8, 8, steps=6, batch=4, lr=3e-3, warmup=2),
        Stage(4, 16, 16, steps=4, batch=4, lr=2e-3, eval_every=2),
    ),
    data=DataConfig(max_objects=2),
    probes=(Probe("low", 4, 8, 8), Probe("high", 4, 16, 16)),
    eval_videos=4,
    ckpt_every=3,
)

_QUICK = TrainConfig(
    model=ModelConfig(patch=(1, 4, 4), width=128, depth=4, heads=4),
    stages=(
        Stage(8, 16, 16, steps=300, batch=8, lr=2e-3, warmup=30),
        Stage(8, 32, 32, steps=30, batch=4, lr=1e-3, eval_every=15),
    ),
    probes=(Probe("low", 8, 16, 16), Probe("high", 8, 32, 32), Probe("long", 16, 32, 32)),
    eval_videos=16,
    ckpt_every=100,
)

_FULL = TrainConfig(
    model=ModelConfig(patch=(1, 4, 4), width=256, depth=6, heads=4),
    stages=(
        Stage(8, 32, 32, steps=1500, batch=32, lr=1e-3, warmup=100),
        Stage(8, 64, 64, steps=200, batch=16, lr=5e-4, eval_every=25),
    ),
    probes=(Probe("low", 8, 32, 32), Probe("high", 8, 64, 64), Probe("long", 16, 64, 64)),
    eval_videos=32,
    ckpt_every=500,
)

#: Named configurations. ``tiny``: tests and doc examples (seconds); ``quick``: the CPU lab (chapter 7;
#: 4 layers, width 128, 8×16×16 → 8×32×32 pixels, 128 → 512 tokens, 300 + 30 steps); ``full``: a GPU run
#: (6 layers, width 256, 8×32×32 → 8×64×64 pixels, 512 → 2048 tokens, 1500 + 200 steps; its whole
#: comparison is about 40 PFLOP, :func:`cogpe.lab.lab_flops`: ~15 minutes at 50 TFLOP/s sustained).
TRAIN_PRESETS = {"tiny": _TINY, "quick": _QUICK, "full": _FULL}
#: Seeds each preset's comparison uses (the lab reports mean ± std over them).
PRESET_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2), "full": (0, 1, 2, 3, 4)}


def train_preset(name: str, *, strategy: str | None = None, seed: int | None = None) -> TrainConfig:
    """The :data:`TRAIN_PRESETS` entry ``name``, with ``strategy`` and ``seed`` replaced when given.

    >>> cfg = train_preset("quick", strategy="rope-ntk", seed=2)
    >>> cfg.strategy, cfg.seed, cfg.model_config().base_grid
    ('rope-ntk', 2, (8, 4, 4))
    """
    check_choice("preset", name, tuple(TRAIN_PRESETS))
    config = TRAIN_PRESETS[name]
    if strategy is not None:
        check_choice("strategy", strategy, STRATEGIES)
        config = config.with_strategy(strategy)
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    return config


# --- objective, randomness ---------------------------------------------------------------------------


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


def _generator(*key: int) -> torch.Generator:
    """A CPU generator seeded from ``key`` through numpy's SeedSequence (well-mixed, platform-independent)."""
    state = np.random.SeedSequence(list(key)).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


def _noise_and_levels(tag: int, seed: int, indices: Sequence[int], shape):
    """Per-video noise ``(B, *shape)`` and levels ``(B,)`` from generators keyed on ``(tag, seed, index)``.

    Video ``i``'s draw does not depend on the other indices: a DDP process drawing only its slice of a
    global batch gets exactly the single-process values.
    """
    noise, t = [], []
    for i in indices:
        g = _generator(tag, seed, i)
        t.append(torch.rand((), generator=g, dtype=torch.float64))
        noise.append(torch.randn(tuple(shape), generator=g))
    return torch.stack(noise), torch.stack(t).float()


# --- devices and distribution --------------------------------------------------------------------------


def _resolve_device(device) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch.cuda.is_available() is False; use 'cpu' or 'auto'")
    return device


def _autocast(device: torch.device):
    """bf16 autocast on CUDA GPUs with native bf16 (compute capability 8.0+: A100, L4, H100, …); float32
    elsewhere — on the CPU (bit-exact resume) and on older GPUs such as the T4, where bf16 is emulated."""
    if device.type == "cuda" and _native_bf16(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _native_bf16(device: torch.device) -> bool:
    return torch.cuda.get_device_capability(device)[0] >= 8


def _distributed_env() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _setup_distributed(device):
    """Initialise torch.distributed if launched by torchrun (WORLD_SIZE > 1); returns (rank, world, device, owned)."""
    import torch.distributed as dist

    if not _distributed_env():
        return 0, 1, _resolve_device(device), False
    owned = False
    device = _resolve_device(device)
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owned = True
    return dist.get_rank(), dist.get_world_size(), device, owned


# --- evaluation and sampling ----------------------------------------------------------------------------


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
    split: str = "val",
    frame_step: float = 1.0,
) -> float:
    """Denoising loss on a fixed held-out set: videos ``0 … n_videos−1`` of ``split`` at ``resolution``.

    ``resolution = (frames, height, width)`` in pixels. Video ``i`` gets noise from a generator keyed
    on ``(seed, i)`` and the level ``t_i = (i + ½)/n_videos`` (a midpoint rule over ``t``), or every
    level in ``timesteps`` when given. Deterministic; the same number for every batch size up to
    float rounding. Returns the mean squared error (a float).

    >>> from cogpe.model import ModelConfig, VideoDiT
    >>> model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2)))
    >>> loss = evaluate(model, DataConfig(), (2, 8, 8), n_videos=2)
    >>> loss == evaluate(model, DataConfig(), (2, 8, 8), n_videos=2, batch_size=1)
    True
    """
    n_videos = check_size("n_videos", n_videos)
    batch_size = check_size("batch_size", batch_size)
    check_choice("objective", objective, OBJECTIVES)
    frames, height, width = resolution
    dataset = VideoDataset(data, frames, height, width, length=n_videos, split=split, seed=seed,
                           frame_step=frame_step)
    if timesteps is None:
        levels = (torch.arange(n_videos, dtype=torch.float64) + 0.5).div(n_videos).float()  # (i + ½)/n
        jobs = [(i, levels[i]) for i in range(n_videos)]
    else:
        levels = [torch.tensor(_check_level(t)) for t in timesteps]
        jobs = [(i, t) for i in range(n_videos) for t in levels]
    module = getattr(model, "module", model)
    was_training = module.training
    module.eval()
    device = next(module.parameters()).device
    total, count = 0.0, 0
    try:
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            idx = [i for i, _ in chunk]
            x0 = dataset.batch(idx, device=device)  # (b, C, T, H, W)
            noise, _ = _noise_and_levels(_EVAL_TAG, seed, idx, x0.shape[1:])
            t = torch.stack([lv for _, lv in chunk]).float().to(device)  # (b,)
            x_t, target = corrupt(x0, noise.to(device), t, objective)
            with _autocast(device):
                pred = module(x_t, t)
            err = (pred.float() - target).pow(2).flatten(1).mean(1)  # (b,)
            total += err.double().sum().item()
            count += len(chunk)
    finally:
        module.train(was_training)
    return total / count


def _check_level(t) -> float:
    """A noise level in ``[0, 1]``."""
    if isinstance(t, bool) or not isinstance(t, numbers.Real) or not 0 <= t <= 1:
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
    initial noise of video ``i`` comes from a generator keyed on ``(seed, i)``. Output clamped to [-1, 1].

    >>> from cogpe.model import ModelConfig, VideoDiT
    >>> model = VideoDiT(ModelConfig(width=32, depth=1, heads=2, base_grid=(2, 2, 2)))
    >>> sample(model, 2, (2, 8, 8), steps=2).shape
    torch.Size([2, 3, 2, 8, 8])
    """
    n = check_size("n", n)
    steps = check_size("steps", steps)
    check_choice("objective", objective, OBJECTIVES)
    module = getattr(model, "module", model)
    c = module.config.in_channels if channels is None else channels
    module.config.token_grid(*resolution)
    device = next(module.parameters()).device
    x, _ = _noise_and_levels(_SAMPLE_TAG, seed, range(n), (c, *resolution))
    x = x.to(device)
    grid = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    was_training = module.training
    module.eval()
    try:
        for t_now, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
            t = torch.full((n,), t_now, device=device)
            with _autocast(device):
                v = module(x, t).float()
            if objective == "flow":
                x = x + (t_next - t_now) * v
            else:
                a, s = math.cos(t_now * math.pi / 2), math.sin(t_now * math.pi / 2)
                x0, eps = a * x - s * v, s * x + a * v
                a2, s2 = math.cos(t_next * math.pi / 2), math.sin(t_next * math.pi / 2)
                x = a2 * x0 + s2 * eps
    finally:
        module.train(was_training)
    return x.clamp(-1.0, 1.0).cpu()


# --- checkpoints ---------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write ``path`` via a temp file in the same directory, fsync, then ``os.replace``.

    A crash (or an exception in ``write``) at any point leaves the previous ``path`` untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def _save(obj, path: Path) -> None:
    _atomic_write(path, lambda f: torch.save(obj, f))


def _write_metrics(out: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    _atomic_write(out / "metrics.jsonl", lambda f: f.write(text.encode()))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(out / "metrics.csv", lambda f: f.write(buf.getvalue().encode()))


def load_checkpoint(path) -> dict:
    """A checkpoint written by :func:`train` (plain data and tensors; loaded with ``weights_only=True``).

    Keys: ``format``, ``config`` (:meth:`TrainConfig.to_dict`), ``model``, ``optimizer``, ``step``,
    ``stage`` (0-based index of the stage to run next), ``stage_step``, ``samples``, ``metrics``, ``elapsed``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CKPT_FORMAT:
        raise ValueError(f"{path} is not a cogpe.train checkpoint (format {CKPT_FORMAT})")
    return ckpt


def load_model(path, *, strategy: str | None = None, device=None) -> VideoDiT:
    """The model of a checkpoint, in eval mode on ``device``; ``strategy`` may switch within the family
    (e.g. ``load_model("runs/x/stage1.pt", strategy="rope-yarn")`` to look at a stage-1 model under YaRN)."""
    ckpt = load_checkpoint(path)
    config = TrainConfig.from_dict(ckpt["config"])
    if strategy is not None:
        _check_same_family(config.strategy, strategy, path)
        config = config.with_strategy(strategy)
    model = VideoDiT(config.model_config())
    model.load_state_dict(ckpt["model"])
    return model.to(_resolve_device(device)).eval()


def _check_same_family(old: str, new: str, path) -> None:
    check_choice("strategy", new, STRATEGIES)
    if strategy_family(old) != strategy_family(new):
        raise ValueError(
            f"{path} was trained with {old!r} ({strategy_family(old)} family) and cannot continue as {new!r} "
            f"({strategy_family(new)} family): their parameters differ. Branch within a family "
            "(cogpe.model.FAMILIES)."
        )


def _check_compatible(saved: TrainConfig, config: TrainConfig, ckpt: dict, path, *, branch: bool) -> None:
    """Resume: the same config. Branch: same everything up to the checkpoint, strategy within the family."""
    if not branch:
        if saved != config:
            diff = [f.name for f in dataclasses.fields(TrainConfig) if getattr(saved, f.name) != getattr(config, f.name)]
            raise ValueError(
                f"{path} was written by a different config (differs in: {', '.join(diff)}); resume with the "
                "same config, or start a new out_dir (init_from= branches from another run's checkpoint)"
            )
        return
    _check_same_family(saved.strategy, config.strategy, path)
    if dataclasses.replace(saved.model, strategy=config.strategy) != config.model:
        raise ValueError(f"{path}: the model config differs beyond the strategy; branching needs the same model")
    if saved.model_config().base_grid != config.model_config().base_grid:
        raise ValueError(f"{path}: base grids differ ({saved.model_config().base_grid} vs {config.model_config().base_grid})")
    done = ckpt["stage"] + (1 if ckpt["stage_step"] else 0)
    if saved.stages[:done] != config.stages[:done]:
        raise ValueError(
            f"{path} is after stage {done}; the first {done} stage(s) of the new config must equal the checkpoint's"
        )
    if saved.data != config.data or saved.objective != config.objective:
        raise ValueError(f"{path}: data config or objective differs; a branch must train on the same task")
    if ckpt["stage"] >= len(config.stages):
        raise ValueError(f"{path} is at the end of stage {ckpt['stage']}; the new config has only {len(config.stages)} stage(s)")


# --- the training loop -----------------------------------------------------------------------------------


def _param_groups(model: VideoDiT, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and not name.startswith("pos.") else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _lr(stage: Stage, stage_step: int) -> float:
    """Learning rate of the step after ``stage_step`` steps of ``stage``: linear warm-up, then constant."""
    if stage.warmup and stage_step < stage.warmup:
        return stage.lr * (stage_step + 1) / stage.warmup
    return stage.lr


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional (the viz extra)
        return None
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, leave=True)


def train(
    config: TrainConfig,
    out_dir,
    *,
    resume: bool = False,
    init_from=None,
    device="auto",
    progress: bool = True,
) -> list[dict]:
    """Run ``config``'s stages, writing checkpoints and metrics to ``out_dir``; return the metric rows.

    ``resume=True`` continues from ``out_dir/ckpt.pt`` when it exists (the same config is required);
    otherwise the run starts — fresh, or from ``init_from``. ``init_from`` starts from another run's
    checkpoint — typically ``stage1.pt`` — under this config, whose strategy may differ within the
    family (module docstring, "Branching"); ``resume=True, init_from=...`` is therefore "branch, or
    continue the branch if it was interrupted". Without ``resume``, ``out_dir`` must not hold a
    checkpoint yet.
    ``device``: ``"auto"`` (CUDA if available, with bf16 autocast; else CPU), ``"cpu"`` or ``"cuda"``.
    Under ``torchrun`` (``WORLD_SIZE > 1``) the process group is initialised here (gloo on CPU, nccl on
    CUDA) and each process trains on its slice of every global batch; only rank 0 writes files.

    Rows (dicts): ``kind="train"``: ``step`` (1-based, global), ``stage`` (1-based), ``stage_step``,
    ``strategy``, ``frames``, ``height``, ``width``, ``tokens``, ``batch``, ``lr``, ``loss`` (mean over
    the global batch), ``grad_norm``, ``samples``, ``time`` (training seconds so far); ``kind="eval"``:
    ``step``, ``stage``, ``stage_step``, ``strategy``, ``probe``, ``frames``, ``height``, ``width``,
    ``tokens``, ``loss``, ``time``.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    out = Path(out_dir)
    rank, world, device, owned = _setup_distributed(device)
    try:
        metrics = _train(config, out, resume, init_from, device, progress, rank, world)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()  # rank 0 has written every file
        return metrics
    finally:
        if owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(config, out, resume, init_from, device, progress, rank, world) -> list[dict]:
    for i, stage in enumerate(config.stages):
        if stage.batch % world:
            raise ValueError(
                f"stages[{i}].batch={stage.batch} is not divisible by the {world} processes; "
                f"use a multiple of {world}"
            )
    model_cfg = config.model_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = VideoDiT(model_cfg)
    model.to(device)
    optimizer = torch.optim.AdamW(
        _param_groups(model, config.weight_decay), lr=config.stages[0].lr, betas=config.betas,
    )
    state = {"step": 0, "stage": 0, "stage_step": 0, "samples": 0, "metrics": [], "elapsed": 0.0}

    ckpt_path = out / "ckpt.pt"
    source, branch = None, False
    if ckpt_path.exists():
        if not resume:
            raise FileExistsError(
                f"{ckpt_path} exists; pass resume=True (--resume) to continue that run, or use a new out_dir"
            )
        source = ckpt_path
    elif init_from is not None:
        source, branch = Path(init_from), True
    if source is not None:
        ckpt = load_checkpoint(source)
        saved = TrainConfig.from_dict(ckpt["config"])
        _check_compatible(saved, config, ckpt, source, branch=branch)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        for key in state:
            state[key] = ckpt[key]
        state["metrics"] = list(state["metrics"])

    ddp_model = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ddp_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None,
                        broadcast_buffers=False)
    is_main = rank == 0
    if is_main:
        out.mkdir(parents=True, exist_ok=True)

    def checkpoint(*names: str) -> None:
        if not is_main:
            return
        blob = {
            "format": CKPT_FORMAT,
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            **{k: state[k] for k in ("step", "stage", "stage_step", "samples", "elapsed")},
            "metrics": state["metrics"],
        }
        for name in names:
            _save(blob, out / name)
        _write_metrics(out, state["metrics"])

    def run_probes(stage_idx: int, stage_step: int) -> None:
        for probe in config.probes:
            loss = evaluate(model, config.data, probe.resolution, n_videos=config.eval_videos,
                            seed=config.eval_seed, objective=config.objective)
            state["metrics"].append({
                "kind": "eval", "step": state["step"], "stage": stage_idx + 1, "stage_step": stage_step,
                "strategy": config.strategy, "probe": probe.name, "frames": probe.frames,
                "height": probe.height, "width": probe.width,
                "tokens": math.prod(model_cfg.token_grid(*probe.resolution)), "loss": loss,
                "time": round(state["elapsed"], 3),
            })

    total_steps = sum(s.steps for s in config.stages)
    bar = _progress(total_steps, state["step"], progress and is_main)
    t_start = time.perf_counter() - state["elapsed"]
    try:
        while state["stage"] < len(config.stages):
            stage_idx = state["stage"]
            stage = config.stages[stage_idx]
            dataset = VideoDataset(config.data, *stage.resolution, length=2**62, split="train", seed=config.seed)
            local = stage.batch // world
            tokens = math.prod(model_cfg.token_grid(*stage.resolution))
            last = stage_idx == len(config.stages) - 1
            if state["stage_step"] == 0 and stage_idx > 0:
                run_probes(stage_idx, 0)  # zero-shot: the new grid, before any step on it
            while state["stage_step"] < stage.steps:
                lr = _lr(stage, state["stage_step"])
                for group in optimizer.param_groups:
                    group["lr"] = lr
                first = state["samples"] + rank * local
                loss, grad_norm = _train_step(
                    ddp_model, optimizer, dataset, range(first, first + local), config, device, world,
                )
                state["step"] += 1
                state["stage_step"] += 1
                state["samples"] += stage.batch
                state["elapsed"] = time.perf_counter() - t_start
                state["metrics"].append({
                    "kind": "train", "step": state["step"], "stage": stage_idx + 1,
                    "stage_step": state["stage_step"], "strategy": config.strategy, "frames": stage.frames,
                    "height": stage.height, "width": stage.width, "tokens": tokens, "batch": stage.batch,
                    "lr": lr, "loss": loss, "grad_norm": grad_norm, "samples": state["samples"],
                    "time": round(state["elapsed"], 3),
                })
                s = state["stage_step"]
                # The end of a non-final stage is measured by the next stage's zero-shot evaluation
                # (same parameters), under the strategy that continues from it.
                if (s == stage.steps and last) or (stage.eval_every and s % stage.eval_every == 0 and s < stage.steps):
                    run_probes(stage_idx, s)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(stage=stage_idx + 1, loss=f"{loss:.4f}", refresh=False)
                if s < stage.steps and config.ckpt_every and state["step"] % config.ckpt_every == 0:
                    checkpoint("ckpt.pt")
            state["stage"] += 1
            state["stage_step"] = 0
            checkpoint(*([] if last else [f"stage{stage_idx + 1}.pt"]), "ckpt.pt")
    finally:
        if bar is not None:
            bar.close()
    if is_main:
        _write_run_info(out, config, device, world, state)
    return list(state["metrics"])


def _train_step(model, optimizer, dataset, indices, config: TrainConfig, device, world) -> tuple[float, float]:
    """One AdamW step on videos ``indices`` (this process's slice): returns (global mean loss, grad norm)."""
    indices = list(indices)
    x0 = dataset.batch(indices, device=device)  # (b, C, T, H, W), rendered where the model runs
    noise, t = _noise_and_levels(_TRAIN_TAG, config.seed, indices, x0.shape[1:])
    x_t, target = corrupt(x0, noise.to(device), t.to(device), config.objective)
    t = t.to(device)
    with _autocast(device):
        pred = model(x_t, t)
    loss = F.mse_loss(pred.float(), target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if config.grad_clip:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    else:
        grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
    optimizer.step()
    value = loss.detach()
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(value)
        value = value / world
    return value.item(), float(grad_norm)


def _write_run_info(out: Path, config: TrainConfig, device, world: int, state: dict) -> None:
    info = {
        "config": config.to_dict(),
        "strategy": config.strategy,
        "seed": config.seed,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "world_size": world,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "steps": state["step"],
        "train_seconds": round(state["elapsed"], 3),
    }
    text = json.dumps(info, indent=1)
    _atomic_write(out / "run.json", lambda f: f.write(text.encode()))


# --- command line ------------------------------------------------------------------------------------------


def parse_stages(spec: str) -> tuple[Stage, ...]:
    """Stages from ``"FxHxW:steps:batch:lr[:warmup[:eval_every]]"``, comma-separated.

    >>> parse_stages("8x16x16:300:8:1e-3:30, 8x32x32:30:4:5e-4")[1]
    Stage(frames=8, height=32, width=32, steps=30, batch=4, lr=0.0005, warmup=0, eval_every=0)
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValueError(
            f"stage list {spec!r} is empty; give e.g. '8x16x16:300:8:1e-3,8x32x32:30:4:5e-4' "
            "(FRAMESxHEIGHTxWIDTH:steps:batch:lr[:warmup[:eval_every]])"
        )
    stages = []
    for i, part in enumerate(parts):
        fields_ = part.split(":")
        try:
            if not 4 <= len(fields_) <= 6:
                raise ValueError("expected 4 to 6 ':'-separated fields")
            res = [int(v) for v in fields_[0].lower().split("x")]
            if len(res) != 3:
                raise ValueError("resolution must be FRAMESxHEIGHTxWIDTH")
            extra = [int(v) for v in fields_[4:]]
            stages.append(Stage(res[0], res[1], res[2], steps=int(fields_[1]), batch=int(fields_[2]),
                                lr=float(fields_[3]), **dict(zip(("warmup", "eval_every"), extra))))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"stage {i + 1} {part!r}: {err} (format FRAMESxHEIGHTxWIDTH:steps:batch:lr[:warmup[:eval_every]])"
            ) from None
    return tuple(stages)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cogpe.train",
        description="Progressive training of a tiny video DiT with a chosen position-encoding strategy.",
    )
    p.add_argument("--preset", default="quick", choices=tuple(TRAIN_PRESETS), help="configuration (default: quick)")
    p.add_argument("--strategy", choices=STRATEGIES, default=None, help="PE strategy (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="seed of model init, data and noise (default: the preset's)")
    p.add_argument("--out", required=True, help="output directory (checkpoints, metrics)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt if it exists")
    p.add_argument("--init-from", default=None, metavar="CKPT",
                   help="start from another run's checkpoint (e.g. its stage1.pt), same strategy family")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--stages", default=None, metavar="SPEC",
                   help="override the preset's stages: 'FxHxW:steps:batch:lr[:warmup[:eval_every]],...'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m cogpe.train``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.seed is not None and args.seed < 0:
            raise ValueError(f"--seed must be >= 0, got {args.seed}")
        config = train_preset(args.preset, strategy=args.strategy, seed=args.seed)
        if args.stages is not None:
            stages = parse_stages(args.stages)
            resolutions = list(dict.fromkeys(st.resolution for st in stages))
            probes = tuple(Probe("x".join(map(str, r)), *r) for r in resolutions)
            config = dataclasses.replace(config, stages=stages, probes=probes)
        device = _resolve_device(args.device)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    try:
        metrics = train(config, args.out, resume=args.resume, init_from=args.init_from, device=device,
                        progress=not args.no_progress)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        last = [r for r in metrics if r["kind"] == "train"][-1:]
        evals = [r for r in metrics if r["kind"] == "eval" and r["step"] == (last[0]["step"] if last else 0)]
        summary = ", ".join(f"{r['probe']} {r['loss']:.4f}" for r in evals)
        print(f"done: {config.strategy} seed {config.seed} -> {args.out}" + (f" (eval: {summary})" if summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
