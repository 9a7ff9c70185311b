"""cogpe.runfiles: a write that fails half way leaves the old file; checkpoints carry their format;
devices resolve with a clear error."""

from __future__ import annotations

import json

import pytest
import torch

from cogpe import runfiles
from cogpe.runfiles import (
    CHECKPOINT_FORMAT,
    atomic_write,
    load_checkpoint,
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


# --- devices ------------------------------------------------------------------------------------------------


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="device='cuda' was asked for, but torch.cuda.is_available\\(\\) is False"):
        resolve_device("cuda")


@pytest.mark.parametrize("capability, native", [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_bf16_autocast_only_where_the_gpu_has_it(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert runfiles.native_bf16(torch.device("cuda")) is native
    with runfiles.autocast(torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")
