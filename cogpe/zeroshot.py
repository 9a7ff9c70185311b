"""The zero-shot experiment of chapter 7: what each strategy *draws* at a new size before any training there.

Protocol, per seed:

1. **Train once at the base size** (one stage of :class:`cogpe.trainconfig.TrainConfig`, long enough and
   with a cool-down so that the samples at that size are recognisable objects; the preset's scenes hold
   one object, so the count and scale a sample should have are known).
2. **Sample every strategy at every probe size from the same initial noise** (:func:`cogpe.objective.sample`
   keyed on the seed): within a seed the strategies differ only in the position table, so sample ``i`` of
   two strategies is a pair. With ``shifted`` the strategies are sampled a second time with the noise
   schedule shifted by the token count (``<strategy>+shift``; :func:`cogpe.objective.resolution_shift`), the
   factor every video diffusion model adds at larger sizes. At the base grid every strategy computes the
   same function, so the ``low`` probe is sampled once.
3. **Measure** each sample with :func:`cogpe.behaviour.measure` (objects per frame, their equivalent
   radius in frame sides and in pixels) and the held-out denoising loss of each strategy at each probe,
   and compare with the probe's data (the same measurements on held-out videos).

Probes of one size share their samples: the model does not know the field of view, so a ``zoom`` (the
same scene at twice the pixels) and a ``wide`` canvas (twice the field of view, the same pixels per
object) differ only in the data they are compared with.

Statistics: the unit is the seed (a trained model). :func:`seed_table` reduces each seed's samples to
one number per (run, probe, statistic); :func:`claims` states the comparisons the chapter makes, each
with its direction, for :func:`cogpe.stats.compare` (paired over seeds, Holm's correction).

Runs are resumable: a seed whose ``seed<N>/zeroshot.json`` exists is read back, an interrupted training
continues from its checkpoint, and disjoint ``--seeds`` can run in parallel processes on one ``--out``.

CLI: ``python -m cogpe.zeroshot --preset space --out runs/zs --results zs.json [--seeds 0 1] [--smoke]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ._checks import check_choice, check_seeds, check_size
from .analysis import SAMPLE_STEPS, probe_data, resolution_key, to_uint8
from .behaviour import measure
from .data import DataConfig
from .model import ModelConfig, strategy_family
from .objective import evaluate, sample
from .lab import load_samples, save_samples
from .runfiles import provenance, resolve_device, write_json
from .strategy import MODEL_STRATEGIES, parse_model_strategy
from .train import load_model, train
from .quality import FeatureConfig, FeatureNet, cached_feature_net, frechet_video_distance
from .trainconfig import Probe, Stage, TrainConfig

__all__ = ["ZEROSHOT_PRESETS", "ZeroShotConfig", "claims", "feature_config", "main", "pooled_quality", "run_seed",
           "run_zeroshot", "seed_table", "smoke", "stored_samples", "summary"]

#: Each seed's measurements, in its run directory.
RECORD_FILE = "zeroshot.json"
#: Each seed's samples, uint8 ``(n, C, T, H, W)`` under ``<run>/zero_shot/<FxHxW>``, in its run directory.
SAMPLES_FILE = "zeroshot.samples.npz"
#: A run sampled with the noise schedule shifted by the token count is named ``<strategy>+shift``.
SHIFT_SUFFIX = "+shift"
#: The RoPE strategies of the lab model (:data:`cogpe.strategy.MODEL_STRATEGIES`): extrapolation first.
ROPE = tuple(s for s in MODEL_STRATEGIES if s.startswith("rope-"))
#: The additive sincos strategies: integer positions first, then index division.
SINCOS = tuple(s for s in MODEL_STRATEGIES if s.startswith("sincos-"))


@dataclass(frozen=True)
class ZeroShotConfig:
    """The experiment: ``train`` (the base size is its last stage; its ``probes`` are the sizes sampled,
    the first of them the base size), the ``strategies`` (one family: they share the trained model), the
    ``seeds``, ``samples`` per probe size and seed, ``steps`` of the sampler, and whether each strategy is
    also sampled with the resolution-dependent noise shift (``shifted``)."""

    train: TrainConfig
    strategies: tuple[str, ...] = ROPE
    seeds: tuple[int, ...] = tuple(range(10))
    samples: int = 32
    steps: int = SAMPLE_STEPS
    shifted: bool = True

    def __post_init__(self):
        if not isinstance(self.train, TrainConfig):
            raise TypeError(f"train must be a TrainConfig, got {type(self.train).__name__}")
        strategies = tuple(self.strategies)
        if not strategies or len(set(strategies)) != len(strategies):
            raise ValueError(f"strategies must be distinct names from {MODEL_STRATEGIES}, got {self.strategies!r}")
        for s in strategies:
            parse_model_strategy(s)  # ValueError naming the valid names
        families = {strategy_family(s) for s in strategies}
        if len(families) != 1 or strategy_family(self.train.model.strategy) not in families:
            raise ValueError(f"strategies {strategies} must all be of the trained model's family "
                             f"({strategy_family(self.train.model.strategy)!r}): they share its weights")
        seeds = check_seeds("seeds", self.seeds)
        probes = self.train.probes
        if not probes or probes[0].resolution != self.train.stages[-1].resolution or probes[0].extent != 1:
            raise ValueError("train.probes must start with the base size (the last stage's resolution, extent 1), "
                             f"got {[p.resolution for p in probes]}")
        object.__setattr__(self, "strategies", strategies)
        object.__setattr__(self, "seeds", seeds)
        check_size("samples", self.samples, what="videos")
        check_size("steps", self.steps, what="sampler steps")
        if not isinstance(self.shifted, bool):
            raise TypeError(f"shifted must be True or False, got {self.shifted!r}")

    def runs(self) -> list[tuple[str, str, bool]]:
        """``(run name, strategy, shifted)`` of every sampled run, strategies first."""
        plain = [(s, s, False) for s in self.strategies]
        return plain + ([(s + SHIFT_SUFFIX, s, True) for s in self.strategies] if self.shifted else [])

    def to_dict(self) -> dict:
        """JSON-ready: the training config's dict and the experiment's own fields."""
        return {"train": self.train.to_dict(), "strategies": list(self.strategies), "seeds": list(self.seeds),
                "samples": self.samples, "steps": self.steps, "shifted": self.shifted}


def _space(model: ModelConfig, data: DataConfig, base: tuple[int, int, int], stage: Stage,
           factors: Sequence[int]) -> TrainConfig:
    frames, height, width = base
    probes = (Probe("low", *base),) + tuple(
        Probe("zoom" if f == 2 else f"zoom{f}", frames, f * height, f * width) for f in factors) + (
        Probe("wide", frames, 2 * height, 2 * width, extent=2.0),)
    return TrainConfig(model=model, stages=(stage,), data=data, probes=probes, eval_videos=16, ckpt_every=500)


_DISC = DataConfig(min_objects=1, max_objects=1, shapes=("disc",), size=(0.18, 0.28))
_ONE = DataConfig(min_objects=1, max_objects=1, size=(0.18, 0.28))
_SPACE = _space(ModelConfig(patch=(1, 2, 2), width=128, depth=4, heads=2), _DISC, (2, 16, 16),
                Stage(2, 16, 16, steps=3000, batch=16, lr=1e-3, warmup=50, cooldown=1000), (2,))
#: ``space``: one disc per scene, 2×16×16 pixels in 1×2×2 patches (2×8×8 tokens), 3000 steps with a
#: 1000-step cool-down, probes ``zoom`` (2×32×32) and ``wide`` (the same pixels, twice the field of view),
#: 10 seeds × 32 samples (CPU: about 15 minutes per seed on one core); ``space-sincos``: the same model,
#: data, training and seeds with the additive sincos table instead of RoPE (integer positions against
#: index division); ``space-gpu``: one object of the four shapes per scene at 2×32×32 (16×16 tokens per
#: frame), probes up to 3× per side; ``tiny``: tests.
ZEROSHOT_PRESETS = {
    "space": ZeroShotConfig(_SPACE),
    "space-sincos": ZeroShotConfig(_SPACE.with_strategy(SINCOS[0]), strategies=SINCOS),
    "space-gpu": ZeroShotConfig(_space(ModelConfig(patch=(1, 2, 2), width=256, depth=6, heads=4), _ONE, (2, 32, 32),
                                       Stage(2, 32, 32, steps=6000, batch=32, lr=1e-3, warmup=100, cooldown=2000),
                                       (2, 3))),
    "tiny": ZeroShotConfig(_space(ModelConfig(patch=(1, 2, 2), width=32, depth=1, heads=2), _DISC, (2, 8, 8),
                                  Stage(2, 8, 8, steps=3, batch=2, lr=1e-3, warmup=1), (2,)),
                           strategies=ROPE[:2] + ROPE[3:4], seeds=(0, 1),
                           samples=3, steps=2),
}


def smoke(config: ZeroShotConfig) -> ZeroShotConfig:
    """``config`` shrunk to a CPU check of its code path: a 1-layer width-32 model, 3 steps, one seed,
    2 samples with 2 sampler steps; the same data, patch, probes and strategies.

    >>> small = smoke(ZEROSHOT_PRESETS["space-gpu"])
    >>> [p.name for p in small.train.probes], small.train.stages[0].steps, small.seeds
    (['low', 'zoom', 'zoom3', 'wide'], 3, (0,))
    """
    train_config = config.train
    model = dataclasses.replace(train_config.model, width=32, depth=1, heads=2)
    stage = dataclasses.replace(train_config.stages[-1], steps=3, batch=2, warmup=1, cooldown=0)
    small = dataclasses.replace(train_config, model=model, stages=(stage,), eval_videos=2, ckpt_every=0)
    return dataclasses.replace(config, train=small, seeds=config.seeds[:1], samples=2, steps=2)


# --- one seed ---------------------------------------------------------------------------------------------


def _finite(values: torch.Tensor) -> list[float | None]:
    return [None if math.isnan(v) else round(v, 6) for v in values.tolist()]


def _measured(videos: torch.Tensor) -> dict[str, list]:
    """Per video: ``count`` (objects per frame, averaged over frames), ``scale`` (equivalent radius in
    frame sides) and ``scale_px`` (in pixels); None where a video has no object to measure."""
    m = measure(videos)
    return {"count": [round(v, 6) for v in m.counts.double().mean(1).tolist()],
            "scale": _finite(m.scale.sides), "scale_px": _finite(m.scale.pixels)}


def run_seed(config: ZeroShotConfig, seed: int, out_dir, *, device="cpu", progress: bool = False) -> dict:
    """Train seed ``seed`` in ``out_dir/seed<seed>`` (resumable) and sample and measure every run there.

    Returns the seed's record, also written to ``RECORD_FILE`` (read back when present): ``train_seconds``,
    ``sample_seconds``, ``data`` and ``runs`` (``{probe: _measured}`` and ``{run: {probe: _measured}}``),
    ``loss`` (``{strategy: {probe: held-out loss}}``). The samples go to ``SAMPLES_FILE``.
    """
    run_dir = Path(out_dir) / f"seed{seed}"
    record_path = run_dir / RECORD_FILE
    if record_path.is_file():
        return json.loads(record_path.read_text())
    device = resolve_device(device)
    train_config = dataclasses.replace(config.train, seed=seed)
    start = time.perf_counter()
    if not (run_dir / "run.json").is_file():
        train(train_config, run_dir, resume=True, device=device, progress=progress)
    trained = time.perf_counter()
    n, probes = config.samples, train_config.probes
    data = {p.name: _measured(probe_data(train_config, p, n)) for p in probes}
    runs: dict[str, dict] = {}
    loss: dict[str, dict] = {}
    videos: dict[str, np.ndarray] = {}
    base = resolution_key(probes[0].resolution)
    shared: tuple[np.ndarray, dict] | None = None  # one function at the base grid, the shift 1 there
    for name, strategy, shifted in config.runs():
        model = load_model(run_dir / "ckpt.pt", strategy=strategy, device=device)
        if not shifted:
            loss[name] = {p.name: evaluate(model, train_config.data, p.resolution, n_videos=train_config.eval_videos,
                                           seed=train_config.eval_seed, objective=train_config.objective,
                                           extent=p.extent, frame_step=p.frame_step) for p in probes}
        measured: dict[str, dict] = {}
        for probe in probes:
            key = resolution_key(probe.resolution)
            if key == base and shared is not None:
                videos[f"{name}/zero_shot/{key}"], measured[key] = shared
            elif key not in measured:
                shift = dataclasses.replace(train_config, noise_shift=shifted).level_shift(probe.resolution)
                out = sample(model, n, probe.resolution, steps=config.steps, seed=seed,
                             objective=train_config.objective, channels=train_config.data.channels, shift=shift)
                videos[f"{name}/zero_shot/{key}"] = to_uint8(out)
                measured[key] = _measured(out)
                if key == base:
                    shared = videos[f"{name}/zero_shot/{key}"], measured[key]
            runs.setdefault(name, {})[probe.name] = measured[key]
    record = {"seed": seed, "train_seconds": round(trained - start, 1),
              "sample_seconds": round(time.perf_counter() - trained, 1), "data": data, "runs": runs, "loss": loss}
    save_samples(run_dir / SAMPLES_FILE, videos)
    write_json(record_path, record)
    return record


# --- the whole experiment ------------------------------------------------------------------------------------


def run_zeroshot(config: ZeroShotConfig | str = "space", out_dir=None, *, seeds: Sequence[int] | None = None,
                 device="auto", progress: bool = True, name: str | None = None) -> dict:
    """Every seed of ``config`` (a :data:`ZEROSHOT_PRESETS` name or a :class:`ZeroShotConfig`; ``seeds``
    narrows them) in ``out_dir`` (default ``runs/zeroshot-<name>``). Returns the results: ``provenance``,
    ``config`` (:meth:`ZeroShotConfig.to_dict`), ``probes`` (name → resolution, token grid, extent),
    ``seeds`` (each seed's record, :func:`run_seed`) and ``summary`` (:func:`summary`)."""
    name = name or (config if isinstance(config, str) else "custom")
    if isinstance(config, str):
        config = ZEROSHOT_PRESETS[check_choice("preset", config, tuple(ZEROSHOT_PRESETS))]
    if not isinstance(config, ZeroShotConfig):
        raise TypeError(f"config must be a name in {tuple(ZEROSHOT_PRESETS)} or a ZeroShotConfig, "
                        f"got {type(config).__name__}")
    if seeds is not None:
        config = dataclasses.replace(config, seeds=tuple(seeds))
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"zeroshot-{name}"
    device = resolve_device(device)
    start = time.perf_counter()
    reused = sum((out / f"seed{s}" / RECORD_FILE).is_file() for s in config.seeds)
    records = [run_seed(config, s, out, device=device, progress=progress) for s in config.seeds]
    model = config.train.model_config()
    probes = {p.name: {"resolution": list(p.resolution), "grid": list(model.token_grid(*p.resolution)),
                       "extent": p.extent, "frame_step": p.frame_step} for p in config.train.probes}
    prov = provenance(device, preset=name, strategies=list(config.strategies), seeds=list(config.seeds),
                      wall_seconds=round(time.perf_counter() - start, 1), seeds_reused=reused)
    results = {"provenance": prov, "config": config.to_dict(), "probes": probes, "seeds": records}
    results["summary"] = summary(results)
    return results


def _seed_statistics(measured: dict[str, list]) -> dict[str, float]:
    """One seed's samples at one probe as numbers: ``one`` (share of samples with exactly one object in
    every frame), ``empty`` (share with none in any frame), ``count`` (mean objects per frame), ``scale``
    and ``scale_px`` (median equivalent radius over samples with an object; NaN when none has one)."""
    count = np.asarray(measured["count"], dtype=np.float64)
    scale = np.asarray([np.nan if v is None else v for v in measured["scale"]], dtype=np.float64)
    pixels = np.asarray([np.nan if v is None else v for v in measured["scale_px"]], dtype=np.float64)
    median = lambda a: float(np.median(a[np.isfinite(a)])) if np.isfinite(a).any() else math.nan  # noqa: E731
    return {"one": float(np.mean(count == 1)), "empty": float(np.mean(count == 0)), "count": float(count.mean()),
            "scale": median(scale), "scale_px": median(pixels)}


def seed_table(results: dict) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``{run or "data": {probe: {statistic: (n_seeds,) float64}}}`` from the per-seed statistics (``one``, ``empty``, ``count``, ``scale``, ``scale_px``), seeds in
    the order of ``results["seeds"]``; for runs, also ``loss`` (the strategy's held-out loss; the shifted
    runs share their strategy's, which the sampler's shift does not change)."""
    table: dict[str, dict[str, dict[str, list]]] = {}
    for record in results["seeds"]:
        rows = {"data": record["data"], **record["runs"]}
        for run, by_probe in rows.items():
            for probe, measured in by_probe.items():
                cell = table.setdefault(run, {}).setdefault(probe, {})
                stats = _seed_statistics(measured)
                if run != "data":
                    stats["loss"] = record["loss"][run.removesuffix(SHIFT_SUFFIX)][probe]
                for key, value in stats.items():
                    cell.setdefault(key, []).append(value)
    return {run: {probe: {k: np.asarray(v, dtype=np.float64) for k, v in cell.items()} for probe, cell in rows.items()}
            for run, rows in table.items()}


def summary(results: dict) -> dict:
    """Mean and std over seeds of every statistic of :func:`seed_table` (NaN seeds left out; ``n`` counts
    the seeds kept): ``{run: {probe: {statistic: {"mean", "std", "n"}}}}``."""
    out: dict = {}
    for run, rows in seed_table(results).items():
        for probe, cell in rows.items():
            for key, values in cell.items():
                kept = values[np.isfinite(values)]
                entry = {"mean": float(kept.mean()) if kept.size else None,
                         "std": float(kept.std(ddof=1)) if kept.size > 1 else None, "n": int(kept.size)}
                out.setdefault(run, {}).setdefault(probe, {})[key] = entry
    return out


def claims(results: dict) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """The comparisons chapter 7 makes, for :func:`cogpe.stats.compare` (``name -> (a, b, alternative)``,
    paired over seeds), each stated with the direction the literature predicts (``integer`` is
    ``rope-extrapolate``; names as ``"zero-shot: yarn < integer, empty, zoom"``):

    - at every zoom probe (more pixels, the same field of view), interpolation, NTK and YaRN each leave
      fewer samples without any object than extrapolation (share ``empty``, ``"less"``): they keep the
      positions the model was trained on, or its low frequencies' range;
    - at every zoom probe, for the additive table (``space-sincos``): index division leaves fewer samples
      empty than integer positions, and more samples with exactly one object in every frame (share ``one``;
      ``"zero-shot: sincos division < extrapolation, empty, zoom"`` and ``"... extrapolation < division,
      one, ..."``): it keeps the table's trained rows;
    - at every zoom probe, the noise shift changes that share for each strategy (``"two-sided"``).

    Statistics undefined on some seed (a median scale where no sample drew an object) are not claimed.
    """
    table = seed_table(results)
    strategies = results["config"]["strategies"]
    zooms = [p for p, meta in results["probes"].items() if meta["extent"] == 1 and p != next(iter(results["probes"]))]
    out: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
    for probe in zooms:
        reference = table.get("rope-extrapolate", {}).get(probe)
        for s in ROPE[1:4]:  # interpolation, NTK, YaRN
            if reference is not None and s in table:
                out[f"zero-shot: {s.removeprefix('rope-')} < integer, empty, {probe}"] = (
                    table[s][probe]["empty"], reference["empty"], "less")
        integer, division = (table.get(s, {}).get(probe) for s in SINCOS)
        if integer is not None and division is not None:
            out[f"zero-shot: sincos division < extrapolation, empty, {probe}"] = (
                division["empty"], integer["empty"], "less")
            out[f"zero-shot: sincos extrapolation < division, one, {probe}"] = (
                integer["one"], division["one"], "less")
        for s in strategies:
            if s + SHIFT_SUFFIX in table:
                out[f"zero-shot: the shift changes {s.removeprefix('rope-')}, empty, {probe}"] = (
                    table[s + SHIFT_SUFFIX][probe]["empty"], table[s][probe]["empty"], "two-sided")
    return out


def feature_config(config: ZeroShotConfig) -> FeatureConfig:
    """The feature network of the experiment's Fréchet distance: trained on its data at every probe size."""
    return FeatureConfig(data=config.train.data, sizes=tuple(dict.fromkeys(p.resolution for p in config.train.probes)))


def pooled_quality(out_dir, results: dict, net: FeatureNet) -> dict[str, dict[str, dict]]:
    """The Fréchet distance (:func:`cogpe.quality.frechet_video_distance` under ``net``) of every run's
    samples, every seed's pooled, to as many held-out data videos of each probe (split ``"val"``), beside
    the floor: as many other data videos (split ``"test"``) to the same ones. Reads each seed's
    ``SAMPLES_FILE`` in ``out_dir``. Returns ``{run: {probe: {"fvd", "fvd_data", "n"}}}``."""
    if not isinstance(net, FeatureNet):
        raise TypeError(f"net must be a FeatureNet (cogpe.quality.cached_feature_net), got {type(net).__name__}")
    config = TrainConfig.from_dict(results["config"]["train"])
    videos: dict[str, list[torch.Tensor]] = {}
    for record in results["seeds"]:
        for key, batch in load_samples(Path(out_dir) / f"seed{record['seed']}" / SAMPLES_FILE).items():
            videos.setdefault(key, []).append(batch)
    out: dict[str, dict[str, dict]] = {}
    for probe in config.probes:
        key = resolution_key(probe.resolution)
        runs = {k.split("/")[0]: torch.cat(v) for k, v in videos.items() if k.endswith(f"/zero_shot/{key}")}
        n = next(iter(runs.values())).shape[0]
        data = probe_data(config, probe, n)
        floor = frechet_video_distance(probe_data(config, probe, n, "test"), data, net)
        for run, samples in runs.items():
            out.setdefault(run, {})[probe.name] = {"fvd": frechet_video_distance(samples, data, net),
                                                   "fvd_data": floor, "n": n}
    return out


# --- command line -----------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cogpe.zeroshot", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="space", choices=tuple(ZEROSHOT_PRESETS))
    p.add_argument("--seeds", type=int, nargs="+", help="narrow the preset's seeds (disjoint sets can run in "
                   "parallel processes on one --out)")
    p.add_argument("--out", help="run directory (default runs/zeroshot-<preset>)")
    p.add_argument("--results", help="results JSON (default OUT/results.json); the first seed's samples go "
                   "beside it as .samples.npz with the data they are compared with")
    p.add_argument("--device", default="auto")
    p.add_argument("--smoke", action="store_true", help="the preset shrunk to a seconds-long check (smoke())")
    p.add_argument("--quality", action="store_true", help="also the pooled Fréchet distance of every run "
                   "(pooled_quality; the feature network is trained once and cached in OUT)")
    p.add_argument("--no-progress", action="store_true")
    return p


def stored_samples(out_dir, results: dict) -> dict[str, np.ndarray]:
    """The first seed's samples (``<run>/zero_shot/<FxHxW>``) and the data of every probe (``data/<probe>``),
    uint8 ``(n, C, T, H, W)``: what the CLI stores beside the results."""
    seed = results["seeds"][0]["seed"]
    with np.load(Path(out_dir) / f"seed{seed}" / SAMPLES_FILE) as f:
        out = {key: f[key] for key in f.files}
    config = TrainConfig.from_dict(results["config"]["train"])
    for probe in config.probes:
        out[f"data/{probe.name}"] = to_uint8(probe_data(config, probe, results["config"]["samples"]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m cogpe.zeroshot``): runs the seeds, writes the results JSON."""
    parser = _parser()
    args = parser.parse_args(argv)
    name = f"{args.preset}-smoke" if args.smoke else args.preset
    config = smoke(ZEROSHOT_PRESETS[args.preset]) if args.smoke else ZEROSHOT_PRESETS[args.preset]
    out = Path(args.out) if args.out else Path("runs") / f"zeroshot-{name}"
    try:
        results = run_zeroshot(config, out, seeds=args.seeds, device=args.device, progress=not args.no_progress,
                               name=name)
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    if args.quality:
        net = cached_feature_net(feature_config(config), out)
        results["quality"] = pooled_quality(out, results, net)
    path = Path(args.results) if args.results else out / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, results)
    samples = stored_samples(out, results)
    save_samples(path.with_suffix(".samples.npz"), samples)
    prov = results["provenance"]
    print(f"{name}: {len(results['seeds'])} seed(s) in {prov['wall_seconds']:.0f} s "
          f"({prov['seeds_reused']} read back) -> {path}")
    for run, rows in results["summary"].items():
        cells = ", ".join(f"{probe} one {row['one']['mean']:.2f} count {row['count']['mean']:.2f}"
                          for probe, row in rows.items())
        print(f"  {run}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
