"""cogpe.runfiles: a write that fails half way leaves the old file; one provenance schema, whose
``dirty`` looks at the package's own files only; devices resolve with a clear error."""

from __future__ import annotations

import datetime
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from cogpe import runfiles
from cogpe.runfiles import (
    CHECKPOINT_FORMAT,
    PROVENANCE_KEYS,
    atomic_write,
    format_provenance,
    git_state,
    load_checkpoint,
    provenance,
    read_metrics,
    resolve_device,
    save_checkpoint,
    write_json,
    write_metrics,
)


class _Kill(BaseException):
    """Stands in for SIGKILL: nothing after it runs (not even an except Exception)."""


# --- atomic files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", [OSError, _Kill])
def test_a_write_failing_half_way_leaves_the_old_file(tmp_path, failure):
    path = tmp_path / "results.json"
    atomic_write(path, lambda f: f.write(b"old"))

    def half(f):
        f.write(b"new, half writ")
        raise failure("disk full")

    with pytest.raises(failure):
        atomic_write(path, half)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # the temp file is gone too
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_write_json_and_metrics_round_trip(tmp_path):
    doc = {"a": [1, 2.5], "b": "± µs"}
    write_json(tmp_path / "d.json", doc)
    text = (tmp_path / "d.json").read_text(encoding="utf-8")
    assert json.loads(text) == doc and text.endswith("}\n") and "± µs" in text
    rows = [{"kind": "train", "step": 1, "loss": 0.5, "extra": [1]}, {"kind": "eval", "step": 1, "probe": "low"}]
    write_metrics(tmp_path, rows)
    assert read_metrics(tmp_path) == rows
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header.split(",") == list(runfiles.METRIC_COLUMNS)  # "extra" is kept in the jsonl only


def test_checkpoints_carry_their_format(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"step": 3, "model": {"w": torch.ones(2)}})
    ckpt = load_checkpoint(tmp_path / "c.pt")
    assert ckpt["format"] == CHECKPOINT_FORMAT and ckpt["step"] == 3 and torch.equal(ckpt["model"]["w"], torch.ones(2))
    torch.save({"format": CHECKPOINT_FORMAT + 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not a cogpe.train checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")


# --- provenance ---------------------------------------------------------------------------------------------


def test_provenance_schema():
    prov = provenance("cpu", threads=3, preset="tiny", seeds=[0, 1])
    assert list(prov) == [*PROVENANCE_KEYS, "preset", "seeds"]
    assert prov["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["commit"])
    assert prov["dirty"] is None if prov["commit"] is None else isinstance(prov["dirty"], bool)
    date = datetime.datetime.fromisoformat(prov["date"])
    assert date.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - date).total_seconds()) < 60
    assert (prov["torch"], prov["device"], prov["threads"]) == (torch.__version__, "cpu", 3)
    assert isinstance(prov["python"], str) and isinstance(prov["device_name"], str) and prov["device_name"]
    assert provenance(torch.device("cpu"))["threads"] == torch.get_num_threads()
    json.dumps(prov)  # plain data
    with pytest.raises(ValueError, match="provenance\\(\\) sets commit, date itself"):
        provenance("cpu", commit="abc", date="today")


def test_provenance_names_this_checkout():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    commit, dirty = git_state()
    package = Path(runfiles.__file__).resolve().parent
    head = subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        assert (commit, dirty) == (None, None)  # an installed copy outside a repository
        return
    assert commit == head.stdout.strip() and isinstance(dirty, bool)
    assert provenance("cpu")["commit"] == commit


def test_dirty_counts_the_package_files_only(tmp_path):
    """Edits outside the package folder (notebooks, tests) leave ``dirty`` False; an edit inside sets it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git = lambda *args: subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t",  # noqa: E731
                                        *args], capture_output=True, text=True, check=True).stdout.strip()
    git("init", "-q")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "notebook.ipynb").write_text("{}\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    head = git("rev-parse", "HEAD")
    assert git_state(tmp_path / "pkg") == (head, False)
    (tmp_path / "notebook.ipynb").write_text('{"cells": []}\n')  # outside the package
    (tmp_path / "pkg" / "untracked.py").write_text("y = 2\n")  # untracked: does not count
    assert git_state(tmp_path / "pkg") == (head, False)
    assert git_state(tmp_path) == (head, True)
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert git_state(tmp_path / "pkg") == (head, True)
    outside = tmp_path.parent / f"{tmp_path.name}-norepo"
    outside.mkdir()
    if subprocess.run(["git", "-C", str(outside), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        assert git_state(outside) == (None, None)


def test_format_provenance():
    prov = {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True, "date": "2026-01-02T03:04:05+00:00",
            "torch": "2.13.0", "python": "3.11.7", "device": "cuda:0", "device_name": "NVIDIA H100", "threads": 1}
    assert format_provenance(prov) == (
        "commit 0123456789 with uncommitted changes to cogpe/, 2026-01-02, cuda:0 (NVIDIA H100, 1 thread), torch 2.13.0"
    )
    assert format_provenance({**prov, "commit": None, "dirty": None}).startswith("commit unknown, 2026-01-02")


# --- devices ------------------------------------------------------------------------------------------------


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="device='cuda' was asked for, but torch.cuda.is_available\\(\\) is False"):
        resolve_device("cuda")


@pytest.mark.parametrize("capability, supported, native", [((7, 5), True, False), ((8, 0), False, False),
                                                       ((8, 0), True, True), ((9, 0), True, True)])
def test_bf16_autocast_only_where_the_gpu_has_it(monkeypatch, capability, supported, native):
    """bf16 needs compute capability 8.0+ and torch's bf16 support (which counts the T4's emulation)."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: supported)
    assert runfiles.native_bf16(torch.device("cuda")) is native
    with warnings.catch_warnings():  # without a GPU torch warns that CUDA autocast is disabled
        warnings.simplefilter("ignore")
        assert runfiles.autocast(torch.device("cuda")).fast_dtype == (torch.bfloat16 if native else torch.float16)
    with runfiles.autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
