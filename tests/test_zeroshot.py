"""The zero-shot experiment (cogpe.zeroshot): pairing, identity at the base size, resume, claims, CLI."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from cogpe import zeroshot
from cogpe.objective import sample
from cogpe.quality import train_feature_net
from cogpe.stats import compare
from cogpe.train import load_model
from cogpe.zeroshot import ZEROSHOT_PRESETS, ZeroShotConfig, claims, run_zeroshot, seed_table

TINY = ZEROSHOT_PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("zs")
    return out, run_zeroshot(TINY, out, device="cpu", progress=False)


def test_every_run_is_measured_at_every_probe(tiny):
    _, results = tiny
    names = [name for name, _, _ in TINY.runs()]
    assert [r["seed"] for r in results["seeds"]] == list(TINY.seeds)
    for record in results["seeds"]:
        assert sorted(record["runs"]) == sorted(names)
        for run in names:
            for probe in results["probes"]:
                measured = record["runs"][run][probe]
                assert {len(v) for v in measured.values()} == {TINY.samples}
        assert sorted(record["loss"]) == sorted(TINY.strategies)
    assert results["probes"]["wide"]["extent"] == 2.0 and results["probes"]["zoom"]["grid"] == [2, 8, 8]


def test_base_size_samples_are_shared_and_larger_ones_paired(tiny):
    out, results = tiny
    with np.load(out / "seed0" / zeroshot.SAMPLES_FILE) as f:
        videos = {k: f[k] for k in f.files}
    low = [videos[f"{name}/zero_shot/2x8x8"] for name, _, _ in TINY.runs()]
    assert all(np.array_equal(low[0], v) for v in low[1:])  # one function at the base grid, shift 1
    for record in results["seeds"]:  # measured once, from the samples before rounding to uint8
        first, *rest = (record["runs"][name]["low"] for name, _, _ in TINY.runs())
        assert all(r == first for r in rest)
    zoom = videos["rope-extrapolate/zero_shot/2x16x16"]
    assert zoom.dtype == np.uint8 and zoom.shape == (TINY.samples, 3, 2, 16, 16)
    first, second = (sample(load_model(out / "seed0" / "ckpt.pt", strategy=s), 2, (2, 16, 16), steps=2)
                     for s in TINY.strategies[:2])
    assert not torch.equal(first, second)  # the same noise, another table
    losses = results["seeds"][0]["loss"]
    assert len({losses[s]["low"] for s in TINY.strategies}) == 1  # identity at the trained grid
    assert len({losses[s]["zoom"] for s in TINY.strategies}) == len(TINY.strategies)


def test_finished_seeds_are_read_back(tiny):
    out, results = tiny
    again = run_zeroshot(TINY, out, device="cpu", progress=False)
    assert again["provenance"]["seeds_reused"] == len(TINY.seeds)
    assert again["seeds"] == results["seeds"] and again["summary"] == results["summary"]


def test_seed_table_and_claims(tiny):
    _, results = tiny
    table = seed_table(results)
    assert table["data"]["low"]["one"].tolist() == [1.0, 1.0]  # one object per data scene
    assert table["data"]["zoom"]["scale"] == pytest.approx(table["data"]["low"]["scale"], rel=0.15)
    assert table["data"]["zoom"]["scale_px"] == pytest.approx(2 * table["data"]["low"]["scale_px"], rel=0.15)
    assert table["rope-yarn+shift"]["zoom"]["loss"].tolist() == table["rope-yarn"]["zoom"]["loss"].tolist()
    family = claims(results)
    assert sorted(family) == sorted(
        ["zero-shot: interpolate < integer, empty, zoom", "zero-shot: yarn < integer, empty, zoom"]
        + [f"zero-shot: the shift changes {s[5:]}, empty, zoom" for s in TINY.strategies])
    assert [c.n for c in compare(family)] == [2] * len(family)
    assert results["summary"]["data"]["low"]["one"] == {"mean": 1.0, "std": 0.0, "n": 2}


def test_cli_writes_results_and_stored_samples(tmp_path, capsys):
    results_path = tmp_path / "r.json"
    assert zeroshot.main(["--preset", "tiny", "--smoke", "--out", str(tmp_path / "run"), "--results",
                          str(results_path), "--device", "cpu", "--no-progress"]) == 0
    results = json.loads(results_path.read_text())
    assert results["provenance"]["preset"] == "tiny-smoke" and len(results["seeds"]) == 1
    with np.load(results_path.with_suffix(".samples.npz")) as f:
        keys = set(f.files)
        assert f["data/wide"].dtype == np.uint8 and f["data/wide"].shape == (2, 3, 2, 16, 16)
    assert {"data/low", "data/zoom", "rope-yarn/zero_shot/2x16x16", "rope-yarn+shift/zero_shot/2x8x8"} <= keys
    assert "rope-yarn+shift: low one" in capsys.readouterr().out


@pytest.mark.parametrize("change, error, match", [
    (dict(strategies=("rope-yarn", "sincos-interpolate")), ValueError, "family"),
    (dict(strategies=()), ValueError, "distinct"),
    (dict(seeds=(0, 0)), ValueError, "seeds has duplicates"),
    (dict(seeds=()), ValueError, "seeds must be a non-empty"),
    (dict(seeds=(0, True)), ValueError, "seeds must be a non-empty list of integers"),
    (dict(seeds=3), TypeError, "seeds must be a sequence"),
    (dict(samples=0), ValueError, "samples"),
    (dict(shifted="yes"), TypeError, "shifted"),
    (dict(train="space"), TypeError, "TrainConfig"),
])
def test_bad_configs_are_refused(change, error, match):
    with pytest.raises(error, match=match):
        dataclasses.replace(TINY, **change)


def test_probes_must_start_at_the_base_size():
    train = dataclasses.replace(TINY.train, probes=TINY.train.probes[1:])
    with pytest.raises(ValueError, match="base size"):
        dataclasses.replace(TINY, train=train)


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="preset"):
        run_zeroshot("nope")


def test_pooled_quality_has_a_data_floor(tiny):
    out, results = tiny
    small = dataclasses.replace(zeroshot.feature_config(TINY), videos=4, steps=2, batch=2, width=2)
    assert small.sizes == ((2, 8, 8), (2, 16, 16))
    quality = zeroshot.pooled_quality(out, results, train_feature_net(small))
    assert sorted(quality) == sorted(name for name, _, _ in TINY.runs())
    cell = quality["rope-yarn"]["zoom"]
    assert cell["n"] == TINY.samples * len(TINY.seeds) and cell["fvd"] > cell["fvd_data"] > 0
    assert quality["rope-yarn"]["low"] == quality["rope-extrapolate"]["low"]  # the same samples
    with pytest.raises(TypeError, match="FeatureNet"):
        zeroshot.pooled_quality(out, results, None)


def test_the_gpu_preset_runs_at_smoke_size(tmp_path):
    """space-gpu (not run on a GPU yet) goes through the same command at test size: four shapes, 3x zoom."""
    gpu = ZEROSHOT_PRESETS["space-gpu"]
    assert gpu.train.data.shapes == ("disc", "ring", "triangle", "square") and gpu.train.stages[0].height == 32
    assert zeroshot.main(["--preset", "space-gpu", "--smoke", "--out", str(tmp_path), "--device", "cpu",
                          "--no-progress"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["probes"]["zoom3"]["grid"] == [2, 48, 48]


def test_the_sincos_preset_shares_everything_but_the_table(tmp_path):
    """space-sincos is space with the additive table: the same data, model size, training and seeds; its
    claims compare index division with integer positions."""
    rope, sincos = ZEROSHOT_PRESETS["space"], ZEROSHOT_PRESETS["space-sincos"]
    assert sincos.strategies == ("sincos-extrapolate", "sincos-interpolate")
    assert sincos.train == rope.train.with_strategy("sincos-extrapolate") and sincos.seeds == rope.seeds
    assert zeroshot.feature_config(sincos) == zeroshot.feature_config(rope)  # one feature network for both
    assert zeroshot.main(["--preset", "space-sincos", "--smoke", "--out", str(tmp_path), "--device", "cpu",
                          "--no-progress"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(claims(results)) == sorted(
        ["zero-shot: sincos division < extrapolation, empty, zoom",
         "zero-shot: sincos extrapolation < division, one, zoom"]
        + [f"zero-shot: the shift changes {s}, empty, zoom" for s in sincos.strategies])
