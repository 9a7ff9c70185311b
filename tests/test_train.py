"""Chapter 7's trainer: every strategy learns; resume, branching and DDP reproduce an uninterrupted
single-process run; checkpoints are atomic; the command line rejects bad input with a clear message.

The configurations are tested in test_trainconfig.py, the objective, evaluation and sampling in
test_objective.py, the run files in test_runfiles.py."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import cogpe.train as train_mod
from cogpe.data import DataConfig
from cogpe.model import STRATEGIES, VideoDiT
from cogpe.objective import evaluate
from cogpe.runfiles import PROVENANCE_KEYS, load_checkpoint
from cogpe.train import load_model, main, train
from cogpe.trainconfig import TrainConfig, train_preset

REPO = Path(__file__).resolve().parents[1]
PROBES = tuple(p.name for p in train_preset("tiny").probes)


def _state(path) -> dict:
    return load_checkpoint(path)["model"]


def _assert_same_state(a: dict, b: dict, tol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=tol, rtol=tol, msg=k)


def _train_rows(rows) -> list[float]:
    """(step, stage, lr, loss) of every training row, flattened (for pytest.approx)."""
    return [float(r[k]) for r in rows if r["kind"] == "train" for k in ("step", "stage", "lr", "loss")]


def _eval_rows(rows) -> list:
    """(step, stage_step, probe, loss) of every evaluation row, flattened; probe names must match exactly."""
    out = []
    for r in rows:
        if r["kind"] == "eval":
            out += [float(r["step"]), float(r["stage_step"]), float(PROBES.index(r["probe"])), r["loss"]]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny preset (2 stages, 6 + 4 steps), trained once per strategy: {strategy: (out_dir, metrics)}."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for strategy in STRATEGIES:
        d = root / strategy
        out[strategy] = (d, train(train_preset("tiny", strategy=strategy), d, device="cpu", progress=False))
    return out


# --- learning ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_trains_and_reduces_the_held_out_loss(runs, strategy):
    out, rows = runs[strategy]
    config = train_preset("tiny", strategy=strategy)
    untrained = VideoDiT(config.model_config())
    for probe in config.probes:
        before = evaluate(untrained, config.data, probe.resolution, n_videos=config.eval_videos)
        after = [r["loss"] for r in rows if r["kind"] == "eval" and r["probe"] == probe.name][-1]
        assert after < 0.97 * before, (probe.name, before, after)
    losses = [r["loss"] for r in rows if r["kind"] == "train"]
    assert sum(losses[-3:]) < sum(losses[:3])
    assert {p.name for p in out.iterdir()} >= {"ckpt.pt", "stage1.pt", "metrics.jsonl", "metrics.csv", "run.json"}
    assert not (out / "stage2.pt").exists()  # the final state is ckpt.pt


def test_metrics_files_hold_every_row(runs):
    out, rows = runs["rope-ntk"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines == rows
    with open(out / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and float(table[-1]["loss"]) == pytest.approx(rows[-1]["loss"])
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == list(range(1, 11))
    assert [r["stage"] for r in train_rows] == [1] * 6 + [2] * 4
    assert [r["lr"] for r in train_rows[:3]] == pytest.approx([1.5e-3, 3e-3, 3e-3])  # warm-up over 2 steps
    evals = {(r["stage"], r["stage_step"], r["probe"]) for r in rows if r["kind"] == "eval"}
    # zero-shot at the start of stage 2, every 2 steps, and at the end
    assert evals == {(2, s, p) for s in (0, 2, 4) for p in ("low", "zoom", "wide", "long")}
    info = json.loads((out / "run.json").read_text())
    prov = info["provenance"]
    assert prov["strategy"] == "rope-ntk" and prov["world_size"] == 1 and prov["steps"] == 10
    assert list(prov)[:len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS) and prov["device"] == "cpu"
    assert (prov["precision"], prov["tf32"]) == ("fp32", False)
    assert load_checkpoint(out / "ckpt.pt")["scaler"] == {}  # no gradient scaler in float32
    assert TrainConfig.from_dict(info["config"]) == train_preset("tiny", strategy="rope-ntk")


def test_make_optimizer_decays_only_weight_matrices():
    """Weight decay on the >= 2-D weights, not on biases, norms or a learned position table; the config's
    betas and the first stage's learning rate; the default (unfused) AdamW kernel."""
    config = dataclasses.replace(train_preset("tiny"), weight_decay=0.05)
    model = VideoDiT(config.model_config())
    optimizer = train_mod.make_optimizer(model, config)
    decay, no_decay = optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 and not names[id(p)].startswith("pos.") for p in decay["params"])
    assert all(p.ndim < 2 or names[id(p)].startswith("pos.") for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    assert decay["lr"] == config.stages[0].lr and decay["betas"] == config.betas
    assert not optimizer.defaults["fused"]


def test_v_objective_trains(tmp_path):
    config = dataclasses.replace(train_preset("tiny", strategy="rope-interpolate"), objective="v")
    rows = train(config, tmp_path, device="cpu", progress=False)
    untrained = VideoDiT(config.model_config())
    before = evaluate(untrained, config.data, (4, 16, 16), n_videos=4, objective="v")
    assert rows[-1]["loss"] < 0.97 * before


# --- resume, atomic checkpoints, branching -----------------------------------------------------------------


class _Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs (not even an except Exception)."""


def _kill_at(monkeypatch, step: int):
    """Make the ``step``-th training step (counting from this call) die before it updates anything."""
    real = train_mod.train_step
    calls = {"n": 0}

    def step_or_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise _Kill()
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_step", step_or_die)


def test_resume_after_kills_mid_stage_equals_an_uninterrupted_run(runs, tmp_path, monkeypatch):
    reference_dir, reference = runs["rope-yarn"]
    config = train_preset("tiny", strategy="rope-yarn")  # checkpoints every 3 steps
    with monkeypatch.context() as m:
        _kill_at(m, 5)  # dies in stage 1 during step 5: last checkpoint at step 3
        with pytest.raises(_Kill):
            train(config, tmp_path, device="cpu", progress=False)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3
    with monkeypatch.context() as m:
        _kill_at(m, 5)  # resumed at step 3; dies in stage 2 during step 8: last checkpoint at 6 (boundary)
        with pytest.raises(_Kill):
            train(config, tmp_path, resume=True, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "ckpt.pt")
    assert (ckpt["step"], ckpt["stage"], ckpt["stage_step"]) == (6, 1, 0)
    rows = train(config, tmp_path, resume=True, device="cpu", progress=False)
    _assert_same_state(_state(tmp_path / "ckpt.pt"), _state(reference_dir / "ckpt.pt"), tol=1e-6)
    assert _train_rows(rows) == pytest.approx(_train_rows(reference), rel=1e-6)
    assert _eval_rows(rows) == pytest.approx(_eval_rows(reference), rel=1e-6)
    # resuming a finished run does nothing and returns its metrics
    assert _train_rows(train(config, tmp_path, resume=True, device="cpu", progress=False)) == _train_rows(rows)


def test_a_torn_checkpoint_write_never_replaces_a_good_one(runs, tmp_path, monkeypatch):
    config = train_preset("tiny", strategy="rope-yarn")
    real_save = torch.save
    calls = {"n": 0}

    def torn_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint (stage1.pt at step 6): half written, then the process dies
            f.write(b"\x80\x02 half a pickle")
            raise _Kill()
        return real_save(obj, f, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(torch, "save", torn_save)
        with pytest.raises(_Kill):
            train(config, tmp_path, device="cpu", progress=False)
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 3  # the good one is intact
    assert not (tmp_path / "stage1.pt").exists()
    # a temp file a SIGKILL could leave behind is never read
    (tmp_path / ".ckpt.pt.tmp-999999").write_bytes(b"garbage")
    rows = train(config, tmp_path, resume=True, device="cpu", progress=False)
    _assert_same_state(_state(tmp_path / "ckpt.pt"), _state(runs["rope-yarn"][0] / "ckpt.pt"), tol=1e-6)
    assert _train_rows(rows) == pytest.approx(_train_rows(runs["rope-yarn"][1]), rel=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") and p.name != ".ckpt.pt.tmp-999999"]


@pytest.mark.parametrize("source, target", [("rope-extrapolate", "rope-ntk"), ("sincos-extrapolate", "sincos-interpolate")])
def test_branching_after_stage_1_equals_training_the_branch_from_scratch(runs, tmp_path, source, target):
    rows = train(train_preset("tiny", strategy=target), tmp_path, init_from=runs[source][0] / "stage1.pt",
                 device="cpu", progress=False)
    _assert_same_state(_state(tmp_path / "ckpt.pt"), _state(runs[target][0] / "ckpt.pt"), tol=1e-6)
    assert _eval_rows(rows) == pytest.approx(_eval_rows(runs[target][1]), rel=1e-6)
    # "branch, or continue the branch": with resume=True the branch's own checkpoint wins
    again = train(train_preset("tiny", strategy=target), tmp_path, resume=True,
                  init_from=runs[source][0] / "stage1.pt", progress=False)
    assert _train_rows(again) == _train_rows(rows)
    assert {r["strategy"] for r in rows if r["stage"] == 1} == {source}
    assert {r["strategy"] for r in rows if r["stage"] == 2} == {target}


def test_a_noise_shifted_branch_equals_the_shifted_run_from_scratch(runs, tmp_path):
    """Stage 1 is on the base grid, where the shift is 1: the unshifted stage 1 is the shifted one."""
    shifted = dataclasses.replace(train_preset("tiny", strategy="rope-ntk"), noise_shift=True)
    assert shifted.level_shift(shifted.stages[0].resolution) == 1 < shifted.level_shift(shifted.stages[1].resolution)
    scratch = train(shifted, tmp_path / "scratch", device="cpu", progress=False)
    branch = train(shifted, tmp_path / "branch", init_from=runs["rope-extrapolate"][0] / "stage1.pt", device="cpu",
                   progress=False)
    _assert_same_state(_state(tmp_path / "branch" / "ckpt.pt"), _state(tmp_path / "scratch" / "ckpt.pt"), tol=1e-6)
    assert _eval_rows(branch) == pytest.approx(_eval_rows(scratch), rel=1e-6)
    assert _eval_rows(branch) != pytest.approx(_eval_rows(runs["rope-ntk"][1]), rel=1e-6)  # the shift acts


def test_a_branch_may_not_change_the_noise_shift_of_a_trained_stage(tmp_path):
    """With a base grid below stage 1's, stage 1 itself is shifted: its checkpoint cannot be reused."""
    base = train_preset("tiny", strategy="rope-extrapolate")
    base = dataclasses.replace(base, model=dataclasses.replace(base.model, base_grid=(4, 1, 1)),
                               stages=base.stages[:1] + (dataclasses.replace(base.stages[1], steps=1),))
    train(base, tmp_path / "a", device="cpu", progress=False)
    shifted = dataclasses.replace(base, noise_shift=True)
    assert shifted.level_shift(base.stages[0].resolution) == 2.0
    with pytest.raises(ValueError, match="the trained stages' noise shift differs"):
        train(shifted, tmp_path / "b", init_from=tmp_path / "a" / "stage1.pt", progress=False)


def test_load_model_switches_strategy_within_the_family(runs):
    stage1 = runs["rope-extrapolate"][0] / "stage1.pt"
    model = load_model(stage1, strategy="rope-yarn")
    assert model.config.strategy == "rope-yarn" and not model.training
    _assert_same_state(model.state_dict(), _state(stage1), tol=0)
    with pytest.raises(ValueError, match="cannot continue as 'sincos-interpolate' .*Branch within a family"):
        load_model(stage1, strategy="sincos-interpolate")


def test_branching_and_resuming_refuse_what_cannot_continue(runs, tmp_path):
    stage1 = runs["rope-extrapolate"][0] / "stage1.pt"
    with pytest.raises(ValueError, match="cannot continue as 'sincos-interpolate' .*Branch within a family"):
        train(train_preset("tiny", strategy="sincos-interpolate"), tmp_path / "a", init_from=stage1, progress=False)
    other = dataclasses.replace(train_preset("tiny", strategy="rope-ntk"), data=DataConfig(max_objects=3))
    with pytest.raises(ValueError, match="data config, objective or the trained stages. noise shift differs"):
        train(other, tmp_path / "b", init_from=stage1, progress=False)
    done = runs["rope-ntk"][0]
    with pytest.raises(FileExistsError, match="pass resume=True"):
        train(train_preset("tiny", strategy="rope-ntk"), done, progress=False)
    with pytest.raises(ValueError, match=r"different config \(differs in: seed\)"):
        train(train_preset("tiny", strategy="rope-ntk", seed=5), done, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train(train_preset("tiny"), tmp_path / "c", init_from=tmp_path / "missing.pt", progress=False)


# --- distributed -------------------------------------------------------------------------------------------


def test_ddp_two_gloo_processes_equal_one_process(runs, tmp_path):
    """``torchrun --nproc_per_node=2`` (gloo, CPU) with the same global batch = single-process training."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "cogpe.train", "--preset", "tiny", "--strategy", "rope-yarn", "--out", str(tmp_path),
        "--device", "cpu", "--no-progress",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: rope-yarn") == 1  # only rank 0 reports
    _assert_same_state(_state(tmp_path / "ckpt.pt"), _state(runs["rope-yarn"][0] / "ckpt.pt"), tol=1e-5)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert _train_rows(rows) == pytest.approx(_train_rows(runs["rope-yarn"][1]), rel=1e-5, abs=1e-6)
    assert _eval_rows(rows) == pytest.approx(_eval_rows(runs["rope-yarn"][1]), rel=1e-5)
    assert json.loads((tmp_path / "run.json").read_text())["provenance"]["world_size"] == 2


# --- configuration and command line --------------------------------------------------------------------------


def test_cli_smoke(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--preset", "tiny", "--strategy", "learned-resample", "--seed", "1", "--out", str(out),
                 "--device", "cpu", "--no-progress"]) == 0
    assert "done: learned-resample seed 1" in capsys.readouterr().out
    assert load_checkpoint(out / "ckpt.pt")["config"]["seed"] == 1
    assert main(["--preset", "tiny", "--out", str(out), "--no-progress", "--strategy", "learned-resample",
                 "--seed", "1", "--resume"]) == 0
    assert main(["--preset", "tiny", "--out", str(out), "--no-progress", "--strategy", "learned-resample",
                 "--seed", "1"]) == 1  # refuses to overwrite
    assert "pass resume=True (--resume)" in capsys.readouterr().err
    custom = tmp_path / "custom"
    assert main(["--preset", "tiny", "--stages", "2x8x8:2:2:1e-3", "--out", str(custom), "--no-progress"]) == 0
    rows = [json.loads(x) for x in (custom / "metrics.jsonl").read_text().splitlines()]
    assert [r["probe"] for r in rows if r["kind"] == "eval"] == ["2x8x8"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "rope-pi"], "unknown strategy 'rope-pi'; valid: 'sincos-extrapolate'"),
        (["--preset", "huge"], "argument --preset: invalid choice: 'huge'"),
        (["--stages", "8x15x16:10:4:1e-3"], "stages[0]: height=15 is not divisible by the patch size 4"),
        (["--stages", ""], "stage list '' is empty"),
        (["--stages", " , "], "is empty"),
        (["--stages", "8x16:10:4:1e-3"], "resolution must be FRAMESxHEIGHTxWIDTH"),
        (["--stages", "8x16x16:0:4:1e-3"], "steps must be an integer >= 1, got 0"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ],
)
def test_bad_cli_input_gets_a_clear_error(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--preset", "tiny", "--out", str(tmp_path / "x"), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_batch_must_split_over_processes(monkeypatch, tmp_path):
    monkeypatch.setattr(train_mod, "_setup_distributed", lambda device: (0, 3, torch.device("cpu"), False))
    with pytest.raises(ValueError, match=r"stages\[0\].batch=4 is not divisible by the 3 processes"):
        train(train_preset("tiny"), tmp_path, progress=False)


# --- the GPU path, exercised on the CPU ----------------------------------------------------------------------

_SYNCS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy", "cpu")


def test_a_training_step_never_waits_for_the_device(tmp_path, monkeypatch):
    """Between read-backs a step asks for no tensor's value (``.item()``, ``float(t)``, ``if t:``, ``.cpu()``,
    …: each would make the host wait for a GPU). The only such calls are AdamW's own, on its step counters,
    which live on the CPU also when the model is on a GPU. The first step builds the RoPE tables (checked
    once, then cached) and is not counted."""
    import traceback

    config = dataclasses.replace(train_preset("tiny", strategy="rope-yarn"),
                                 stages=(train_preset("tiny").stages[0],), ckpt_every=0)
    monkeypatch.setattr(train_mod, "READBACK_EVERY", 4)
    found: list[tuple[int, str, str]] = []
    in_step = {"n": 0, "on": False}
    for name in _SYNCS:
        real = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _real=real, **kwargs):
            if in_step["on"] and in_step["n"] > 1:
                caller = traceback.extract_stack()[-2].filename
                if f"torch{os.sep}optim{os.sep}" not in caller:
                    found.append((in_step["n"], _name, caller))
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    real_step = train_mod._step

    def watched_step(*args):
        in_step["n"] += 1
        in_step["on"] = True
        try:
            return real_step(*args)
        finally:
            in_step["on"] = False

    monkeypatch.setattr(train_mod, "_step", watched_step)
    read_backs = []
    real_read_back = train_mod._read_back
    monkeypatch.setattr(train_mod, "_read_back", lambda run, bar: (read_backs.append(run.state.step),
                                                                   real_read_back(run, bar))[1])
    rows = train(config, tmp_path, device="cpu", progress=False)
    assert in_step["n"] == 6 and found == []
    assert read_backs[:2] == [4, 6]  # every READBACK_EVERY steps and at the stage's end
    assert all(isinstance(r["loss"], float) and isinstance(r["grad_norm"], float) for r in rows if r["kind"] == "train")


def test_deferred_read_back_writes_the_same_metrics(runs, tmp_path, monkeypatch):
    """Reading the numbers back every step (as before) or every few steps: the same rows, bit for bit."""
    monkeypatch.setattr(train_mod, "READBACK_EVERY", 1)
    rows = train(train_preset("tiny", strategy="rope-ntk"), tmp_path, device="cpu", progress=False)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(rows) == strip(runs["rope-ntk"][1])
    _assert_same_state(_state(tmp_path / "ckpt.pt"), _state(runs["rope-ntk"][0] / "ckpt.pt"), tol=0)


def test_a_diverged_run_stops_before_it_writes_a_checkpoint(tmp_path, monkeypatch, capsys):
    """A NaN loss at step 5 (between the checkpoints at 3 and 6) raises at the next read-back, and the
    newest checkpoint is still step 3's; the command line reports it and exits with status 1."""
    real = train_mod.train_step
    calls = {"n": 0}

    def nan_at_5(*args, **kwargs):
        calls["n"] += 1
        loss, grad_norm = real(*args, **kwargs)
        return (loss * float("nan"), grad_norm) if calls["n"] == 5 else (loss, grad_norm)

    monkeypatch.setattr(train_mod, "train_step", nan_at_5)
    with pytest.raises(FloatingPointError, match=r"training diverged at step 5 \(stage 1, 4x8x8, lr 0.003\): loss nan"):
        train(train_preset("tiny"), tmp_path / "a", device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / "a" / "ckpt.pt")
    assert ckpt["step"] == 3 and not (tmp_path / "a" / "stage1.pt").exists()
    calls["n"] = 0
    assert main(["--preset", "tiny", "--out", str(tmp_path / "b"), "--device", "cpu", "--no-progress"]) == 1
    assert "error: training diverged at step 5" in capsys.readouterr().err


def _fp16_on_cpu(monkeypatch):
    """The T4's arithmetic (fp16 autocast, a GradScaler, fused AdamW) on the CPU, which has all three."""
    from cogpe.precision import Precision

    monkeypatch.setattr(train_mod, "choose_precision", lambda device: Precision("fp16", "cpu"))


def test_the_fp16_path_trains_and_resumes_exactly(runs, tmp_path, monkeypatch):
    """Under fp16 with a gradient scaler the run learns; the scaler's state is checkpointed, and a run
    killed mid-stage and resumed equals one that was not (on the CPU, bit for bit)."""
    _fp16_on_cpu(monkeypatch)
    config = train_preset("tiny", strategy="rope-yarn")
    reference = train(config, tmp_path / "ref", device="cpu", progress=False)
    assert json.loads((tmp_path / "ref" / "run.json").read_text())["provenance"]["precision"] == "fp16"
    scaler = load_checkpoint(tmp_path / "ref" / "ckpt.pt")["scaler"]
    assert scaler["scale"] > 0 and scaler["_growth_tracker"] >= 0
    fp32 = runs["rope-yarn"][1]
    assert _train_rows(reference) == pytest.approx(_train_rows(fp32), rel=5e-2)  # fp16 rounds, same course
    with monkeypatch.context() as m:
        _kill_at(m, 5)
        with pytest.raises(_Kill):
            train(config, tmp_path / "run", device="cpu", progress=False)
    rows = train(config, tmp_path / "run", resume=True, device="cpu", progress=False)
    assert _train_rows(rows) == _train_rows(reference) and _eval_rows(rows) == _eval_rows(reference)
    _assert_same_state(_state(tmp_path / "run" / "ckpt.pt"), _state(tmp_path / "ref" / "ckpt.pt"), tol=0)
    assert load_checkpoint(tmp_path / "run" / "ckpt.pt")["scaler"] == scaler


def test_an_fp16_run_continues_in_float32_and_back(tmp_path, monkeypatch):
    """A checkpoint moves between precisions (a Colab T4 run finished on a CPU or an A100): the fused and
    unfused AdamW read each other's state, and the scaler's state is kept where a scaler runs."""
    config = train_preset("tiny", strategy="rope-ntk")
    with monkeypatch.context() as m:
        _fp16_on_cpu(m)
        _kill_at(m, 5)
        with pytest.raises(_Kill):
            train(config, tmp_path, device="cpu", progress=False)
    with monkeypatch.context() as m:
        _kill_at(m, 4)  # resumed at step 3 in float32, dies at step 7
        with pytest.raises(_Kill):
            train(config, tmp_path, resume=True, device="cpu", progress=False)
    assert load_checkpoint(tmp_path / "ckpt.pt")["scaler"] == {}
    _fp16_on_cpu(monkeypatch)
    rows = train(config, tmp_path, resume=True, device="cpu", progress=False)
    assert [r["step"] for r in rows if r["kind"] == "train"] == list(range(1, 11))
    assert all(r["grad_norm"] is None or r["grad_norm"] > 0 for r in rows if r["kind"] == "train")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_no_step_synchronises(tmp_path, monkeypatch):
    """On CUDA, torch's sync debug mode turns any host-device synchronisation after the first step (which
    builds and checks the RoPE tables) into an error, until the next read-back."""
    real_step = train_mod._step
    calls = {"n": 0}

    def strict_step(*args):
        calls["n"] += 1
        torch.cuda.set_sync_debug_mode("error" if calls["n"] > 1 else "default")
        try:
            return real_step(*args)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(train_mod, "_step", strict_step)
    config = dataclasses.replace(train_preset("tiny"), stages=(train_preset("tiny").stages[0],), ckpt_every=0)
    rows = train(config, tmp_path, device="cuda", progress=False)
    assert calls["n"] == 6 and all(r["loss"] < 2 for r in rows if r["kind"] == "train")


def test_the_learning_rate_of_every_step_follows_its_stage_schedule(tmp_path):
    """Warm-up, constant, cooldown: the ``lr`` of every training row is :meth:`Stage.lr_at` of its step."""
    tiny = train_preset("tiny")
    stages = (dataclasses.replace(tiny.stages[0], steps=6, warmup=2, cooldown=3), tiny.stages[1])
    rows = train(dataclasses.replace(tiny, stages=stages, probes=tiny.probes[:1]), tmp_path, device="cpu",
                 progress=False)
    got = [(r["stage"], r["lr"]) for r in rows if r["kind"] == "train"]
    expected = [(i + 1, stage.lr_at(k)) for i, stage in enumerate(stages) for k in range(stage.steps)]
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [lr for _, lr in got] == pytest.approx([lr for _, lr in expected])
    assert [lr for _, lr in got[:6]] == pytest.approx([1.5e-3, 3e-3, 3e-3, 2.25e-3, 1.5e-3, 0.75e-3])
