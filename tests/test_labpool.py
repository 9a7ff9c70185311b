"""cogpe.labpool: the samples of every seed pooled, measured against as many data videos."""

import json

import numpy as np
import pytest
import torch

from cogpe.analysis import probe_data
from cogpe.lab import LAB_PRESETS, main, smoke
from cogpe.labpool import pooled_quality, seed_samples
from cogpe.quality import cached_feature_net, frechet_distance, video_features
from cogpe.trainconfig import TrainConfig
from cogpe.behaviour import measure
from cogpe.videostats import BEHAVIOUR, STATISTICS, ratios_of


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory):
    """The time-gpu experiment at smoke size, two seeds of two strategies, two samples each."""
    out = tmp_path_factory.mktemp("pool")
    path = out / "lab.json"
    assert main(["--preset", "time-gpu", "--smoke", "--out", str(out / "runs"), "--results", str(path),
                 "--strategies", "rope-extrapolate", "rope-interpolate", "--seeds", "0", "1",
                 "--no-baseline", "--no-attention", "--no-progress"]) == 0
    return out / "runs", json.loads(path.read_text())


def test_the_lab_stores_pooled_measurements_of_every_run(pooled_run):
    _, results = pooled_run
    probes = [p.name for p in TrainConfig.from_dict(results["config"]).probes]
    assert set(results["pooled"]) == {"rope-extrapolate", "rope-interpolate"}
    for run in results["pooled"].values():
        assert list(run) == ["zero_shot", "final"] and all(list(by_probe) == probes for by_probe in run.values())
        for entry in (e for by_probe in run.values() for e in by_probe.values()):
            assert entry["n"] == 4 and entry["seeds"] == 2  # 2 seeds x 2 samples
            assert {"fvd", "fvd_data", "interval", *STATISTICS} <= set(entry) and not set(BEHAVIOUR) & set(entry)
            low, high = entry["interval"]
            assert 0 <= low <= high and entry["fvd"] >= 0 and entry["fvd_data"] >= 0


def test_pooled_distance_equals_the_distance_of_the_concatenated_samples(pooled_run):
    """A literal reference: read both seeds' sample files by hand, embed, compare with 4 data videos."""
    out, results = pooled_run
    config = TrainConfig.from_dict(results["config"])
    net = cached_feature_net(smoke(LAB_PRESETS["time-gpu"]).features, out)
    probe = config.probes[-1]
    key = "final/" + "x".join(map(str, probe.resolution))
    videos = []
    for seed in (0, 1):
        with np.load(out / f"seed{seed}" / "rope-interpolate" / "samples.npz") as f:
            videos.append(torch.from_numpy(f[key]).float() / 127.5 - 1.0)
    data = probe_data(config, probe, 4)
    expected = frechet_distance(video_features(net, torch.cat(videos)), video_features(net, data))
    got = results["pooled"]["rope-interpolate"]["final"][probe.name]["fvd"]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    again = pooled_quality(out, results, net)  # with the behaviour ratios of the pooled videos
    entry = again["rope-interpolate"]["final"][probe.name]
    assert {k: v for k, v in entry.items() if k not in BEHAVIOUR} == results["pooled"]["rope-interpolate"]["final"][probe.name]
    by_hand = ratios_of(measure(torch.cat(videos)), measure(data))
    assert {k: entry[k] for k in BEHAVIOUR} == pytest.approx(by_hand, nan_ok=True)


def test_bad_input(pooled_run, tmp_path):
    out, results = pooled_run
    net = cached_feature_net(smoke(LAB_PRESETS["time-gpu"]).features, out)
    with pytest.raises(TypeError, match="net must be a FeatureNet"):
        pooled_quality(out, results, "i3d")
    with pytest.raises(ValueError, match=r"level must be a number in \(0, 1\).*got 95"):
        pooled_quality(out, results, net, level=95)
    with pytest.raises(ValueError, match="resamples must be an integer >= 1, got 0"):
        pooled_quality(out, results, net, resamples=0)
    with pytest.raises(FileNotFoundError, match="no samples for run 'rope-extrapolate', seed 0"):
        pooled_quality(tmp_path, results, net)
    with pytest.raises(KeyError, match="has no samples 'final/1x1x1'"):
        seed_samples(out, "rope-extrapolate", [0], "final/1x1x1")
