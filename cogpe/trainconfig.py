"""What a progressive training run is (chapter 7): its stages, held-out probes and settings, and presets.

A :class:`TrainConfig` is a sequence of :class:`Stage` s — (frames, height, width, steps, batch, lr) —
that :func:`cogpe.train.train` runs one after the other with the same model and AdamW state, and the
held-out :class:`Probe` s it evaluates along the way. Configurations are frozen and convert to plain
data (:meth:`TrainConfig.to_dict`), so every checkpoint and result carries its own. :data:`TRAIN_PRESETS`
names the sizes the book uses (:func:`train_preset`); :func:`parse_stages` reads a stage list from the
command line.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Sequence, Any

from ._checks import check_choice, check_factor, check_size
from .data import DataConfig, check_extent
from .model import ModelConfig
from .objective import OBJECTIVES, resolution_shift

__all__ = [
    "PRESET_SEEDS",
    "Probe",
    "Stage",
    "TRAIN_PRESETS",
    "TrainConfig",
    "parse_stages",
    "probe_set",
    "spatial_probes",
    "temporal_probes",
    "train_preset",
]

# --- configuration ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One training stage: ``steps`` AdamW steps on ``frames × height × width`` videos.

    ``batch`` is the *global* batch (split over DDP processes); ``lr`` rises linearly over the first
    ``warmup`` steps of the stage, is constant after, and falls linearly towards 0 over the last
    ``cooldown`` steps (:meth:`lr_at`: warm-up, stable, decay; the default 0 keeps the rate to the end);
    ``eval_every`` adds evaluations every that
    many steps. Without it a stage is evaluated at its start (zero-shot; stages after the first) and,
    for the last stage, at its end — the end of an earlier stage is the next one's start.

    >>> Stage(8, 16, 16, steps=300, batch=8, lr=1e-3).resolution
    (8, 16, 16)
    >>> stage = Stage(8, 16, 16, steps=10, batch=8, lr=1e-3, warmup=2, cooldown=4)
    >>> [round(stage.lr_at(i) * 1e3, 2) for i in range(10)]
    [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2]
    """

    frames: int
    height: int
    width: int
    steps: int
    batch: int
    lr: float
    warmup: int = 0
    eval_every: int = 0
    cooldown: int = 0

    def __post_init__(self):
        for name, what in (("frames", "frames"), ("height", "pixels"), ("width", "pixels"), ("steps", "steps"),
                           ("batch", "videos")):
            check_size(name, getattr(self, name), what=what)
        for name in ("warmup", "eval_every", "cooldown"):
            check_size(name, getattr(self, name), minimum=0, what="steps")
        if self.cooldown and self.warmup + self.cooldown > self.steps:
            raise ValueError(f"warmup={self.warmup} + cooldown={self.cooldown} exceeds steps={self.steps}; "
                             "use warmup + cooldown <= steps")
        object.__setattr__(self, "lr", check_factor("lr", self.lr))

    def lr_at(self, stage_step: int) -> float:
        """The learning rate of the step after ``stage_step`` steps of this stage (0-based)."""
        if self.warmup and stage_step < self.warmup:
            return self.lr * (stage_step + 1) / self.warmup
        left = self.steps - stage_step
        if self.cooldown and left <= self.cooldown:
            return self.lr * left / (self.cooldown + 1)
        return self.lr

    @property
    def resolution(self) -> tuple[int, int, int]:
        """``(frames, height, width)`` in pixels."""
        return (self.frames, self.height, self.width)


@dataclass(frozen=True)
class Probe:
    """A held-out evaluation: the loss on ``frames × height × width`` videos of the ``"val"`` split, whose
    scenes span ``extent`` times the trained field of view (1: the trained view; 2: a spatial canvas
    twice as wide, :mod:`cogpe.data`), ``frame_step`` base frame intervals apart (1: the trained frame
    rate; 1/2: the same clip at twice the frame rate, a temporal zoom).

    >>> Probe("long", 16, 16, 16).resolution, Probe("wide", 8, 32, 32, extent=2.0).extent
    ((16, 16, 16), 2.0)
    """

    name: str
    frames: int
    height: int
    width: int
    extent: float = 1.0
    frame_step: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Probe name must be a non-empty string, got {self.name!r}")
        for name, what in (("frames", "frames"), ("height", "pixels"), ("width", "pixels")):
            check_size(name, getattr(self, name), what=what)
        object.__setattr__(self, "extent", check_factor("extent", self.extent))
        object.__setattr__(self, "frame_step", check_factor("frame_step", self.frame_step))

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
    - ``ckpt_every``: steps between checkpoints (0: only at stage boundaries);
    - ``noise_shift``: shift every stage's training levels and every probe's sampling levels by
      ``s = √(N/N0)`` (:func:`cogpe.objective.shift_levels`, :func:`cogpe.objective.resolution_shift`; ``N``
      the stage's or probe's tokens, ``N0`` the base grid's), as video diffusion models do when the token
      count grows; ``False`` (the default) trains and samples every size on the same levels;
    - ``compile``: run the training step through ``torch.compile`` (one graph per stage size; evaluation
      and sampling stay eager). The same computation up to float rounding — it pays on a GPU, where the
      tiny model's many small kernels otherwise dominate.
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
    noise_shift: bool = False
    compile: bool = False

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
                check_extent(self.data, probe.extent)
            except ValueError as err:
                raise ValueError(f"probes[{i}] ({probe.name!r}): {err}") from None
        names = [p.name for p in probes]
        if len(set(names)) != len(names):
            raise ValueError(f"probe names must be unique, got {names}")
        object.__setattr__(self, "probes", probes)
        check_size("seed", self.seed, minimum=0, what="a seed")
        check_size("eval_seed", self.eval_seed, minimum=0, what="a seed")
        check_size("eval_videos", self.eval_videos, what="videos")
        check_size("ckpt_every", self.ckpt_every, minimum=0, what="steps")
        check_choice("objective", self.objective, OBJECTIVES)
        for name in ("noise_shift", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
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

    def level_shift(self, resolution: Sequence[int]) -> float:
        """The level shift at ``resolution`` ``(frames, height, width)`` pixels: 1 unless ``noise_shift``.

        >>> import dataclasses
        >>> config = dataclasses.replace(train_preset("quick"), noise_shift=True)
        >>> config.level_shift((8, 8, 8)), config.level_shift((8, 16, 16))
        (1.0, 2.0)
        """
        if not self.noise_shift:
            return 1.0
        base = self.model.base_grid or self.model.token_grid(*self.stages[0].resolution)  # as model_config()
        return resolution_shift(self.model.token_grid(*resolution), base)

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
        d["model"] = ModelConfig(**_tuples(d["model"]))
        d["data"] = DataConfig(**_tuples(d["data"]))
        d["stages"] = tuple(Stage(**s) for s in d["stages"])
        d["probes"] = tuple(Probe(**p) for p in d["probes"])
        d["betas"] = tuple(d["betas"])
        return cls(**d)


def probe_set(frames: int, height: int, width: int) -> tuple[Probe, ...]:
    """The lab's held-out probes around a stage-1 size (chapter 7, section 7.1): ``low`` (the stage-1 size),
    ``zoom`` (twice the pixels, the same field of view), ``wide`` (twice the pixels and twice the field of
    view: the same pixels per object, a spatial canvas) and ``long`` (twice the frames at the stage-1
    resolution and frame rate: a temporal canvas)."""
    return (Probe("low", frames, height, width), Probe("zoom", frames, 2 * height, 2 * width),
            Probe("wide", frames, 2 * height, 2 * width, extent=2.0), Probe("long", 2 * frames, height, width))


def temporal_probes(frames: int, height: int, width: int) -> tuple[Probe, ...]:
    """Probes of the temporal experiment around a stage-1 clip of ``frames`` (chapter 7): ``low`` (the
    stage-1 clip), ``long`` and ``long3`` (2× and 3× the frames at the same frame rate: temporal canvases,
    the longest past the intrinsic period of CogVideoX's time axis) and ``tzoom`` (2× the frames at twice
    the frame rate: the same clips, a temporal zoom).

    >>> [(p.name, p.frames, p.frame_step) for p in temporal_probes(13, 16, 16)]
    [('low', 13, 1.0), ('long', 26, 1.0), ('long3', 39, 1.0), ('tzoom', 26, 0.5)]
    """
    return (Probe("low", frames, height, width), Probe("long", 2 * frames, height, width),
            Probe("long3", 3 * frames, height, width), Probe("tzoom", 2 * frames, height, width, frame_step=0.5))


def spatial_probes(frames: int, height: int, width: int) -> tuple[Probe, ...]:
    """Probes of the spatial experiment around a stage-1 size (chapter 7): ``low`` (the stage-1 size),
    ``zoom`` and ``zoom3`` (2× and 3× the pixels per side, the same field of view), and ``wide`` (2× the
    pixels and 2× the field of view: the same pixels per object, a spatial canvas).

    >>> [(p.name, p.height, p.extent) for p in spatial_probes(2, 32, 32)]
    [('low', 32, 1.0), ('zoom', 64, 1.0), ('zoom3', 96, 1.0), ('wide', 64, 2.0)]
    """
    return (Probe("low", frames, height, width), Probe("zoom", frames, 2 * height, 2 * width),
            Probe("zoom3", frames, 3 * height, 3 * width), Probe("wide", frames, 2 * height, 2 * width, extent=2.0))


def _experiment(patch: tuple[int, int, int], width: int, heads: int, probes: tuple[Probe, ...],
                stages: tuple[Stage, ...], eval_videos: int) -> TrainConfig:
    return TrainConfig(model=ModelConfig(patch=patch, width=width, depth=4, heads=heads), stages=stages,
                       data=DataConfig(max_objects=2), probes=probes, eval_videos=eval_videos, ckpt_every=100)


# The two experiments of chapter 7's comparison, each spending its tokens on the axis under test so that
# the mechanism it asks about is active (cogpe.regime prints why): time keeps 4×4 (CPU) or 8×8 (GPU)
# tokens per frame and trains on 13 frames, CogVideoX-5B's time axis; space keeps 2 frames and trains on
# 8×8 (CPU) or 16×16 (GPU) tokens per frame, where pairs complete a turn.
_TIME = _experiment((1, 4, 4), 128, 2, temporal_probes(13, 16, 16), (
    Stage(13, 16, 16, steps=300, batch=8, lr=2e-3, warmup=30),
    Stage(26, 16, 16, steps=30, batch=4, lr=1e-3, eval_every=15),
), 16)
_SPACE = _experiment((1, 4, 4), 128, 2, spatial_probes(2, 32, 32), (
    Stage(2, 32, 32, steps=300, batch=8, lr=2e-3, warmup=30),
    Stage(2, 64, 64, steps=30, batch=4, lr=1e-3, eval_every=15),
), 16)
_TIME_GPU = _experiment((1, 4, 4), 256, 4, temporal_probes(13, 32, 32), (
    Stage(13, 32, 32, steps=1500, batch=32, lr=1e-3, warmup=100),
    Stage(26, 32, 32, steps=150, batch=16, lr=5e-4, eval_every=25),
), 32)
_SPACE_GPU = _experiment((1, 4, 4), 256, 4, spatial_probes(2, 64, 64), (
    Stage(2, 64, 64, steps=1500, batch=32, lr=1e-3, warmup=100),
    Stage(2, 128, 128, steps=150, batch=16, lr=5e-4, eval_every=25),
), 32)

_TINY = TrainConfig(
    model=ModelConfig(patch=(1, 4, 4), width=32, depth=2, heads=2),
    stages=(
        Stage(4, 8, 8, steps=6, batch=4, lr=3e-3, warmup=2),
        Stage(4, 16, 16, steps=4, batch=4, lr=2e-3, eval_every=2),
    ),
    data=DataConfig(max_objects=2),
    probes=probe_set(4, 8, 8),
    eval_videos=4,
    ckpt_every=3,
)

_QUICK = TrainConfig(
    model=ModelConfig(patch=(1, 2, 2), width=128, depth=4, heads=2),
    stages=(
        Stage(8, 8, 8, steps=300, batch=8, lr=2e-3, warmup=30),
        Stage(8, 16, 16, steps=30, batch=4, lr=1e-3, eval_every=15),
    ),
    probes=probe_set(8, 8, 8),
    eval_videos=16,
    ckpt_every=100,
)

_GPU = TrainConfig(
    model=ModelConfig(patch=(1, 2, 2), width=256, depth=4, heads=4),
    stages=(
        Stage(8, 16, 16, steps=1500, batch=32, lr=1e-3, warmup=100),
        Stage(8, 32, 32, steps=150, batch=16, lr=5e-4, eval_every=25),
    ),
    probes=probe_set(8, 16, 16),
    eval_videos=32,
    ckpt_every=500,
)

#: Named configurations. ``tiny``: tests and doc examples (seconds); ``quick``: the CPU lab (chapter 7;
#: 4 layers, width 128, 2 heads of 64 channels, 2×2-pixel patches, 8×8×8 → 8×16×16 pixels, 128 → 512
#: tokens, 300 + 30 steps); ``gpu``: the same comparison for one GPU (4 layers, width 256, 4 heads of 64,
#: 8×16×16 → 8×32×32 pixels, 512 → 2048 tokens, 1500 + 150 steps; about 13 PFLOP for 3 seeds,
#: :func:`cogpe.lab.lab_flops` — 8 minutes needs ~28 TFLOP/s sustained in bf16, a few percent of an
#: H100's peak; an estimate until a GPU run is stored). ``compile`` stays off in ``gpu``: each of its 27
#: runs would compile two graphs, and a step of so small a model is short (:class:`TrainConfig`).
#: ``time`` and ``space`` (CPU) and ``time-gpu`` and ``space-gpu`` are the two experiments of the comparison
#: (:func:`temporal_probes`, :func:`spatial_probes`; 4 layers, width 128 with 2 heads or width 256 with 4,
#: 4×4-pixel patches, two objects per scene): ``time`` 13×16×16 → 26×16×16 pixels (208 → 416 tokens,
#: probes up to 39 frames), ``space`` 2×32×32 → 2×64×64 pixels (128 → 512 tokens, probes up to 96×96
#: pixels); the GPU versions have 13×8×8 and 2×16×16 stage-1 token grids (the latter's spatial axes
#: in CogVideoX-5B's height regime: 2 complete pairs, intrinsic period 29.2), 1500 + 150 steps.
TRAIN_PRESETS = {"tiny": _TINY, "quick": _QUICK, "gpu": _GPU, "time": _TIME, "space": _SPACE,
                 "time-gpu": _TIME_GPU, "space-gpu": _SPACE_GPU}
#: Seeds each preset's comparison uses (the lab reports mean ± std over them; the experiments' paired
#: tests need 10 for a family of claims to survive Holm's correction, :mod:`cogpe.stats`).
PRESET_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2), "gpu": (0, 1, 2), "time": tuple(range(10)),
                "space": tuple(range(10)), "time-gpu": tuple(range(10)), "space-gpu": tuple(range(10))}


def train_preset(name: str, *, strategy: str | None = None, seed: int | None = None) -> TrainConfig:
    """The :data:`TRAIN_PRESETS` entry ``name``, with ``strategy`` and ``seed`` replaced when given.

    >>> cfg = train_preset("quick", strategy="rope-ntk", seed=2)
    >>> cfg.strategy, cfg.seed, cfg.model_config().base_grid
    ('rope-ntk', 2, (8, 4, 4))
    """
    check_choice("preset", name, tuple(TRAIN_PRESETS))
    config = TRAIN_PRESETS[name]
    if strategy is not None:
        config = config.with_strategy(strategy)  # ModelConfig reads (and checks) the name
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    return config


def parse_stages(spec: str) -> tuple[Stage, ...]:
    """Stages from ``"FxHxW:steps:batch:lr[:warmup[:eval_every[:cooldown]]]"``, comma-separated.

    >>> parse_stages("8x16x16:300:8:1e-3:30, 8x32x32:30:4:5e-4")[1]
    Stage(frames=8, height=32, width=32, steps=30, batch=4, lr=0.0005, warmup=0, eval_every=0, cooldown=0)
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise ValueError(
            f"stage list {spec!r} is empty; give e.g. '8x16x16:300:8:1e-3,8x32x32:30:4:5e-4' "
            "(FRAMESxHEIGHTxWIDTH:steps:batch:lr[:warmup[:eval_every[:cooldown]]])"
        )
    stages = []
    for i, part in enumerate(parts):
        fields_ = part.split(":")
        try:
            if not 4 <= len(fields_) <= 7:
                raise ValueError("expected 4 to 7 ':'-separated fields")
            res = [int(v) for v in fields_[0].lower().split("x")]
            if len(res) != 3:
                raise ValueError("resolution must be FRAMESxHEIGHTxWIDTH")
            extra = [int(v) for v in fields_[4:]]
            stages.append(Stage(res[0], res[1], res[2], steps=int(fields_[1]), batch=int(fields_[2]),
                                lr=float(fields_[3]), **dict(zip(("warmup", "eval_every", "cooldown"), extra))))
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"stage {i + 1} {part!r}: {err} (format FRAMESxHEIGHTxWIDTH:steps:batch:lr[:warmup[:eval_every]])"
            ) from None
    return tuple(stages)


def _tuples(fields: dict) -> dict[str, Any]:
    """A config dict read back from JSON, lists turned back into tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
