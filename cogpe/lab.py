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
3. **Noise shift**: the strategies a preset names in ``shifted`` (the spatial experiments: four) also
   branch from their family's ``stage1.pt`` into a stage 2 with the noise schedule shifted by the token
   count (``<strategy>+shift``, :func:`cogpe.labconfig.shift_runs`), as video diffusion models do; the
   shift is 1 at the stage-1 grid, so the branch loses nothing.
4. **Baselines**: the same model trained from scratch at the high resolution with the compute (forward
   FLOPs) of both stages together, and with as many optimizer steps — does progressive training pay off?

What a comparison runs — :class:`LabConfig`, :data:`cogpe.labconfig.LAB_PRESETS`, :func:`baseline_config`, :func:`smoke`,
:func:`lab_flops` — is defined in :mod:`cogpe.labconfig` and importable from here.

Results (:func:`run_lab`) are plain data: provenance (:func:`cogpe.runfiles.provenance` — commit, date,
device, torch — with the preset, strategies, seeds, wall time and the number of runs read back),
the evaluation rows and loss curves of every run, and a summary of mean ± std over seeds per strategy
and metric (:func:`summarize`); :func:`format_table` prints it. A claim is made only where a gap exceeds
the seed spread (:func:`gap_exceeds_spread`).

**Samples**: every run also generates ``samples`` videos at each probe's size from fixed noise — zero-shot (the stage-1 model under the run's strategy) and at the end —
kept in the run directory; :func:`collect_samples` gathers the first seed's (the CLI writes them next to the
results JSON, ``<results>.samples.npz``; :func:`load_samples` reads them back).

**Pooled**: where the preset names a feature network, the samples of every seed are also measured
together (:func:`cogpe.labpool.pooled_quality`: one Fréchet distance per run, probe and moment with
a cluster bootstrap interval over seeds, and the pooled sample ratios), the results' ``pooled`` block.
The behaviour ratios stay per seed, where the paired tests use them (``pooled_quality(...,
behaviour=True)`` pools them too, at many times the cost).

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
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ._checks import check_choice, check_size
from .labconfig import (BASELINES, LAB_PRESETS, LabConfig, baseline_config, baseline_runs, lab_flops, shift_runs,
                        shifted_config, smoke)
from .model import strategy_family
from .strategy import MODEL_STRATEGIES
from .runfiles import atomic_write, format_provenance, provenance, read_metrics, resolve_device, write_json
from .labpool import SAMPLES_FILE, pooled_quality
from .labsummary import COLUMNS, format_table, gap_exceeds_spread, paired_difference, summarize
from .analysis import SAMPLE_STEPS, analyse_checkpoint, probe_data, resolution_key, to_uint8
from .train import load_model, train
from .quality import FeatureNet, cached_feature_net
from .trainconfig import TrainConfig

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

#: The statistics of what each run does at the new grid (:mod:`cogpe.analysis`); its samples are in
#: :data:`cogpe.labpool.SAMPLES_FILE`.
ANALYSIS_FILE = "analysis.json"


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


def collect_samples(out_dir, results: dict, videos: int | None = None) -> dict[str, np.ndarray]:
    """The samples of a :func:`run_lab` comparison in ``out_dir`` (its first seed) and the held-out data
    they are compared with: ``{"<strategy>/<when>/FxHxW": uint8 (n, C, T, H, W)}`` with ``when``
    ``zero_shot`` (right after the switch; not for the baseline) or ``final``, and ``{"data/<probe>": …}``;
    the first ``videos`` of each (default: all ``n``), e.g. a few to store beside the results."""
    meta = results.get("samples")
    if not meta:
        return {}
    n = meta["n"] if videos is None else min(meta["n"], check_size("videos", videos, what="videos"))
    out = {}
    for strategy in meta["strategies"]:
        with np.load(Path(out_dir) / f"seed{meta['seed']}" / strategy / SAMPLES_FILE) as f:
            out.update({f"{strategy}/{key}": f[key][:n] for key in f.files})
    config = TrainConfig.from_dict(results["config"])
    for probe in config.probes:
        out[f"data/{probe.name}"] = to_uint8(probe_data(config, probe, n))
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
    """Run the comparison of ``preset`` (a :data:`cogpe.labconfig.LAB_PRESETS` name or a :class:`LabConfig`) in ``out_dir``.

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
    narrowed = lab.strategies if strategies is None else tuple(strategies)
    lab = dataclasses.replace(
        lab,
        strategies=narrowed,
        shifted=tuple(s for s in lab.shifted if s in narrowed),
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
            shifted = [(run_name, s) for run_name, s in shift_runs(lab) if s in members]
            for run_name, strategy in shifted:  # the same stage 1: its shift is 1 (LabConfig)
                record(run_name, seed, _run(shifted_config(base.with_strategy(strategy)), out / f"seed{seed}" / run_name,
                                            init_from=first_dir / "stage1.pt", device=device, progress=progress))
            for run_name, strategy in [(s, s) for s in members] + shifted:
                config = base.with_strategy(strategy)
                analyse(run_name, seed, config if run_name == strategy else shifted_config(config),
                        out / f"seed{seed}" / run_name, first_dir / "stage1.pt")
            if not keep_checkpoints:
                for run_name in members + [r for r, _ in shifted]:
                    _drop_checkpoints(out / f"seed{seed}" / run_name)
        for run_name, strategy, match in baseline_runs(lab):
            run_dir = out / f"seed{seed}" / run_name
            config = baseline_config(base, strategy, match)
            record(run_name, seed, _run(config, run_dir, device=device, progress=progress))
            analyse(run_name, seed, config, run_dir, None)
            if not keep_checkpoints:
                _drop_checkpoints(run_dir)
    results = {
        "provenance": provenance(device, preset=name, strategies=list(lab.strategies), seeds=list(lab.seeds),
                                 shifted=list(lab.shifted),
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
        results["pooled"] = pooled_quality(out, results, features, behaviour=False)  # behaviour: per seed
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
                        "RESULTS.samples.npz (default: the preset's, 8 or 16; 0: none)")
    p.add_argument("--stored-samples", type=int, default=None, metavar="N",
                   help="write only the first N videos of each kind to RESULTS.samples.npz (default: all)")
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
        if args.stored_samples is not None:
            check_size("--stored-samples", args.stored_samples, what="videos")
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
    samples = collect_samples(out, results, args.stored_samples)
    if samples:
        save_samples(path.with_suffix(".samples.npz"), samples)
        print(f"samples: {path.with_suffix('.samples.npz')}")
    print("held-out denoising loss, mean ± std over seeds (lower is better)")
    print(format_table(results["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
