"""What a strategy comparison of chapter 7 runs: :class:`LabConfig`, the named :data:`cogpe.labconfig.LAB_PRESETS`, the
from-scratch baselines (:func:`baseline_config`), the smoke version of a preset (:func:`smoke`) and the
FLOPs it costs (:func:`lab_flops`). :mod:`cogpe.lab` runs them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ._checks import check_choice, check_seeds, check_size
from .model import VideoDiT, strategy_family
from .quality import FeatureConfig
from .strategy import MODEL_STRATEGIES, NOISE_SHIFTED, parse_model_strategy
from .trainconfig import PRESET_SEEDS, TRAIN_PRESETS, Stage, TrainConfig

__all__ = ["BASELINE", "BASELINES", "LAB_PRESETS", "LabConfig", "SHIFTED", "SHIFT_SUFFIX", "baseline_config",
           "baseline_runs", "lab_flops", "shift_runs", "shifted_config", "smoke"]


BASELINE = "baseline"
#: The from-scratch baselines, by run name, and what each matches of the progressive schedule: its
#: forward FLOPs (fewer steps, as each costs the high-resolution price) or its number of optimizer steps.
BASELINES = {"flops": BASELINE, "steps": "baseline-steps"}
#: A run trained like ``<strategy>`` but with the noise schedule shifted by the token count
#: (:attr:`cogpe.trainconfig.TrainConfig.noise_shift`) is named ``<strategy>+shift``.
SHIFT_SUFFIX = "+shift"
#: The strategies the spatial experiments also run with the noise shift (:data:`cogpe.strategy.NOISE_SHIFTED`).
SHIFTED = NOISE_SHIFTED


def shifted_config(config: TrainConfig) -> TrainConfig:
    """``config`` with the noise schedule shifted by the token count (``noise_shift=True``)."""
    return dataclasses.replace(config, noise_shift=True)


@dataclass(frozen=True)
class LabConfig:
    """A comparison: the progressive run ``train`` (its strategy is replaced per run), the
    ``strategies`` and ``seeds`` to compare, the strategy of the from-scratch baseline (or None), the
    ``samples`` each run generates per probe size, the feature network the samples' Fréchet distance
    is measured with (:class:`cogpe.quality.FeatureConfig`; None: no distance), the ``baselines`` (keys of
    :data:`cogpe.labconfig.BASELINES`) and the strategies ``shifted`` that also run with the noise schedule shifted by
    the token count (:func:`cogpe.labconfig.shift_runs`; they branch from their family's unshifted stage 1, which needs
    stage 1 on the base grid, where the shift is 1)."""

    train: TrainConfig
    strategies: tuple[str, ...] = MODEL_STRATEGIES
    seeds: tuple[int, ...] = (0, 1, 2)
    baseline_strategy: str | None = "rope-extrapolate"
    samples: int = 8
    features: FeatureConfig | None = None
    baselines: tuple[str, ...] = ("flops",)
    shifted: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        if len(self.train.stages) < 2:
            raise ValueError(
                f"train has {len(self.train.stages)} stage(s); the comparison needs a low-resolution stage "
                "followed by at least one more"
            )
        strategies = tuple(self.strategies)
        if not strategies:
            raise ValueError(f"strategies is empty; choose from {', '.join(MODEL_STRATEGIES)}")
        for s in strategies:
            parse_model_strategy(s)  # ValueError naming the valid names
        if len(set(strategies)) != len(strategies):
            raise ValueError(f"strategies has duplicates: {strategies}")
        seeds = check_seeds("seeds", self.seeds)
        if self.baseline_strategy is not None:
            check_choice("baseline_strategy", self.baseline_strategy, MODEL_STRATEGIES)
        object.__setattr__(self, "strategies", strategies)
        object.__setattr__(self, "seeds", seeds)
        check_size("samples", self.samples, minimum=0, what="videos")
        baselines = tuple(self.baselines)
        if not baselines or len(set(baselines)) != len(baselines):
            raise ValueError(f"baselines must name each of {tuple(BASELINES)} at most once, got {self.baselines!r}")
        for match in baselines:
            check_choice("baselines", match, tuple(BASELINES))
        object.__setattr__(self, "baselines", baselines)
        if self.features is not None and not isinstance(self.features, FeatureConfig):
            raise TypeError(f"features must be a FeatureConfig or None, got {type(self.features).__name__}")
        object.__setattr__(self, "shifted", self._check_shifted())

    def _check_shifted(self) -> tuple[str, ...]:
        if isinstance(self.shifted, str) or not isinstance(self.shifted, (tuple, list)):
            raise TypeError(f"shifted must be a tuple of strategy names, got {self.shifted!r}")
        shifted = tuple(self.shifted)
        for s in shifted:
            if s not in self.strategies:
                raise ValueError(f"unknown shifted {s!r}; valid: {', '.join(map(repr, self.strategies))} (strategies)")
        if len(set(shifted)) != len(shifted):
            raise ValueError(f"shifted has duplicates: {shifted}")
        if shifted and self.train.noise_shift:
            raise ValueError("shifted names runs with the noise shift, but train.noise_shift is already on")
        if shifted and shifted_config(self.train).level_shift(self.train.stages[0].resolution) != 1:
            raise ValueError(
                f"shifted runs branch from the unshifted stage 1, but stage 1 {self.train.stages[0].resolution} is "
                f"not on the base grid {self.train.model.base_grid} (its shift is not 1)")
        return shifted


#: ``quick``: the CPU comparison (every strategy × 3 seeds, about 8 minutes on 2 cores); ``gpu``: the same
#: comparison with a larger model and grids, sized for one H100/H200-class GPU (about 13 PFLOP, see
#: :data:`cogpe.trainconfig.TRAIN_PRESETS`; ``python -m cogpe.lab --preset gpu``); ``tiny``: tests
#: (seconds); ``cpu-long``: the quick model with about 7× the stage-1 steps and 3× the stage-2 steps
#: (a longer CPU run of the quick comparison).
LAB_PRESETS = {name: LabConfig(TRAIN_PRESETS[name], seeds=PRESET_SEEDS[name]) for name in TRAIN_PRESETS}


def _features_for(config: TrainConfig) -> FeatureConfig:
    """The feature network of an experiment: trained on its data at every probe size."""
    return FeatureConfig(data=config.data, sizes=tuple(dict.fromkeys(p.resolution for p in config.probes)))


for _name in ("time", "space", "time-gpu", "space-gpu"):
    LAB_PRESETS[_name] = dataclasses.replace(LAB_PRESETS[_name], samples=16, baselines=("flops", "steps"),
                                             features=_features_for(TRAIN_PRESETS[_name]),
                                             shifted=SHIFTED if _name.startswith("space") else ())
LAB_PRESETS["cpu-long"] = LabConfig(
    dataclasses.replace(
        TRAIN_PRESETS["quick"],
        stages=(
            Stage(8, 8, 8, steps=2000, batch=8, lr=2e-3, warmup=60),
            Stage(8, 16, 16, steps=100, batch=4, lr=1e-3, eval_every=25),
        ),
        ckpt_every=500,
    ),
    seeds=(0, 1, 2),
)


def smoke(lab: LabConfig) -> LabConfig:
    """``lab`` shrunk to a CPU smoke test of its code path: the same strategies, objective, data, probes
    (relative to stage 1), compile flag and evaluation code, with a 2-layer width-32 model, stage-1 token
    grid (4, 2, 2) and stage 2 grown from it as the preset's grows (doubled in height and width for a
    spatial preset, in frames for a temporal one), a few steps and one seed. ``make test`` runs the ``gpu``
    preset this way (``python -m cogpe.lab --preset gpu --smoke``).

    >>> small = smoke(LAB_PRESETS["gpu"])
    >>> [stage.resolution for stage in small.train.stages], small.train.compile == LAB_PRESETS["gpu"].train.compile
    ([(4, 4, 4), (4, 8, 8)], True)
    >>> [(p.name, p.resolution, p.frame_step) for p in smoke(LAB_PRESETS["time-gpu"]).train.probes][2:]
    [('long3', (12, 8, 8), 1.0), ('tzoom', (8, 8, 8), 0.5)]
    >>> [stage.resolution for stage in smoke(LAB_PRESETS["time-gpu"]).train.stages]
    [(4, 8, 8), (8, 8, 8)]
    """
    train_config = lab.train
    pt, ph, pw = train_config.model.patch
    frames, height, width = 4 * pt, 2 * ph, 2 * pw
    first, second = train_config.stages[0], train_config.stages[-1]
    probes = tuple(dataclasses.replace(p, frames=frames * max(1, round(p.frames / first.frames)),
                                       height=height * max(1, round(p.height / first.height)),
                                       width=width * max(1, round(p.width / first.width)))
                   for p in train_config.probes)  # the same probes relative to stage 1
    small = dataclasses.replace(
        train_config,
        model=dataclasses.replace(train_config.model, width=32, depth=2, heads=2, base_grid=None),
        stages=(dataclasses.replace(first, frames=frames, height=height, width=width, steps=3, batch=2, warmup=1),
                dataclasses.replace(second, frames=frames * max(1, round(second.frames / first.frames)),
                                    height=height * max(1, round(second.height / first.height)),
                                    width=width * max(1, round(second.width / first.width)), steps=2, batch=2,
                                    eval_every=1)),
        probes=probes,
        eval_videos=2,
        ckpt_every=2,
    )
    features = None if lab.features is None else dataclasses.replace(
        _features_for(small), videos=4, steps=2, batch=2, width=2)
    return dataclasses.replace(lab, train=small, seeds=lab.seeds[:1], samples=min(lab.samples, 2), features=features)


def baseline_config(config: TrainConfig, strategy: str = "rope-extrapolate", match: str = "flops") -> TrainConfig:
    """``config`` trained from scratch at its last stage's resolution, with the same forward FLOPs
    (``match="flops"``) or the same number of optimizer steps (``match="steps"``).

    The baseline's single stage has the last stage's resolution and batch, the first stage's learning
    rate and warm-up, and as many steps as the whole progressive schedule costs (or takes). Its base grid
    is the high-resolution grid (there is nothing to scale from).

    >>> from cogpe.trainconfig import TRAIN_PRESETS
    >>> baseline_config(TRAIN_PRESETS["quick"]).stages[0]
    Stage(frames=8, height=16, width=16, steps=135, batch=4, lr=0.002, warmup=30, eval_every=0, cooldown=0)
    >>> baseline_config(TRAIN_PRESETS["quick"], match="steps").stages[0].steps   # 300 + 30
    330
    """
    parse_model_strategy(strategy)  # ValueError naming the valid names
    check_choice("match", match, tuple(BASELINES))
    model_config = config.model_config()
    model = VideoDiT(model_config)  # built once: only its FLOP count is used

    def video_flops(stage: Stage) -> float:
        return model.flops_per_video(model_config.token_grid(*stage.resolution))

    total = sum(s.steps * s.batch * video_flops(s) for s in config.stages)
    last, first = config.stages[-1], config.stages[0]
    per_step = last.batch * video_flops(last)
    steps = sum(s.steps for s in config.stages) if match == "steps" else max(1, round(total / per_step))
    stage = Stage(last.frames, last.height, last.width, steps=steps, batch=last.batch, lr=first.lr,
                  warmup=first.warmup)
    baseline_model = dataclasses.replace(config.model, strategy=strategy, base_grid=None)
    return dataclasses.replace(config, model=baseline_model, stages=(stage,))


def shift_runs(lab: LabConfig) -> list[tuple[str, str]]:
    """``(run name, strategy)`` of each noise-shifted run of ``lab``.

    >>> shift_runs(dataclasses.replace(LAB_PRESETS["tiny"], shifted=("rope-yarn",)))
    [('rope-yarn+shift', 'rope-yarn')]
    """
    return [(s + SHIFT_SUFFIX, s) for s in lab.shifted]


def baseline_runs(lab: LabConfig) -> list[tuple[str, str, str]]:
    """``(run name, strategy, match)`` of each from-scratch baseline of ``lab`` (none without a strategy)."""
    strategy = lab.baseline_strategy
    return [] if strategy is None else [(BASELINES[m], strategy, m) for m in lab.baselines]


def _evaluations(stage: Stage, index: int, last: bool) -> int:
    """How many times a run evaluates its probes during stage ``index`` (see :class:`cogpe.trainconfig.Stage`)."""
    count = 1 if index > 0 else 0  # zero-shot at the start of every stage after the first
    if stage.eval_every:
        count += (stage.steps - 1) // stage.eval_every  # every eval_every steps, before the end
    return count + (1 if last else 0)


def lab_flops(lab="quick") -> dict[str, float]:
    """Approximate FLOPs of a whole comparison (``lab``: a :data:`cogpe.labconfig.LAB_PRESETS` name or a :class:`LabConfig`).

    Counts what :func:`cogpe.lab.run_lab` runs: per seed, stage 1 once per family, the later stages and the
    evaluations once per strategy and noise-shifted run, and the baselines. Training costs 3× the forward FLOPs of each video
    (:meth:`cogpe.model.VideoDiT.flops_per_video`: linear layers and attention; the backward pass is
    about twice the forward), an evaluation 1×. Returns ``{"train", "eval", "total"}``; divide by a
    device's sustained FLOP/s for a time estimate. The analysis of every run (:mod:`cogpe.analysis`:
    samples and attention entropy) is not counted; with 8 samples it adds a few percent.

    >>> f = lab_flops("quick")                     # 8 strategies x 3 seeds and the baseline
    >>> f"{f['total'] / 1e12:.0f} TFLOP", f["train"] > f["eval"]
    ('37 TFLOP', True)
    """
    lab = LAB_PRESETS[check_choice("preset", lab, tuple(LAB_PRESETS))] if isinstance(lab, str) else lab
    if not isinstance(lab, LabConfig):
        raise TypeError(f"lab must be a name in {tuple(LAB_PRESETS)} or a LabConfig, got {type(lab).__name__}")

    def costs(config: TrainConfig, first_stage: int) -> tuple[float, float]:
        model_config = config.model_config()
        model = VideoDiT(model_config)
        video = lambda res: model.flops_per_video(model_config.token_grid(*res))  # noqa: E731
        probe = config.eval_videos * sum(video(p.resolution) for p in config.probes)
        train_f = eval_f = 0.0
        last = len(config.stages) - 1
        for i, stage in enumerate(config.stages):
            if i >= first_stage:
                train_f += 3 * stage.steps * stage.batch * video(stage.resolution)
                eval_f += _evaluations(stage, i, i == last) * probe
        return train_f, eval_f

    families = {strategy_family(s) for s in lab.strategies}
    stage1 = costs(dataclasses.replace(lab.train, stages=lab.train.stages[:1]), 0)[0]
    train_f, eval_f = stage1 * len(families), 0.0
    later = costs(lab.train, 1)
    branches = len(lab.strategies) + len(lab.shifted)  # a shifted run costs what its strategy's does
    train_f += later[0] * branches
    eval_f += later[1] * branches
    for _, strategy, match in baseline_runs(lab):
        base = costs(baseline_config(lab.train, strategy, match), 0)
        train_f, eval_f = train_f + base[0], eval_f + base[1]
    n = len(lab.seeds)
    return {"train": n * train_f, "eval": n * eval_f, "total": n * (train_f + eval_f)}
