"""The strategy comparison of chapter 7: every position strategy × several seeds, with error bars.

Protocol (chapter 7, section 7.2), per seed:

1. **Stage 1 once per family.** Every strategy of a family (:data:`cogpe.model.FAMILIES`: one encoding, :func:`cogpe.strategy.parse_model_strategy`) computes the
   same function at the stage-1 grid, so stage 1 is trained once — under the family's first strategy —
   and every other strategy of the family *branches* from its ``stage1.pt``
   (:func:`cogpe.train.train` with ``init_from``). The comparison then isolates what each strategy does
   at the resolution change.
2. **Stage 2** at the high resolution; the held-out probes (fixed videos, noise and noise levels) are
   evaluated zero-shot right after the switch, during stage 2, and at its end. The ``long`` probe has
   more frames than any stage: a bigger canvas in time (chapter 7), where
   extrapolation is the geometrically consistent map and RIFLEx (bibliography key ``zhao2025riflex``)
   reports interpolation's slow motion — the opposite winner to the spatial zoom.
3. **Baseline**: the same model trained from scratch at the high resolution with the compute (forward
   FLOPs) of both stages together — does progressive training pay off?

Results (:func:`run_lab`) are plain data: provenance (:func:`cogpe.runfiles.provenance` — commit, date,
device, torch — with the preset, strategies, seeds, wall time and the number of runs read back),
the evaluation rows and loss curves of every run, and a summary of mean ± std over seeds per strategy
and metric (:func:`summarize`); :func:`format_table` prints it. A claim is made only where a gap exceeds
the seed spread (:func:`gap_exceeds_spread`).

**Samples**: for the first seed, every run also generates ``samples`` videos at the last stage's
resolution from fixed noise — zero-shot (the stage-1 model under the run's strategy) and at the end —
kept in the run directory and gathered by :func:`collect_samples` (the CLI writes them next to the
results JSON, ``<results>.samples.npz``; :func:`load_samples` reads them back).

**Pooled**: where the preset names a feature network, the samples of every seed are also measured
together (:func:`cogpe.labpool.pooled_quality`: one Fréchet distance per run, probe and moment with
a cluster bootstrap interval over seeds, and the pooled sample and behaviour ratios), the results'
``pooled`` block.

Run directories are resumable: finished runs are read back from their ``metrics.jsonl``, an
interrupted one continues from its checkpoint; the provenance counts the runs reused that way.
Checkpoints are deleted once a family is done, unless ``keep_checkpoints=True``.

CLI: ``python -m cogpe.lab --preset quick [--out runs/lab-quick] [--results lab.json]``.
"""

from __future__ import annotations

import argparse
import json
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ._checks import check_choice, check_size
from .model import VideoDiT, strategy_family
from .strategy import MODEL_STRATEGIES, parse_model_strategy
from .runfiles import atomic_write, format_provenance, provenance, read_metrics, resolve_device, write_json
from .labpool import SAMPLES_FILE, pooled_quality
from .labsummary import COLUMNS, format_table, gap_exceeds_spread, paired_difference, summarize
from .analysis import SAMPLE_STEPS, analyse_checkpoint, probe_data, resolution_key, to_uint8
from .train import load_model, train
from .quality import FeatureConfig, FeatureNet, cached_feature_net
from .trainconfig import PRESET_SEEDS, TRAIN_PRESETS, Stage, TrainConfig

__all__ = [
    "BASELINES",
    "LAB_PRESETS",
    "LabConfig",
    "baseline_config",
    "collect_samples",
    "format_table",
    "gap_exceeds_spread",
    "lab_flops",
    "load_samples",
    "main",
    "paired_difference",
    "run_lab",
    "save_samples",
    "smoke",
    "summarize",
]

BASELINE = "baseline"
#: The from-scratch baselines, by run name, and what each matches of the progressive schedule: its
#: forward FLOPs (fewer steps, as each costs the high-resolution price) or its number of optimizer steps.
BASELINES = {"flops": BASELINE, "steps": "baseline-steps"}
#: The statistics of what each run does at the new grid (:mod:`cogpe.analysis`); its samples are in
#: :data:`cogpe.labpool.SAMPLES_FILE`.
ANALYSIS_FILE = "analysis.json"


@dataclass(frozen=True)
class LabConfig:
    """A comparison: the progressive run ``train`` (its strategy is replaced per run), the
    ``strategies`` and ``seeds`` to compare, the strategy of the from-scratch baseline (or None), the
    ``samples`` each run generates per probe size, and the feature network the samples' Fréchet distance
    is measured with (:class:`cogpe.quality.FeatureConfig`; None: no distance)."""

    train: TrainConfig
    strategies: tuple[str, ...] = MODEL_STRATEGIES
    seeds: tuple[int, ...] = (0, 1, 2)
    baseline_strategy: str | None = "rope-extrapolate"
    samples: int = 8
    features: FeatureConfig | None = None
    baselines: tuple[str, ...] = ("flops",)

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
        seeds = tuple(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ValueError(f"seeds must be a non-empty list of integers >= 0, got {self.seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds has duplicates: {seeds}")
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


#: ``quick``: the CPU comparison (every strategy × 3 seeds, about 8 minutes on 2 cores); ``gpu``: the same
#: comparison with a larger model and grids, sized for one H100/H200-class GPU (about 13 PFLOP, see
#: :data:`cogpe.trainconfig.TRAIN_PRESETS`; ``python -m cogpe.lab --preset gpu``); ``tiny``: tests
#: (seconds); ``cpu-long``: the quick model with about 7× the stage-1 steps and 3× the stage-2 steps,
#: for a stored background CPU run whose samples are compared with the data (chapter 7).
LAB_PRESETS = {name: LabConfig(TRAIN_PRESETS[name], seeds=PRESET_SEEDS[name]) for name in TRAIN_PRESETS}


def _features_for(config: TrainConfig) -> FeatureConfig:
    """The feature network of an experiment: trained on its data at every probe size."""
    return FeatureConfig(data=config.data, sizes=tuple(dict.fromkeys(p.resolution for p in config.probes)))


for _name in ("time", "space", "time-gpu", "space-gpu"):
    LAB_PRESETS[_name] = dataclasses.replace(LAB_PRESETS[_name], samples=32, baselines=("flops", "steps"),
                                             features=_features_for(TRAIN_PRESETS[_name]))
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
    grid (4, 2, 2) doubled in height and width for stage 2, a few steps and one seed. ``make test`` runs
    the ``gpu`` preset this way (``python -m cogpe.lab --preset gpu --smoke``).

    >>> small = smoke(LAB_PRESETS["gpu"])
    >>> [stage.resolution for stage in small.train.stages], small.train.compile == LAB_PRESETS["gpu"].train.compile
    ([(4, 4, 4), (4, 8, 8)], True)
    >>> [(p.name, p.resolution, p.frame_step) for p in smoke(LAB_PRESETS["time-gpu"]).train.probes][2:]
    [('long3', (12, 8, 8), 1.0), ('tzoom', (8, 8, 8), 0.5)]
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
                dataclasses.replace(second, frames=frames, height=2 * height, width=2 * width, steps=2, batch=2,
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
    Stage(frames=8, height=16, width=16, steps=135, batch=4, lr=0.002, warmup=30, eval_every=0)
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


def _baselines(lab: LabConfig) -> list[tuple[str, str, str]]:
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
    """Approximate FLOPs of a whole comparison (``lab``: a :data:`LAB_PRESETS` name or a :class:`LabConfig`).

    Counts what :func:`run_lab` runs: per seed, stage 1 once per family, the later stages and the
    evaluations once per strategy, and the baseline. Training costs 3× the forward FLOPs of each video
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
    train_f += later[0] * len(lab.strategies)
    eval_f += later[1] * len(lab.strategies)
    for _, strategy, match in _baselines(lab):
        base = costs(baseline_config(lab.train, strategy, match), 0)
        train_f, eval_f = train_f + base[0], eval_f + base[1]
    n = len(lab.seeds)
    return {"train": n * train_f, "eval": n * eval_f, "total": n * (train_f + eval_f)}


# --- running -------------------------------------------------------------------------------------------


def _finished_rows(run_dir: Path) -> list[dict] | None:
    """The metric rows of a finished run (``run.json`` is written last), else None."""
    if not (run_dir / "run.json").is_file() or (run_dir / "ckpt.pt").is_file():
        return None
    return read_metrics(run_dir)


def _run(config: TrainConfig, run_dir: Path, *, init_from=None, device, progress: bool) -> tuple[list[dict], bool]:
    """The run's metric rows, and whether they were read back from an earlier invocation."""
    rows = _finished_rows(run_dir)
    if rows is not None:
        return rows, True
    return train(config, run_dir, resume=True, init_from=init_from, device=device, progress=progress), False


# --- what each run does at the new grid: samples, their statistics, attention -------------------------------


def _analyse(run_dir: Path, config: TrainConfig, stage1: Path | None, n_samples: int, attention: bool,
             device, features: FeatureNet | None = None) -> dict | None:
    """``run_dir/analysis.json`` (:func:`cogpe.analysis.analyse_checkpoint` of the run's model right after
    the switch, ``zero_shot``, and at the end, ``final``) and ``run_dir/samples.npz`` (uint8 videos
    ``"<when>/FxHxW"``), computed from the run's checkpoints unless they exist. None when neither the
    file nor the checkpoints are there (an older run directory) or nothing is asked for."""
    path = run_dir / ANALYSIS_FILE
    if path.is_file():
        return json.loads(path.read_text())
    sources = {"final": run_dir / "ckpt.pt"} if stage1 is None else {"zero_shot": stage1, "final": run_dir / "ckpt.pt"}
    if not (n_samples or attention) or not all(p.is_file() for p in sources.values()):
        return None
    analysis, arrays = {}, {}
    for when, ckpt in sources.items():
        model = load_model(ckpt, strategy=config.strategy, device=device)
        analysis[when], videos = analyse_checkpoint(model, config, samples=n_samples, attention=attention,
                                                    features=features)
        arrays.update({f"{when}/{key}": to_uint8(v) for key, v in videos.items()})
    if arrays:
        save_samples(run_dir / SAMPLES_FILE, arrays)
    write_json(path, analysis)
    return analysis


def collect_samples(out_dir, results: dict) -> dict[str, np.ndarray]:
    """The samples of a :func:`run_lab` comparison in ``out_dir`` (its first seed) and the held-out data
    they are compared with: ``{"<strategy>/<when>/FxHxW": uint8 (n, C, T, H, W)}`` with ``when``
    ``zero_shot`` (right after the switch; not for the baseline) or ``final``, and ``{"data/<probe>": …}``."""
    meta = results.get("samples")
    if not meta:
        return {}
    out = {}
    for strategy in meta["strategies"]:
        with np.load(Path(out_dir) / f"seed{meta['seed']}" / strategy / SAMPLES_FILE) as f:
            out.update({f"{strategy}/{key}": f[key] for key in f.files})
    config = TrainConfig.from_dict(results["config"])
    for probe in config.probes:
        out[f"data/{probe.name}"] = to_uint8(probe_data(config, probe, meta["n"]))
    return out


def save_samples(path, samples: dict[str, np.ndarray]) -> None:
    """Write :func:`collect_samples`' dict to ``path`` (a compressed ``.npz``), atomically."""
    savez: Any = np.savez_compressed  # typed for its keyword flags; the keys here are video names
    atomic_write(Path(path), lambda f: savez(f, **samples))


def load_samples(path) -> dict[str, torch.Tensor]:
    """Samples saved by :func:`save_samples` as float videos ``(n, C, T, H, W)`` in [-1, 1], ready for
    :func:`cogpe.viz.animate_videos` (one video: ``videos[key][0]``)."""
    with np.load(path) as f:
        return {key: torch.from_numpy(f[key]).float() / 127.5 - 1.0 for key in f.files}


def _drop_checkpoints(run_dir: Path) -> None:
    for path in run_dir.glob("*.pt"):
        path.unlink()


def _by_family(strategies: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for s in strategies:
        groups.setdefault(strategy_family(s), []).append(s)
    return groups


def _probes(config: TrainConfig) -> dict[str, dict]:
    """Each probe by name: its resolution (pixels), token grid, field of view and frame step."""
    model = config.model_config()
    return {p.name: {"resolution": list(p.resolution), "grid": list(model.token_grid(*p.resolution)),
                     "extent": p.extent, "frame_step": p.frame_step} for p in config.probes}


def _compact(rows: list[dict]) -> dict:
    """Evaluation rows as they are, training rows as a loss curve ``[[step, stage, loss], …]``."""
    evals = [{k: r[k] for k in ("step", "stage", "stage_step", "probe", "frames", "height", "width", "tokens", "loss")}
             for r in rows if r["kind"] == "eval"]
    curve = [[r["step"], r["stage"], round(r["loss"], 6)] for r in rows if r["kind"] == "train"]
    return {"eval": evals, "train": curve}


def run_lab(
    preset="quick",
    out_dir=None,
    *,
    strategies: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    baseline: bool = True,
    device="auto",
    progress: bool = True,
    keep_checkpoints: bool = False,
    samples: int | None = None,
    attention: bool = True,
    name: str | None = None,
) -> dict:
    """Run the comparison of ``preset`` (a :data:`LAB_PRESETS` name or a :class:`LabConfig`) in ``out_dir``.

    ``strategies``/``seeds`` narrow the preset's; ``baseline=False`` skips the from-scratch run. Returns
    the results dict (module docstring); ``out_dir`` defaults to ``runs/lab-<preset>``. Every run is
    analysed (:mod:`cogpe.analysis`) right after the switch and at the end: ``samples`` videos per probe
    size (0: none; default the preset's) with their statistics against the data (and their Fréchet
    distance where the preset names a feature network, trained once and cached in ``out_dir``), and
    (``attention``) the attention entropy per probe;
    :func:`collect_samples` gathers the first seed's videos. ``name`` is recorded as the preset in the
    provenance (default: the preset's name, or ``"custom"`` for a :class:`LabConfig`).
    """
    lab = LAB_PRESETS[check_choice("preset", preset, tuple(LAB_PRESETS))] if isinstance(preset, str) else preset
    if not isinstance(lab, LabConfig):
        raise TypeError(f"preset must be a name in {tuple(LAB_PRESETS)} or a LabConfig, got {type(lab).__name__}")
    lab = dataclasses.replace(
        lab,
        strategies=lab.strategies if strategies is None else tuple(strategies),
        seeds=lab.seeds if seeds is None else tuple(seeds),
        baseline_strategy=lab.baseline_strategy if baseline else None,
    )
    name = name or (preset if isinstance(preset, str) else "custom")
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"lab-{name}"
    device = resolve_device(device)
    start = time.perf_counter()
    runs: dict[str, dict[str, dict]] = {}
    reused = 0
    n_samples = lab.samples if samples is None else check_size("samples", samples, minimum=0, what="videos")
    sampled: list[str] = []
    features = None if lab.features is None or not n_samples else cached_feature_net(lab.features, out)

    def record(strategy, seed, run):
        nonlocal reused
        rows, was_reused = run
        reused += was_reused
        runs.setdefault(strategy, {})[str(seed)] = _compact(rows)

    def analyse(strategy, seed, config, run_dir, stage1):
        analysis = _analyse(run_dir, config, stage1, n_samples, attention, device, features)
        if analysis is not None:
            runs[strategy][str(seed)]["analysis"] = analysis
            if n_samples and seed == lab.seeds[0]:
                sampled.append(strategy)

    for seed in lab.seeds:
        base = dataclasses.replace(lab.train, seed=seed)
        for members in _by_family(lab.strategies).values():
            first_dir = out / f"seed{seed}" / members[0]
            for strategy in members:
                run_dir = out / f"seed{seed}" / strategy
                init = None if strategy == members[0] else first_dir / "stage1.pt"
                record(strategy, seed, _run(base.with_strategy(strategy), run_dir, init_from=init, device=device,
                                            progress=progress))
            for strategy in members:
                analyse(strategy, seed, base.with_strategy(strategy), out / f"seed{seed}" / strategy,
                        first_dir / "stage1.pt")
            if not keep_checkpoints:
                for strategy in members:
                    _drop_checkpoints(out / f"seed{seed}" / strategy)
        for run_name, strategy, match in _baselines(lab):
            run_dir = out / f"seed{seed}" / run_name
            config = baseline_config(base, strategy, match)
            record(run_name, seed, _run(config, run_dir, device=device, progress=progress))
            analyse(run_name, seed, config, run_dir, None)
            if not keep_checkpoints:
                _drop_checkpoints(run_dir)
    results = {
        "provenance": provenance(device, preset=name, strategies=list(lab.strategies), seeds=list(lab.seeds),
                                 baseline_strategy=lab.baseline_strategy,
                                 wall_seconds=round(time.perf_counter() - start, 1), runs_reused=reused),
        "config": lab.train.to_dict(),
        "probes": _probes(lab.train),
        "baseline_config": None if lab.baseline_strategy is None else baseline_config(lab.train, lab.baseline_strategy).to_dict(),
        "baseline_configs": {} if lab.baseline_strategy is None else {
            BASELINES[m]: baseline_config(lab.train, lab.baseline_strategy, m).to_dict() for m in lab.baselines},
        "runs": runs,
        "samples": None if not sampled else {
            "seed": lab.seeds[0], "n": n_samples, "steps": SAMPLE_STEPS, "noise_seed": 0, "strategies": sampled,
            "resolutions": sorted({resolution_key(p.resolution) for p in lab.train.probes}),
        },
    }
    results["summary"] = summarize(results)
    if features is not None and sampled:
        results["pooled"] = pooled_quality(out, results, features)
    return results


# --- command line ------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cogpe.lab",
                                description="Compare position-encoding strategies under progressive training.")
    p.add_argument("--preset", default="quick", choices=tuple(LAB_PRESETS), help="configuration (default: quick)")
    p.add_argument("--out", default=None, help="run directory (default: runs/lab-PRESET)")
    p.add_argument("--results", default=None, help="write the results JSON here (default: OUT/results.json)")
    p.add_argument("--strategies", nargs="+", default=None, metavar="STRATEGY",
                   help=f"subset of strategies, from {', '.join(MODEL_STRATEGIES)}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="seeds (default: the preset's)")
    p.add_argument("--no-baseline", action="store_true", help="skip the from-scratch high-resolution baseline")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep every run's checkpoints")
    p.add_argument("--samples", type=int, default=None,
                   help="videos sampled per run and probe size; the first seed's are written to "
                        "RESULTS.samples.npz (default: the preset's, 8 or 32; 0: none)")
    p.add_argument("--no-attention", action="store_true", help="skip the attention-entropy measurements")
    p.add_argument("--smoke", action="store_true",
                   help="run the preset's code path at test size on any device (cogpe.lab.smoke), in seconds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m cogpe.lab``); prints the table, writes the results JSON."""
    parser = _parser()
    args = parser.parse_args(argv)
    name = f"{args.preset}-smoke" if args.smoke else args.preset
    out = Path(args.out) if args.out else Path("runs") / f"lab-{name}"
    preset = smoke(LAB_PRESETS[args.preset]) if args.smoke else args.preset
    try:
        results = run_lab(preset, out, strategies=args.strategies, seeds=args.seeds,
                          baseline=not args.no_baseline, device=args.device, progress=not args.no_progress,
                          keep_checkpoints=args.keep_checkpoints, samples=args.samples,
                          attention=not args.no_attention, name=name)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    path = Path(args.results) if args.results else out / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results)
    prov = results["provenance"]
    reused = f", {prov['runs_reused']} finished run(s) read back from {out}" if prov["runs_reused"] else ""
    print(f"{prov['preset']}: {len(prov['strategies'])} strategies x {len(prov['seeds'])} seeds "
          f"in {prov['wall_seconds']:.0f} s{reused} -> {path}")
    print(format_provenance(prov))
    samples = collect_samples(out, results)
    if samples:
        save_samples(path.with_suffix(".samples.npz"), samples)
        print(f"samples: {path.with_suffix('.samples.npz')}")
    print("held-out denoising loss, mean ± std over seeds (lower is better)")
    print(format_table(results["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
