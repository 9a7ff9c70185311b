"""cogpe.lab: the comparison runs, shares stage 1 within a family, resumes, summarizes honestly."""

import dataclasses
import json

import numpy as np
import pytest

from cogpe.videostats import BEHAVIOUR
import torch

from cogpe.lab import (
    LAB_PRESETS,
    lab_flops,
    LabConfig,
    baseline_config,
    collect_samples,
    format_table,
    gap_exceeds_spread,
    load_samples,
    main,
    run_lab,
    save_samples,
    smoke,
    summarize,
)
from cogpe.labconfig import SHIFTED
from cogpe.model import VideoDiT
from cogpe.runfiles import PROVENANCE_KEYS, format_provenance
from cogpe.trainconfig import TRAIN_PRESETS, Stage, TrainConfig

STRATEGIES = ["sincos-extrapolate", "sincos-interpolate", "rope-extrapolate", "rope-yarn"]
PROBES = ("low", "zoom", "wide", "long")


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab")
    return out, run_lab("tiny", out, strategies=STRATEGIES, seeds=[0, 1], device="cpu", progress=False)


def test_results_have_provenance_runs_and_summary(tiny_results):
    _, results = tiny_results
    prov = results["provenance"]
    assert prov["preset"] == "tiny" and prov["seeds"] == [0, 1] and prov["strategies"] == STRATEGIES
    for key in ("commit", "device", "torch", "wall_seconds", "date", "threads"):
        assert key in prov
    assert list(prov)[:len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS)  # cogpe.runfiles.provenance's schema
    assert prov["device"] == "cpu" and prov["baseline_strategy"] == "rope-extrapolate"
    assert set(results["runs"]) == set(STRATEGIES) | {"baseline"}
    summary = results["summary"]
    losses = {f"{when}_{p}" for when in ("zero_shot", "final") for p in PROBES}
    analysed = {f"{name}_{when}_{p}" for name in ("entropy", "tv", "frame_diff", *BEHAVIOUR)
                for when in ("zero_shot", "final") for p in PROBES}
    yarn = {f"{name}_zero_shot_{p}" for name in ("loss_no_temperature", "entropy_no_temperature") for p in PROBES}
    for strategy in STRATEGIES:
        expected = losses | analysed | (yarn | {k.replace("zero_shot", "final") for k in yarn}
                                        if strategy == "rope-yarn" else set())
        assert set(summary[strategy]) == expected
        assert all(len(m["values"]) == 2 for m in summary[strategy].values())  # every seed is analysed
    # one stage: no zero-shot
    assert set(summary["baseline"]) == {k for k in losses | analysed if "zero_shot" not in k}
    json.dumps(results)  # plain data


def test_strategies_of_a_family_share_stage_one(tiny_results):
    _, results = tiny_results
    for seed in ("0", "1"):
        curves = [results["runs"][s][seed]["train"] for s in ("sincos-extrapolate", "sincos-interpolate")]
        stage1 = [[row for row in c if row[1] == 1] for c in curves]
        assert stage1[0] == stage1[1] and len(stage1[0]) == TRAIN_PRESETS["tiny"].stages[0].steps
    # ... and differ after the switch, where only the positions differ
    a, b = (results["summary"][s]["zero_shot_zoom"]["mean"] for s in ("sincos-extrapolate", "sincos-interpolate"))
    assert a != b


def test_analysis_entropy_samples_and_temperature(tiny_results):
    out, results = tiny_results
    run = results["runs"]["rope-yarn"]["0"]["analysis"]
    depth = TRAIN_PRESETS["tiny"].model.depth
    for when in ("zero_shot", "final"):
        for probe, values in run[when].items():
            assert len(values["entropy_blocks"]) == depth
            assert 0 < values["entropy"] <= np.log(TRAIN_PRESETS["tiny"].model.token_grid(4, 16, 16)[1] ** 2 * 8)
            assert values["tv"] > 0 and values["frame_diff"] > 0
    # at the base grid YaRN changes nothing, so switching its temperature off changes nothing there
    low = run["zero_shot"]["low"]
    zero_shot_low = results["summary"]["rope-yarn"]["zero_shot_low"]["values"][0]
    assert low["loss_no_temperature"] == pytest.approx(zero_shot_low, rel=1e-6)
    assert low["entropy_no_temperature"] == pytest.approx(low["entropy"], abs=1e-9)
    zoom = run["zero_shot"]["zoom"]
    assert zoom["entropy_no_temperature"] != zoom["entropy"]  # the temperature acts beyond the base grid
    assert "loss_no_temperature" not in results["runs"]["rope-extrapolate"]["0"]["analysis"]["zero_shot"]["zoom"]


def test_rerun_reads_finished_runs_and_drops_checkpoints(tiny_results):
    out, results = tiny_results
    assert not list(out.rglob("*.pt"))
    again = run_lab("tiny", out, strategies=STRATEGIES, seeds=[0, 1], device="cpu", progress=False)
    assert again["runs"] == results["runs"] and again["provenance"]["wall_seconds"] < 5
    assert results["provenance"]["runs_reused"] == 0
    assert again["provenance"]["runs_reused"] == 2 * (len(STRATEGIES) + 1)  # every run, baseline included
    assert again["samples"] == results["samples"]  # kept in the run directories


def test_samples_of_every_run_of_the_first_seed(tiny_results, tmp_path):
    out, results = tiny_results
    meta = results["samples"]
    sizes = ["4x16x16", "4x8x8", "8x8x8"]  # zoom and wide share a size: the model does not see the view
    assert meta["seed"] == 0 and meta["n"] == 8 and meta["resolutions"] == sizes
    assert meta["strategies"] == [*STRATEGIES, "baseline"]
    samples = collect_samples(out, results)
    expected = ({f"{s}/{when}/{r}" for s in STRATEGIES for when in ("zero_shot", "final") for r in sizes}
                | {f"baseline/final/{r}" for r in sizes} | {f"data/{p}" for p in PROBES})
    assert set(samples) == expected
    for key, video in samples.items():
        size = key.split("/")[-1]
        if not key.startswith("data/"):
            assert video.shape == (8, 3, *map(int, size.split("x"))) and video.dtype == np.uint8
    assert samples["data/wide"].shape == samples["data/zoom"].shape == (8, 3, 4, 16, 16)
    assert not np.array_equal(samples["data/wide"], samples["data/zoom"])  # a wider view, not a zoom
    # zero-shot samples of one family come from the same stage-1 weights, under different positions
    assert not np.array_equal(samples["sincos-extrapolate/zero_shot/4x16x16"],
                              samples["sincos-interpolate/zero_shot/4x16x16"])
    save_samples(tmp_path / "s.npz", samples)
    loaded = load_samples(tmp_path / "s.npz")
    assert set(loaded) == expected
    video = loaded["baseline/final/4x16x16"]
    assert video.shape == (8, 3, 4, 16, 16) and -1.0 <= video.min() and video.max() <= 1.0
    torch.testing.assert_close((video + 1) * 127.5, torch.from_numpy(samples["baseline/final/4x16x16"]).float())


def test_no_samples_when_asked(tmp_path):
    results = run_lab("tiny", tmp_path, strategies=["rope-extrapolate"], seeds=[0], baseline=False,
                      device="cpu", progress=False, samples=0, attention=False)
    assert results["samples"] is None and collect_samples(tmp_path, results) == {}
    assert not list(tmp_path.rglob("samples.npz")) and "analysis" not in results["runs"]["rope-extrapolate"]["0"]


def test_baseline_has_the_compute_of_both_stages():
    config = TRAIN_PRESETS["quick"]
    base = baseline_config(config)
    model = VideoDiT(config.model_config())
    flops = lambda s: s.steps * s.batch * model.flops_per_video(config.model.token_grid(*s.resolution))  # noqa: E731
    total = sum(flops(s) for s in config.stages)
    (stage,) = base.stages
    assert stage.resolution == config.stages[-1].resolution
    assert abs(flops(stage) - total) <= flops(dataclasses.replace(stage, steps=1)) / 2 + 1e-6
    assert base.model_config().base_grid == config.model.token_grid(*stage.resolution)


def test_summary_statistics_and_claims():
    results = {"runs": {"a": {"0": {"eval": [
        {"step": 4, "stage": 2, "stage_step": 0, "probe": "zoom", "loss": 0.4},
        {"step": 8, "stage": 2, "stage_step": 4, "probe": "zoom", "loss": 0.2}]},
        "1": {"eval": [
        {"step": 4, "stage": 2, "stage_step": 0, "probe": "zoom", "loss": 0.6},
        {"step": 8, "stage": 2, "stage_step": 4, "probe": "zoom", "loss": 0.2}]}}}}
    summary = summarize(results)
    assert summary["a"]["zero_shot_zoom"]["mean"] == pytest.approx(0.5)
    assert summary["a"]["zero_shot_zoom"]["std"] == pytest.approx(0.1414213, abs=1e-6)
    assert summary["a"]["final_zoom"]["std"] == 0.0
    assert "0.5000 ± 0.1414" in format_table(summary)
    assert gap_exceeds_spread(summary, "a", "a", "final_zoom") is False
    with pytest.raises(KeyError, match="no metric 'final_long'"):
        gap_exceeds_spread(summary, "a", "a", "final_long")


def test_cli_prints_the_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert main(["--preset", "tiny", "--out", str(tmp_path / "runs"), "--results", str(path),
                 "--strategies", "rope-extrapolate", "--seeds", "3", "--no-baseline", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "rope-extrapolate" in text and "mean ± std" in text
    prov = json.loads(path.read_text())["provenance"]
    assert format_provenance(prov) in text  # the provenance line every report prints
    assert json.loads(path.read_text())["provenance"]["seeds"] == [3]
    assert {k for k in load_samples(tmp_path / "r.samples.npz") if k.startswith("rope")} == {
        f"rope-extrapolate/{when}/{size}" for when in ("final", "zero_shot") for size in ("4x16x16", "4x8x8", "8x8x8")}
    stored = load_samples(tmp_path / "r.samples.npz")
    assert stored["rope-extrapolate/final/4x16x16"].shape[0] == stored["data/zoom"].shape[0] == 8
    # a second invocation reads the run back and stores only the first 2 videos of each kind
    assert main(["--preset", "tiny", "--out", str(tmp_path / "runs"), "--results", str(tmp_path / "few.json"),
                 "--strategies", "rope-extrapolate", "--seeds", "3", "--no-baseline", "--no-progress",
                 "--stored-samples", "2"]) == 0
    few = load_samples(tmp_path / "few.samples.npz")
    assert set(few) == set(stored) and all(v.shape[0] == 2 for v in few.values())
    torch.testing.assert_close(few["rope-extrapolate/final/4x16x16"], stored["rope-extrapolate/final/4x16x16"][:2])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--preset", "tiny", "--stored-samples", "0"])
    assert "--stored-samples must be an integer >= 1, got 0" in capsys.readouterr().err


def _with_base_grid(config: TrainConfig, grid) -> TrainConfig:
    return dataclasses.replace(config, model=dataclasses.replace(config.model, base_grid=grid))


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], strategies=("rope-bogus",)), ValueError, r"unknown strategy 'rope-bogus'"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], strategies=()), ValueError, r"strategies is empty"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], seeds=()), ValueError, r"seeds must be a non-empty"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], seeds=(0, 0)), ValueError, r"seeds has duplicates"),
        (lambda: LabConfig(dataclasses.replace(TRAIN_PRESETS["tiny"], stages=(Stage(4, 8, 8, 2, 2, 1e-3),))),
         ValueError, r"needs a low-resolution stage"),
        (lambda: run_lab("medium"), ValueError, r"unknown preset 'medium'; valid: 'tiny', 'quick', 'gpu'"),
        (lambda: run_lab("tiny", samples=-1), ValueError, r"samples must be an integer >= 0, got -1"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], shifted="rope-yarn"), TypeError, r"shifted must be a tuple"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], shifted=("rope-bogus",)), ValueError,
         r"unknown shifted 'rope-bogus'; valid: 'sincos-extrapolate'"),
        (lambda: LabConfig(TRAIN_PRESETS["tiny"], shifted=("rope-yarn", "rope-yarn")), ValueError,
         r"shifted has duplicates"),
        (lambda: LabConfig(dataclasses.replace(TRAIN_PRESETS["tiny"], noise_shift=True), shifted=("rope-yarn",)),
         ValueError, r"train.noise_shift is already on"),
        (lambda: LabConfig(_with_base_grid(TRAIN_PRESETS["tiny"], (4, 1, 1)), shifted=("rope-yarn",)),
         ValueError, r"stage 1 \(4, 8, 8\) is not on the base grid \(4, 1, 1\)"),
    ],
)
def test_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_cli_rejects_unknown_strategy(capsys):
    with pytest.raises(SystemExit):
        main(["--strategies", "rope-bogus"])
    assert "unknown strategy 'rope-bogus'; valid: 'sincos-extrapolate'" in capsys.readouterr().err


def test_presets():
    assert LAB_PRESETS["quick"].seeds == (0, 1, 2) and LAB_PRESETS["gpu"].seeds == (0, 1, 2)
    assert len(LAB_PRESETS["quick"].strategies) == 8
    assert LAB_PRESETS["space"].shifted == LAB_PRESETS["space-gpu"].shifted == SHIFTED
    assert LAB_PRESETS["time"].shifted == LAB_PRESETS["quick"].shifted == ()


def test_noise_shifted_runs_branch_from_the_unshifted_stage_one(tmp_path):
    lab = dataclasses.replace(LAB_PRESETS["tiny"], shifted=("rope-ntk",), seeds=(0,), samples=2)
    results = run_lab(lab, tmp_path, strategies=["rope-extrapolate", "rope-ntk"], baseline=False, device="cpu",
                      progress=False, attention=False)
    runs = results["runs"]
    assert list(runs) == ["rope-extrapolate", "rope-ntk", "rope-ntk+shift"]
    assert results["provenance"]["shifted"] == ["rope-ntk"] and results["samples"]["strategies"][-1] == "rope-ntk+shift"
    shifted, plain = runs["rope-ntk+shift"]["0"], runs["rope-ntk"]["0"]
    stage1 = [row for row in plain["train"] if row[1] == 1]
    assert [row for row in shifted["train"] if row[1] == 1] == stage1  # the same stage 1
    assert shifted["train"][len(stage1):] != plain["train"][len(stage1):]  # stage 2 on other noise levels
    assert set(shifted["analysis"]) == {"zero_shot", "final"} and not list(tmp_path.rglob("*.pt"))
    narrowed = run_lab(lab, tmp_path, strategies=["rope-extrapolate"], baseline=False, device="cpu", progress=False,
                       attention=False)
    assert list(narrowed["runs"]) == ["rope-extrapolate"] and narrowed["provenance"]["shifted"] == []
    flops = lab_flops(dataclasses.replace(lab, strategies=("rope-extrapolate", "rope-ntk"), baseline_strategy=None))
    unshifted = lab_flops(dataclasses.replace(lab, strategies=("rope-extrapolate", "rope-ntk"), shifted=(),
                                              baseline_strategy=None))
    one_branch = lab_flops(dataclasses.replace(lab, strategies=("rope-extrapolate",), shifted=(), baseline_strategy=None))
    assert flops["total"] - unshifted["total"] == pytest.approx(unshifted["total"] - one_branch["total"])


def test_paired_difference(tiny_results):
    _, results = tiny_results
    from cogpe.lab import paired_difference

    d = paired_difference(results, "sincos-interpolate", "sincos-extrapolate", "zero_shot_zoom")
    s = results["summary"]
    assert len(d["values"]) == 2
    assert d["mean"] == pytest.approx(s["sincos-interpolate"]["zero_shot_zoom"]["mean"]
                                      - s["sincos-extrapolate"]["zero_shot_zoom"]["mean"])
    with pytest.raises(KeyError, match="no results for 'rope-ntk'"):
        paired_difference(results, "rope-ntk", "rope-extrapolate", "final_zoom")


def test_lab_flops_counts_what_the_lab_runs(tiny_results):
    from cogpe.lab import lab_flops

    _, results = tiny_results
    config = TRAIN_PRESETS["tiny"]
    model = VideoDiT(config.model_config())
    video = lambda res: model.flops_per_video(config.model.token_grid(*res))  # noqa: E731
    probe_cost = config.eval_videos * sum(video(p.resolution) for p in config.probes)
    lab = LabConfig(config, strategies=tuple(STRATEGIES), seeds=(0, 1))
    flops = lab_flops(lab)
    # evaluations: as many as the runs actually recorded (one row per probe and evaluation)
    evals = sum(len(run["eval"]) for by_seed in results["runs"].values() for run in by_seed.values())
    assert flops["eval"] == pytest.approx(evals / len(config.probes) * probe_cost)
    # training: stage 1 once per family (sincos, rope), stage 2 per strategy, the baseline's single stage
    s1, s2 = config.stages
    (base,) = baseline_config(config).stages
    base_model = VideoDiT(baseline_config(config).model_config())
    per_seed = 3 * (2 * s1.steps * s1.batch * video(s1.resolution) + 4 * s2.steps * s2.batch * video(s2.resolution)
                    + base.steps * base.batch * base_model.flops_per_video(config.model.token_grid(*base.resolution)))
    assert flops["train"] == pytest.approx(2 * per_seed)
    assert flops["total"] == pytest.approx(flops["train"] + flops["eval"])


def test_gpu_preset_fits_eight_minutes_of_a_modern_gpu():
    from cogpe.lab import lab_flops

    total = lab_flops("gpu")["total"]
    assert 5e15 < total <= 8 * 60 * 30e12  # at 30 TFLOP/s sustained: a few percent of an H100's bf16 peak
    assert lab_flops("quick")["total"] < total / 100
    assert LAB_PRESETS["gpu"].train.model.head_dim == 64 and len(LAB_PRESETS["gpu"].strategies) == 8


def test_gpu_preset_smoke_runs_its_code_path_on_the_cpu(tmp_path, capsys):
    """What `python -m cogpe.lab --preset gpu` runs, shrunk (cogpe.lab.smoke): every strategy, the
    baseline, the analysis and the results files, through the same command line."""
    path = tmp_path / "gpu.json"
    assert main(["--preset", "gpu", "--smoke", "--out", str(tmp_path / "runs"), "--results", str(path),
                 "--samples", "2", "--no-progress"]) == 0
    results = json.loads(path.read_text())
    assert results["provenance"]["preset"] == "gpu-smoke" and results["provenance"]["seeds"] == [0]
    assert set(results["runs"]) == set(LAB_PRESETS["gpu"].strategies) | {"baseline"}
    assert TrainConfig.from_dict(results["config"]) == smoke(LAB_PRESETS["gpu"]).train
    assert all(set(m) >= {"zero_shot_zoom", "tv_final_wide", "entropy_zero_shot_long"}
               for s, m in results["summary"].items() if s != "baseline")
    assert any(k.startswith("data/") for k in load_samples(tmp_path / "gpu.samples.npz"))


def test_compiled_training_step_matches_eager(tmp_path, compiled_available):
    """``compile=True`` (torch.compile of the training step) computes what eager does."""
    from cogpe.train import train

    config = dataclasses.replace(smoke(LAB_PRESETS["quick"]).train, probes=())
    eager = train(config, tmp_path / "eager", device="cpu", progress=False)
    compiled = train(dataclasses.replace(config, compile=True), tmp_path / "compiled", device="cpu", progress=False)
    loss = lambda rows: [r["loss"] for r in rows if r["kind"] == "train"]  # noqa: E731
    assert loss(compiled) == pytest.approx(loss(eager), rel=1e-4, abs=1e-6)


def test_lab_flops_bad_input():
    from cogpe.lab import lab_flops

    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        lab_flops("huge")
    with pytest.raises(TypeError, match="lab must be a name"):
        lab_flops(3)


@pytest.mark.parametrize("preset", ["time-gpu", "space-gpu"])
def test_experiment_presets_smoke_run_with_behaviour_and_quality(tmp_path, preset):
    """What `python -m cogpe.lab --preset time-gpu|space-gpu` runs, shrunk: probes of the experiment's kind,
    each named in the results with its grid, extent and frame step, and samples measured by the behaviour
    ratios and the Fréchet distance of a feature network trained for the run."""
    path = tmp_path / "lab.json"
    assert main(["--preset", preset, "--smoke", "--out", str(tmp_path / "runs"), "--results", str(path),
                 "--strategies", "rope-extrapolate", "rope-interpolate", "--no-baseline", "--no-progress"]) == 0
    results = json.loads(path.read_text())
    lab = smoke(LAB_PRESETS[preset])
    assert set(results["probes"]) == {p.name for p in lab.train.probes}
    for probe in lab.train.probes:
        meta = results["probes"][probe.name]
        assert meta["extent"] == probe.extent and meta["frame_step"] == probe.frame_step
        assert tuple(meta["grid"]) == lab.train.model_config().token_grid(*probe.resolution)
    assert LAB_PRESETS[preset].samples == 16 and LAB_PRESETS[preset].features is not None
    final = results["runs"]["rope-interpolate"]["0"]["analysis"]["final"]
    for values in final.values():
        assert {"speed", "scale", "count", "loops", "fvd", "fvd_data"} <= set(values)
        assert values["fvd"] >= 0 and values["fvd_data"] >= 0
    assert list(tmp_path.joinpath("runs").glob("feature-net-*.pt"))  # trained once, cached with the runs


def test_the_step_matched_baseline_takes_as_many_steps_as_the_schedule():
    from cogpe.lab import BASELINES, baseline_config

    config = LAB_PRESETS["time"].train
    steps = baseline_config(config, match="steps").stages[0]
    flops = baseline_config(config, match="flops").stages[0]
    assert steps.steps == sum(s.steps for s in config.stages) > flops.steps
    assert steps.resolution == flops.resolution == config.stages[-1].resolution
    assert LAB_PRESETS["time"].baselines == ("flops", "steps") and BASELINES["steps"] == "baseline-steps"
    with pytest.raises(ValueError, match="match"):
        baseline_config(config, match="time")
    with pytest.raises(ValueError, match="baselines"):
        dataclasses.replace(LAB_PRESETS["time"], baselines=("flops", "flops"))


def test_paired_claims_test_the_family_over_seeds_and_correct_it(tiny_results):
    from cogpe.labsummary import format_claims, paired_claims, paired_values
    from cogpe.stats import compare

    _, results = tiny_results
    seeds, a, b = paired_values(results, "rope-yarn", "rope-extrapolate", "zero_shot_zoom")
    assert seeds == [0, 1] and len(a) == len(b) == 2
    family = {"yarn below extrapolation": ("rope-yarn", "rope-extrapolate", "zero_shot_zoom", "less"),
              "interpolation below": ("sincos-interpolate", "sincos-extrapolate", "final_zoom", "less")}
    claims = paired_claims(results, family)
    by_hand = compare({"yarn below extrapolation": (a, b, "less"),
                       "interpolation below": (*paired_values(results, "sincos-interpolate", "sincos-extrapolate",
                                                              "final_zoom")[1:], "less")})
    assert claims == by_hand
    assert all(c.p >= 0.25 and not c.holds for c in claims)  # two seeds cannot carry a claim
    table = format_claims(claims)
    assert table.splitlines()[0].split()[:3] == ["claim", "n", "mean"] and "yarn below extrapolation" in table
    with pytest.raises(TypeError, match="must be \\(a, b, metric, alternative\\)"):
        paired_claims(results, {"x": ("rope-yarn", "rope-extrapolate", "final_zoom")})
    with pytest.raises(KeyError, match="no results for 'rope-ntk'"):
        paired_claims(results, {"x": ("rope-ntk", "rope-extrapolate", "final_zoom", "less")})
    with pytest.raises(ValueError, match="alternative of claim 'x'"):
        paired_claims(results, {"x": ("rope-yarn", "rope-extrapolate", "final_zoom", "lower")})


def test_a_table_of_one_seed_shows_no_spread(tiny_results):
    _, results = tiny_results
    one = {s: {m: {**v, "values": v["values"][:1], "std": 0.0} for m, v in metrics.items()}
           for s, metrics in results["summary"].items()}
    row = next(line for line in format_table(one).splitlines() if line.startswith("rope-yarn"))
    assert "±" not in row and "±" in format_table(results["summary"])
