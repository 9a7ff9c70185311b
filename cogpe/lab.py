"""The strategy comparison of chapter 7: every position strategy × several seeds, with error bars.

Protocol (chapter 7, section 7.2), per seed:

1. **Stage 1 once per family.** Every strategy of a family (:data:`cogpe.model.FAMILIES`: one encoding, :func:`cogpe.strategy.parse_model_strategy`) computes the
   same function at the stage-1 grid, so stage 1 is trained once — under the family's first strategy —
   and every other strategy of the family *branches* from its ``stage1.pt``
   (:func:`cogpe.train.train` with ``init_from``). The comparison then isolates what each strategy does
   at the resolution change.
2. **Stage 2** at the high resolution; the held-out probes (fixed videos, noise and noise levels) are
   evaluated zero-shot right after the switch, during stage 2, and at its end. The ``long`` probe has
   more frames than any stage: a bigger canvas in time (chapter 7, sections 7.1 and 7.4), where
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

Run directories are resumable: finished runs are read back from their ``metrics.jsonl``, an
interrupted one continues from its checkpoint; the provenance counts the runs reused that way.
Checkpoints are deleted once a family is done, unless ``keep_checkpoints=True``.

CLI: ``python -m cogpe.lab --preset quick [--out runs/lab-quick] [--results lab.json]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
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
from .objective import sample
from .runfiles import atomic_write, format_provenance, provenance, read_metrics, resolve_device, write_json
from .train import load_model, train
from .trainconfig import PRESET_SEEDS, TRAIN_PRESETS, Stage, TrainConfig

__all__ = [
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
    "summarize",
]

BASELINE = "baseline"
#: Each run's samples (first seed only), and the Euler steps that generate them.
SAMPLES_FILE = "samples.npz"
SAMPLE_STEPS = 20


@dataclass(frozen=True)
class LabConfig:
    """A comparison: the progressive run ``train`` (its strategy is replaced per run), the
    ``strategies`` and ``seeds`` to compare, and the strategy of the from-scratch baseline (or None)."""

    train: TrainConfig
    strategies: tuple[str, ...] = MODEL_STRATEGIES
    seeds: tuple[int, ...] = (0, 1, 2)
    baseline_strategy: str | None = "rope-extrapolate"

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


#: ``quick``: the CPU comparison (every strategy × 3 seeds, about 8 minutes on 2 cores); ``full``: for a
#: GPU (5 seeds, larger model and grids, about 40 PFLOP: ~15 minutes at 50 TFLOP/s sustained, as on an
#: A100 or H100 in bf16; a T4 takes a few times longer); ``tiny``: tests (seconds); ``cpu-long``: the
#: quick model with 4× the steps and 5 seeds, for a background CPU run (about 50 minutes on 2 cores).
LAB_PRESETS = {name: LabConfig(TRAIN_PRESETS[name], seeds=PRESET_SEEDS[name]) for name in TRAIN_PRESETS}
LAB_PRESETS["cpu-long"] = LabConfig(
    dataclasses.replace(
        TRAIN_PRESETS["quick"],
        stages=(
            Stage(8, 16, 16, steps=1200, batch=8, lr=2e-3, warmup=60),
            Stage(8, 32, 32, steps=120, batch=4, lr=1e-3, eval_every=20),
        ),
        ckpt_every=300,
    ),
    seeds=(0, 1, 2, 3, 4),
)


def baseline_config(config: TrainConfig, strategy: str = "rope-extrapolate") -> TrainConfig:
    """``config`` trained from scratch at its last stage's resolution, with the same forward FLOPs.

    The baseline's single stage has the last stage's resolution and batch, the first stage's learning
    rate and warm-up, and as many steps as the whole progressive schedule costs. Its base grid is the
    high-resolution grid (there is nothing to scale from).

    >>> from cogpe.trainconfig import TRAIN_PRESETS
    >>> baseline_config(TRAIN_PRESETS["quick"]).stages[0]
    Stage(frames=8, height=32, width=32, steps=135, batch=4, lr=0.002, warmup=30, eval_every=0)
    """
    parse_model_strategy(strategy)  # ValueError naming the valid names
    model_config = config.model_config()
    model = VideoDiT(model_config)  # built once: only its FLOP count is used

    def video_flops(stage: Stage) -> float:
        return model.flops_per_video(model_config.token_grid(*stage.resolution))

    total = sum(s.steps * s.batch * video_flops(s) for s in config.stages)
    last, first = config.stages[-1], config.stages[0]
    per_step = last.batch * video_flops(last)
    stage = Stage(last.frames, last.height, last.width, steps=max(1, round(total / per_step)), batch=last.batch,
                  lr=first.lr, warmup=first.warmup)
    baseline_model = dataclasses.replace(config.model, strategy=strategy, base_grid=None)
    return dataclasses.replace(config, model=baseline_model, stages=(stage,))


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
    device's sustained FLOP/s for a time estimate.

    >>> f = lab_flops("quick")                     # 8 strategies x 3 seeds and the baseline
    >>> f"{f['total'] / 1e12:.0f} TFLOP", f["train"] > f["eval"]
    ('40 TFLOP', True)
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
    if lab.baseline_strategy is not None:
        base = costs(baseline_config(lab.train, lab.baseline_strategy), 0)
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


# --- samples ---------------------------------------------------------------------------------------------


def _to_uint8(videos: torch.Tensor) -> np.ndarray:
    """Videos in [-1, 1] -> uint8 in [0, 255], same shape."""
    return ((videos.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def _write_samples(run_dir: Path, strategy: str, stage1: Path | None, n: int, resolution, device) -> bool:
    """Generate ``run_dir/samples.npz`` (``zero_shot`` and ``final``: uint8 ``(n, C, T, H, W)``) from the
    run's checkpoints unless it exists; False when the checkpoints are gone (an older run directory)."""
    path = run_dir / SAMPLES_FILE
    if path.is_file():
        return True
    sources = {"final": run_dir / "ckpt.pt"}
    if stage1 is not None:
        sources["zero_shot"] = stage1
    if not all(p.is_file() for p in sources.values()):
        return False
    arrays = {}
    for key, ckpt in sources.items():
        model = load_model(ckpt, strategy=strategy, device=device)
        arrays[key] = _to_uint8(sample(model, n, resolution, steps=SAMPLE_STEPS, seed=0))
    save_samples(path, arrays)
    return True


def collect_samples(out_dir, results: dict) -> dict[str, np.ndarray]:
    """The samples of a :func:`run_lab` comparison in ``out_dir``: ``{"<strategy>/<when>": uint8 (n, C, T, H, W)}``
    with ``when`` ``zero_shot`` (right after the switch; not for the baseline) or ``final``."""
    meta = results.get("samples")
    if not meta:
        return {}
    out = {}
    for strategy in meta["strategies"]:
        with np.load(Path(out_dir) / f"seed{meta['seed']}" / strategy / SAMPLES_FILE) as f:
            out.update({f"{strategy}/{key}": f[key] for key in f.files})
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
    samples: int = 1,
) -> dict:
    """Run the comparison of ``preset`` (a :data:`LAB_PRESETS` name or a :class:`LabConfig`) in ``out_dir``.

    ``strategies``/``seeds`` narrow the preset's; ``baseline=False`` skips the from-scratch run. Returns
    the results dict (module docstring); ``out_dir`` defaults to ``runs/lab-<preset>``. ``samples``
    videos per run of the first seed are generated (0: none); :func:`collect_samples` gathers them.
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
    name = preset if isinstance(preset, str) else "custom"
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"lab-{name}"
    device = resolve_device(device)
    start = time.perf_counter()
    runs: dict[str, dict[str, dict]] = {}
    reused = 0
    n_samples = check_size("samples", samples, minimum=0) if samples else 0
    sampled: list[str] = []
    resolution = lab.train.stages[-1].resolution

    def record(strategy, seed, run):
        nonlocal reused
        rows, was_reused = run
        reused += was_reused
        runs.setdefault(strategy, {})[str(seed)] = _compact(rows)

    for seed in lab.seeds:
        base = dataclasses.replace(lab.train, seed=seed)
        want_samples = n_samples > 0 and seed == lab.seeds[0]
        for members in _by_family(lab.strategies).values():
            first_dir = out / f"seed{seed}" / members[0]
            for strategy in members:
                run_dir = out / f"seed{seed}" / strategy
                init = None if strategy == members[0] else first_dir / "stage1.pt"
                record(strategy, seed, _run(base.with_strategy(strategy), run_dir, init_from=init, device=device,
                                            progress=progress))
            for strategy in members if want_samples else ():
                if _write_samples(out / f"seed{seed}" / strategy, strategy, first_dir / "stage1.pt", n_samples,
                                  resolution, device):
                    sampled.append(strategy)
            if not keep_checkpoints:
                for strategy in members:
                    _drop_checkpoints(out / f"seed{seed}" / strategy)
        if lab.baseline_strategy is not None:
            run_dir = out / f"seed{seed}" / BASELINE
            record(BASELINE, seed, _run(baseline_config(base, lab.baseline_strategy), run_dir, device=device,
                                        progress=progress))
            if want_samples and _write_samples(run_dir, lab.baseline_strategy, None, n_samples, resolution, device):
                sampled.append(BASELINE)
            if not keep_checkpoints:
                _drop_checkpoints(run_dir)
    results = {
        "provenance": provenance(device, preset=name, strategies=list(lab.strategies), seeds=list(lab.seeds),
                                 baseline_strategy=lab.baseline_strategy,
                                 wall_seconds=round(time.perf_counter() - start, 1), runs_reused=reused),
        "config": lab.train.to_dict(),
        "baseline_config": None if lab.baseline_strategy is None else baseline_config(lab.train, lab.baseline_strategy).to_dict(),
        "runs": runs,
        "samples": None if not sampled else {
            "seed": lab.seeds[0], "n": n_samples, "resolution": list(resolution), "steps": SAMPLE_STEPS,
            "noise_seed": 0, "strategies": sampled,
        },
    }
    results["summary"] = summarize(results)
    return results


# --- summary ---------------------------------------------------------------------------------------------


def _metrics_of(run: dict) -> dict[str, float]:
    """``zero_shot_<probe>`` (first evaluation of the last stage) and ``final_<probe>`` (last evaluation)."""
    evals = run["eval"]
    if not evals:
        return {}
    last_stage = max(r["stage"] for r in evals)
    first_step = min(r["step"] for r in evals if r["stage"] == last_stage)
    last_step = max(r["step"] for r in evals)
    out = {}
    for r in evals:
        if r["step"] == last_step:
            out[f"final_{r['probe']}"] = r["loss"]
        if last_stage > 1 and r["stage"] == last_stage and r["step"] == first_step and r["stage_step"] == 0:
            out[f"zero_shot_{r['probe']}"] = r["loss"]
    return out


def summarize(results: dict) -> dict:
    """Per strategy and metric: ``{"mean", "std", "values"}`` over seeds (``std`` with n−1; 0 for one seed)."""
    summary = {}
    for strategy, by_seed in results["runs"].items():
        per_metric: dict[str, list[float]] = {}
        for seed in sorted(by_seed, key=int):
            for metric, value in _metrics_of(by_seed[seed]).items():
                per_metric.setdefault(metric, []).append(value)
        summary[strategy] = {
            m: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "values": v}
            for m, v in per_metric.items()
        }
    return summary


def gap_exceeds_spread(summary: dict, better: str, worse: str, metric: str) -> bool:
    """True when ``better`` has the lower mean ``metric`` and the gap exceeds the sum of both stds.

    >>> s = {"a": {"m": {"mean": 0.2, "std": 0.01}}, "b": {"m": {"mean": 0.4, "std": 0.05}}}
    >>> gap_exceeds_spread(s, "a", "b", "m"), gap_exceeds_spread(s, "b", "a", "m")
    (True, False)
    """
    for name in (better, worse):
        if name not in summary:
            raise KeyError(f"no results for {name!r}; have {', '.join(summary)}")
        if metric not in summary[name]:
            raise KeyError(f"{name!r} has no metric {metric!r}; have {', '.join(summary[name])}")
    a, b = summary[better][metric], summary[worse][metric]
    return b["mean"] - a["mean"] > a["std"] + b["std"]


def paired_difference(results: dict, a: str, b: str, metric: str) -> dict:
    """Per-seed ``metric(a) − metric(b)``: ``{"mean", "std", "values"}``.

    Strategies of one family share stage 1, training data and evaluation noise for a given seed, so
    their per-seed differences remove most of the seed-to-seed variation; a difference is consistent
    when every seed has the same sign and ``|mean| > std``.
    """
    values = []
    for name in (a, b):
        if name not in results["runs"]:
            raise KeyError(f"no results for {name!r}; have {', '.join(results['runs'])}")
    for seed in sorted(results["runs"][a], key=int):
        ma, mb = _metrics_of(results["runs"][a][seed]), _metrics_of(results["runs"][b][seed])
        if metric not in ma or metric not in mb:
            raise KeyError(f"metric {metric!r} is missing for seed {seed}; have {', '.join(ma)}")
        values.append(ma[metric] - mb[metric])
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


COLUMNS = (
    ("zero_shot_high", "high, zero-shot"),
    ("final_high", "high, end"),
    ("zero_shot_long", "long, zero-shot"),
    ("final_long", "long, end"),
    ("final_low", "low, end"),
)


def format_table(summary: dict, columns=COLUMNS) -> str:
    """A plain-text table of mean ± std per strategy (rows) and metric (columns); '—' where absent."""
    header = ["strategy"] + [title for _, title in columns]
    lines = []
    for strategy, metrics in summary.items():
        cells = [strategy]
        for key, _ in columns:
            m = metrics.get(key)
            cells.append("—" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])


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
    p.add_argument("--samples", type=int, default=1,
                   help="videos sampled per strategy (first seed), written to RESULTS.samples.npz (default 1; 0: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m cogpe.lab``); prints the table, writes the results JSON."""
    parser = _parser()
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path("runs") / f"lab-{args.preset}"
    try:
        results = run_lab(args.preset, out, strategies=args.strategies, seeds=args.seeds,
                          baseline=not args.no_baseline, device=args.device, progress=not args.no_progress,
                          keep_checkpoints=args.keep_checkpoints, samples=args.samples)
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
