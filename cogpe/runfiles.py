"""What a run leaves on disk and where it runs (chapter 7): atomic files, checkpoints, metrics, devices.

Every file a run writes goes through :func:`atomic_write` — a temp file in the same directory, fsync,
``os.replace``, fsync of the directory — so a crash at any point leaves either the old file or the new
one, never half of one. On top of it:

- checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`): plain data and tensors, loaded with
  ``weights_only=True``;
- metrics (:func:`write_metrics`, :func:`read_metrics`): one row per training step or evaluation, as
  ``metrics.jsonl`` and ``metrics.csv`` (:data:`METRIC_COLUMNS`);
- JSON documents (:func:`write_json`): a training run's ``run.json``, the lab's results.

Devices: :func:`resolve_device` turns ``"auto"`` into CUDA when available, else the CPU;
:func:`autocast` is bf16 autocast on GPUs with native bf16 and float32 elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "METRIC_COLUMNS",
    "atomic_write",
    "autocast",
    "load_checkpoint",
    "native_bf16",
    "read_metrics",
    "resolve_device",
    "save_checkpoint",
    "write_json",
    "write_metrics",
]

#: Version of the checkpoint layout :func:`save_checkpoint` writes and :func:`load_checkpoint` accepts.
CHECKPOINT_FORMAT = 1
#: Columns of ``metrics.csv`` (``metrics.jsonl`` keeps every key of every row).
METRIC_COLUMNS = (
    "kind", "step", "stage", "stage_step", "strategy", "probe", "frames", "height", "width", "tokens",
    "batch", "lr", "loss", "grad_norm", "samples", "time",
)


# --- atomic files ------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, write) -> None:
    """Write ``path`` by calling ``write(f)`` on a binary file: a temp file in the same directory, fsync,
    then ``os.replace``.

    A crash (or an exception in ``write``) at any point leaves the previous ``path`` untouched, and no
    temp file behind unless the process itself dies.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(path, lambda f: f.write(b"hello"))
    >>> path.read_text()
    'hello'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def write_json(path, doc) -> None:
    """``doc`` as indented JSON (UTF-8, one space per level, a final newline), written atomically."""
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# --- checkpoints and metrics -------------------------------------------------------------------------------


def save_checkpoint(path, checkpoint: dict) -> None:
    """``{"format": CHECKPOINT_FORMAT, **checkpoint}`` with ``torch.save``, written atomically."""
    blob = {"format": CHECKPOINT_FORMAT, **checkpoint}
    atomic_write(path, lambda f: torch.save(blob, f))


def load_checkpoint(path) -> dict:
    """A checkpoint written by :func:`cogpe.train.train` (plain data and tensors; ``weights_only=True``).

    Keys: ``format``, ``config`` (:meth:`cogpe.trainconfig.TrainConfig.to_dict`), ``model``, ``optimizer``,
    ``step``, ``stage`` (0-based index of the stage to run next), ``stage_step``, ``samples``,
    ``elapsed``, ``metrics``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a cogpe.train checkpoint (format {CHECKPOINT_FORMAT})")
    return ckpt


def write_metrics(out_dir, rows: list[dict]) -> None:
    """``out_dir/metrics.jsonl`` (every row, every key) and ``out_dir/metrics.csv`` (:data:`METRIC_COLUMNS`)."""
    out = Path(out_dir)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    atomic_write(out / "metrics.jsonl", lambda f: f.write(text.encode()))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "metrics.csv", lambda f: f.write(buf.getvalue().encode()))


def read_metrics(out_dir) -> list[dict]:
    """The rows of ``out_dir/metrics.jsonl``, as :func:`write_metrics` wrote them."""
    with open(Path(out_dir) / "metrics.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --- devices -----------------------------------------------------------------------------------------------


def resolve_device(device) -> torch.device:
    """``"auto"`` or ``None``: CUDA if available, else the CPU; anything else as ``torch.device``, with a
    clear error when CUDA is asked for but missing.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch.cuda.is_available() is False; use 'cpu' or 'auto'")
    return device


def autocast(device: torch.device):
    """bf16 autocast on CUDA GPUs with native bf16 (compute capability 8.0+: A100, L4, H100, …); float32
    elsewhere — on the CPU (bit-exact resume) and on older GPUs such as the T4, where bf16 is emulated."""
    if device.type == "cuda" and native_bf16(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` computes in bf16 natively (compute capability 8.0 or newer)."""
    return torch.cuda.get_device_capability(device)[0] >= 8
