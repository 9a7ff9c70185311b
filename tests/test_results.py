"""cogpe.results: the stored results ship with the package and carry their provenance."""

import datetime
import json
import re

import pytest
import torch

from cogpe import results as stored
from cogpe.lab import load_samples
from cogpe.runfiles import PROVENANCE_KEYS, format_provenance


def test_lab_results_are_stored_with_provenance():
    for name in ("lab-quick.json", "lab-time.json"):
        prov = stored.load(name)["provenance"]
        assert prov["commit"] and prov["wall_seconds"] > 0 and prov["torch"]
    quick = stored.load("lab-quick.json")
    assert quick["provenance"]["dirty"] is False
    samples = load_samples(stored.path("lab-quick.samples.npz"))
    meta = quick["samples"]
    assert meta["n"] >= 8 and set(samples) >= {f"{s}/final/{r}" for s in meta["strategies"] for r in meta["resolutions"]}
    assert {f"data/{p['name']}" for p in quick["config"]["probes"]} <= set(samples)


def test_the_time_experiment_is_stored_with_ten_seeds_and_pooled_quality():
    time_ = stored.load("lab-time.json")
    prov = time_["provenance"]
    assert prov["preset"] == "time" and prov["seeds"] == list(range(10)) and prov["dirty"] is False
    assert all(len(by_seed) == 10 for by_seed in time_["runs"].values()) and len(time_["runs"]) == 10
    assert time_["pooled_provenance"]["seeds"] == list(range(9))
    entry = time_["pooled"]["rope-riflex"]["zero_shot"]["long3"]
    assert entry["n"] == 9 * 16 and entry["interval"][0] <= entry["interval"][1]
    samples = load_samples(stored.path("lab-time.samples.npz"))
    assert samples["rope-riflex/final/39x16x16"].shape[0] == 4 and "data/long3" in samples


def test_the_space_experiment_is_stored_with_ten_seeds_and_its_shifted_runs():
    space = stored.load("lab-space.json")
    prov = space["provenance"]
    assert prov["preset"] == "space" and prov["seeds"] == list(range(10)) and prov["dirty"] is False
    assert prov["shifted"] == ["sincos-interpolate", "rope-extrapolate", "rope-interpolate", "rope-yarn"]
    assert len(space["runs"]) == 8 + 4 + 2 and all(len(by_seed) == 10 for by_seed in space["runs"].values())
    assert space["samples"] is None and "pooled" not in space       # stored with --samples 0
    zoom = space["probes"]["zoom3"]
    assert zoom["grid"] == [2, 24, 24] and zoom["extent"] == 1.0


def test_stored_stage1_weights_give_the_stored_zero_shot_losses():
    """lab-time.stage1-seed0.npz is the model seed 0's RoPE runs branched from: under RIFLEx it gives the
    stored zero-shot loss of that run (one forward per video: no accumulated rounding across machines)."""
    import numpy as np

    from cogpe.lab import LAB_PRESETS
    from cogpe.model import VideoDiT
    from cogpe.objective import evaluate

    config = LAB_PRESETS["time"].train
    with np.load(stored.path("lab-time.stage1-seed0.npz")) as npz:
        weights = {k: torch.from_numpy(npz[k]) for k in npz.files}
    model = VideoDiT(config.with_strategy("rope-riflex").model_config())
    model.load_state_dict(weights)
    probe = next(p for p in config.probes if p.name == "long3")
    got = evaluate(model, config.data, probe.resolution, n_videos=config.eval_videos, seed=config.eval_seed,
                   objective=config.objective, extent=probe.extent, frame_step=probe.frame_step)
    want = stored.load("lab-time.json")["summary"]["rope-riflex"]["zero_shot_long3"]["values"][0]
    assert abs(got - want) < 1e-4 * want


def test_every_stored_result_has_the_one_provenance_schema():
    """cogpe.runfiles.provenance's keys first, in order: a commit of 40 hex digits, ``dirty`` a bool, a UTC date."""
    names = [n for n in stored.available() if n.endswith(".json")]
    assert {"lab-quick.json", "lab-time.json"} < set(names) and any(n.startswith("benchmarks/") for n in names)
    for name in names:
        prov = stored.load(name)["provenance"]
        assert list(prov)[:len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS), name
        assert re.fullmatch(r"[0-9a-f]{40}", prov["commit"]) and isinstance(prov["dirty"], bool), name
        assert datetime.datetime.fromisoformat(prov["date"]).utcoffset() == datetime.timedelta(0), name
        assert not {"git_commit", "git_dirty", "date_utc"} & set(prov), name
        format_provenance(prov)  # every report can print it


def test_benchmark_results_are_listed():
    names = [n for n in stored.available() if n.startswith("benchmarks/")]
    assert names and all(n.endswith(".json") for n in names)
    assert "provenance" in stored.load(names[0])


def test_packaged_with_the_wheel():
    import tomllib
    from pathlib import Path

    from setuptools import find_packages

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(where=str(root), include=include))
    on_disk = {".".join(p.parent.relative_to(root).parts) for p in (root / "cogpe").rglob("__init__.py")}
    assert {"cogpe", "cogpe.results", "cogpe.adapters"} <= shipped and shipped == on_disk
    globs = config["tool"]["setuptools"]["package-data"]["cogpe.results"]
    assert {"*.json", "*.npz", "benchmarks/*.json"} <= set(globs)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: stored.path("lab-medium.json"), FileNotFoundError, r"no stored result 'lab-medium.json'; available: .*lab-quick.json"),
        (lambda: stored.path(3), TypeError, "name must be a file name"),
        (lambda: stored.load("lab-quick.samples.npz"), ValueError, "load reads JSON documents"),
    ],
)
def test_bad_names(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_zero_shot_experiment_is_stored_with_ten_seeds_weights_and_samples():
    """zeroshot-space.json: 10 seeds of 32 samples per run, clean provenance; seed 0's weights give its
    stored zero-shot loss under YaRN at twice the pixels (one forward per video)."""
    import numpy as np

    from cogpe.model import VideoDiT
    from cogpe.objective import evaluate
    from cogpe.zeroshot import ZEROSHOT_PRESETS

    results = stored.load("zeroshot-space.json")
    prov = results["provenance"]
    assert prov["preset"] == "space" and prov["seeds"] == list(range(10)) and prov["dirty"] is False
    config = ZEROSHOT_PRESETS["space"]
    assert results["config"] == json.loads(json.dumps(config.to_dict())) and len(results["seeds"]) == 10
    assert all(len(r["runs"]["rope-yarn"]["zoom"]["count"]) == 32 for r in results["seeds"])
    assert set(results["quality"]) == {name for name, _, _ in config.runs()}
    samples = load_samples(stored.path("zeroshot-space.samples.npz"))
    assert samples["rope-yarn+shift/zero_shot/2x32x32"].shape == (32, 3, 2, 32, 32) and "data/wide" in samples
    with np.load(stored.path("zeroshot-space.seed0.npz")) as npz:
        weights = {k: torch.from_numpy(npz[k]) for k in npz.files}
    train = config.train
    model = VideoDiT(train.with_strategy("rope-yarn").model_config())
    model.load_state_dict(weights)
    zoom = train.probes[1]
    got = evaluate(model, train.data, zoom.resolution, n_videos=train.eval_videos, seed=train.eval_seed,
                   objective=train.objective)
    assert got == pytest.approx(results["seeds"][0]["loss"]["rope-yarn"]["zoom"], rel=1e-4)


def test_the_sincos_zero_shot_experiment_is_stored_with_ten_seeds_weights_and_samples():
    """zeroshot-space-sincos.json: the space experiment with the additive table, 10 seeds of 32 samples,
    clean provenance; seed 0's weights give its stored loss under index division at twice the pixels."""
    import numpy as np

    from cogpe.model import VideoDiT
    from cogpe.objective import evaluate
    from cogpe.zeroshot import ZEROSHOT_PRESETS

    results = stored.load("zeroshot-space-sincos.json")
    prov = results["provenance"]
    assert prov["preset"] == "space-sincos" and prov["seeds"] == list(range(10)) and prov["dirty"] is False
    config = ZEROSHOT_PRESETS["space-sincos"]
    assert results["config"] == json.loads(json.dumps(config.to_dict())) and len(results["seeds"]) == 10
    assert all(len(r["runs"]["sincos-interpolate"]["zoom"]["count"]) == 32 for r in results["seeds"])
    assert set(results["quality"]) == {name for name, _, _ in config.runs()}
    samples = load_samples(stored.path("zeroshot-space-sincos.samples.npz"))
    assert samples["sincos-interpolate/zero_shot/2x32x32"].shape == (32, 3, 2, 32, 32)
    with np.load(stored.path("zeroshot-space-sincos.seed0.npz")) as npz:
        weights = {k: torch.from_numpy(npz[k]) for k in npz.files}
    train = config.train
    model = VideoDiT(train.with_strategy("sincos-interpolate").model_config())
    model.load_state_dict(weights)
    zoom = train.probes[1]
    got = evaluate(model, train.data, zoom.resolution, n_videos=train.eval_videos, seed=train.eval_seed,
                   objective=train.objective)
    assert got == pytest.approx(results["seeds"][0]["loss"]["sincos-interpolate"]["zoom"], rel=1e-4)
