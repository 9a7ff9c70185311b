"""Every seed's samples of a :mod:`cogpe.lab` comparison taken together (chapter 7, section 7.4).

One seed's run generates a few samples per probe size (:mod:`cogpe.analysis`), too few for a Fréchet
distance to say much on its own: the distance of two finite sets is biased upwards by about the trace
of the covariances over the set size, and its floor (two sets of held-out data) is of the size of the
gaps between strategies. The samples of all seeds of one run name, pooled, are ten times as many; the
Fréchet video distance is then measured once per run name, when (``zero_shot`` or ``final``) and probe
against as many held-out data videos, beside the distance of as many other data videos (``fvd_data``,
the floor at that size) and with a **cluster bootstrap** interval: the seeds are drawn with replacement
and their samples' features pooled again (the seeds, not the videos, are the independent units — the
videos of one seed come from one model). The pooled sample and behaviour ratios
(:func:`cogpe.videostats.sample_ratios`, :func:`~cogpe.videostats.behaviour_ratios`) are measured on
the same sets.

:func:`pooled_quality` reads the run directories :func:`cogpe.lab.run_lab` leaves (``seed<k>/<run>/``
with the run's ``samples.npz``) and returns plain data, the ``pooled`` block of a stored comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._checks import check_probability, check_size
from .analysis import probe_data, resolution_key
from .behaviour import measure
from .quality import FeatureNet, frechet_distance, video_features
from .trainconfig import TrainConfig
from .videostats import ratios_of, sample_ratios

__all__ = ["SAMPLES_FILE", "pooled_quality", "seed_samples"]

#: The file each run directory keeps its samples in (uint8 videos ``"<when>/FxHxW"``).
SAMPLES_FILE = "samples.npz"


def seed_samples(out_dir, run: str, seeds, key: str) -> list[torch.Tensor]:
    """The samples ``key`` (``"<when>/FxHxW"``) of run ``run`` for each of ``seeds``, float videos
    ``(n, C, T, H, W)`` in [-1, 1] read from ``out_dir/seed<k>/<run>/samples.npz``; a clear error when a
    seed's file or key is missing."""
    videos = []
    for seed in seeds:
        path = Path(out_dir) / f"seed{seed}" / run / SAMPLES_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no samples for run {run!r}, seed {seed}: {path} does not exist")
        with np.load(path) as f:
            if key not in f.files:
                raise KeyError(f"{path} has no samples {key!r}; it has {', '.join(f.files)}")
            videos.append(torch.from_numpy(f[key]).float() / 127.5 - 1.0)
    return videos


def _cluster_interval(parts: list[torch.Tensor], data: torch.Tensor, level: float, resamples: int,
                      seed: int) -> tuple[float, float]:
    """Percentile interval of the Fréchet distance of ``data (N, D)`` to the features of seeds drawn with
    replacement from ``parts`` (one ``(n_k, D)`` block a seed), pooled again each time."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(parts), size=(resamples, len(parts)))
    values = [frechet_distance(torch.cat([parts[i] for i in row]), data) for row in draws]
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def _runs_with_samples(results: dict) -> list[str]:
    """Run names whose samples every seed kept (the ``samples`` block names them; else every run)."""
    meta = results.get("samples") or {}
    return list(meta.get("strategies") or results["runs"])


def pooled_quality(out_dir, results: dict, net: FeatureNet, *, level: float = 0.95, resamples: int = 200,
                   seed: int = 0, behaviour: bool = True) -> dict:
    """The pooled measurements (module docstring) of the comparison ``results`` run in ``out_dir``.

    Returns ``{run: {when: {probe: {"n", "seeds", "fvd", "fvd_data", "interval", <sample ratios>,
    <behaviour ratios>}}}}``; ``n`` is the number of pooled samples, ``interval`` the cluster bootstrap
    ``level`` interval of ``fvd`` (``resamples`` draws of the seeds, numpy generator ``seed``);
    ``behaviour=False`` leaves the behaviour ratios out (the slowest part). Every seed of
    ``results["provenance"]["seeds"]`` must have kept the run's samples. Probes of one size share the
    samples (the model does not know the field of view), which are read and measured once.
    """
    if not isinstance(net, FeatureNet):
        raise TypeError(f"net must be a FeatureNet (cogpe.quality.cached_feature_net), got {type(net).__name__}")
    level = check_probability("level", level)
    resamples = check_size("resamples", resamples, what="resamples")
    seeds = list(results["provenance"]["seeds"])
    config = TrainConfig.from_dict(results["config"])
    data_cache: dict[tuple[str, int], tuple] = {}
    out: dict[str, dict] = {}
    for run in _runs_with_samples(results):
        for when in _whens(results, run):
            by_size: dict[str, tuple] = {}
            for probe in config.probes:
                key = f"{when}/{resolution_key(probe.resolution)}"
                if key not in by_size:
                    parts = seed_samples(out_dir, run, seeds, key)
                    samples = torch.cat(parts)
                    by_size[key] = (samples, [video_features(net, p) for p in parts],
                                    measure(samples) if behaviour else None)
                samples, features, measured = by_size[key]
                n = samples.shape[0]
                if (probe.name, n) not in data_cache:
                    data_cache[probe.name, n] = _reference(config, probe, n, net, behaviour)
                data, data_f, floor, data_measured = data_cache[probe.name, n]
                entry = {"n": n, "seeds": len(features), "fvd": frechet_distance(torch.cat(features), data_f),
                         "fvd_data": floor,
                         "interval": list(_cluster_interval(features, data_f, level, resamples, seed))}
                entry.update(sample_ratios(samples, data))
                if measured is not None:
                    entry.update(ratios_of(measured, data_measured))
                out.setdefault(run, {}).setdefault(when, {})[probe.name] = entry
    return out


def _reference(config: TrainConfig, probe, n: int, net: FeatureNet, behaviour: bool) -> tuple:
    """``(data, features, floor, measured)`` of ``n`` held-out videos of ``probe``: the videos, their
    features, the Fréchet distance of ``n`` other data videos to them, and their behaviour (or None)."""
    data = probe_data(config, probe, n)
    features = video_features(net, data)
    floor = frechet_distance(video_features(net, probe_data(config, probe, n, "test")), features)
    return data, features, floor, measure(data) if behaviour else None


def _whens(results: dict, run: str) -> list[str]:
    """The moments (``zero_shot``, ``final``) run ``run``'s first seed was analysed at, in that order."""
    first = next(iter(results["runs"][run].values()))
    return [when for when in ("zero_shot", "final") if when in first.get("analysis", {})]
