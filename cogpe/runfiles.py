"""What a run leaves on disk and where it runs (chapter 7): atomic files, checkpoints, metrics, provenance.

Every file a run writes goes through :func:`atomic_write` — a temp file in the same directory, fsync,
``os.replace``, fsync of the directory — so a crash at any point leaves either the old file or the new
one, never half of one. On top of it:

- checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`): plain data and tensors, loaded with
  ``weights_only=True``;
- metrics (:func:`write_metrics`, :func:`read_metrics`): one row per training step or evaluation, as
  ``metrics.jsonl`` and ``metrics.csv`` (:data:`METRIC_COLUMNS`);
- JSON documents (:func:`write_json`): a training run's ``run.json``, the lab's results, the benchmarks.

**Provenance.** Every JSON document a run or a measurement writes carries a ``"provenance"`` block made
by :func:`provenance`, with the keys :data:`PROVENANCE_KEYS` first, then the caller's own (preset, seeds,
wall time, world size, …):

- ``commit``: the 40-hex ``HEAD`` of the git repository holding this package, or ``None`` (no git, or
  an installed copy outside a repository);
- ``dirty``: whether the package's own files (tracked files under ``cogpe/``) differ from ``commit``;
  ``None`` when ``commit`` is. Edits elsewhere in the tree — notebooks, tests, benchmarks — do not change
  what a run computes, so they do not count;
- ``date``: UTC, ISO 8601 to the second (``2026-11-24T20:19:09+00:00``);
- ``torch``, ``python``: versions; ``device`` (``"cpu"``, ``"cuda:0"``), ``device_name`` (the GPU's name,
  or the CPU model), ``threads`` (torch's intra-op threads).

:func:`format_provenance` prints it as one line, the same way wherever it is shown.

Devices: :func:`resolve_device` turns ``"auto"`` into CUDA when available, else the CPU;
:func:`autocast` is the autocast of :func:`cogpe.precision.choose_precision` — bf16 on GPUs with fast
bf16, fp16 on older GPUs, float32 on the CPU.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from .precision import choose_precision, fast_bf16

__all__ = [
    "CHECKPOINT_FORMAT",
    "METRIC_COLUMNS",
    "PROVENANCE_KEYS",
    "atomic_write",
    "autocast",
    "device_name",
    "format_provenance",
    "git_state",
    "load_checkpoint",
    "native_bf16",
    "provenance",
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
#: The keys every provenance block starts with, in this order (module docstring).
PROVENANCE_KEYS = ("commit", "dirty", "date", "torch", "python", "device", "device_name", "threads")
_PACKAGE = Path(__file__).resolve().parent


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
    ``scaler`` (the :class:`torch.amp.GradScaler`'s state; ``{}`` when the run needs none, absent in
    older checkpoints), ``step``, ``stage`` (0-based index of the stage to run next), ``stage_step``,
    ``samples``, ``elapsed``, ``metrics``.
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
    """The autocast context of :func:`cogpe.precision.choose_precision` on ``device``: bf16 on CUDA GPUs
    with fast bf16 (compute capability 8.0+: A100, L4, H100, …), fp16 on older ones such as the T4 (where
    bf16 is emulated), and float32 on the CPU (autocast off: bit-exact results and resume)."""
    return choose_precision(device).autocast()


def native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` computes in bf16 at full speed (:func:`cogpe.precision.fast_bf16`)."""
    return fast_bf16(device)


def device_name(device) -> str:
    """The GPU's name for a CUDA ``device``; otherwise the CPU model (``/proc/cpuinfo``, else the platform's)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --- provenance --------------------------------------------------------------------------------------------


def git_state(path=None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git repository holding ``path`` (default: this package's folder).

    ``commit`` is ``HEAD`` (40 hex digits); ``dirty`` says whether tracked files under ``path`` differ
    from it (untracked files and edits elsewhere in the tree do not count), ``None`` if git cannot tell.
    ``(None, None)`` outside a repository or without git.
    """
    here = Path(_PACKAGE if path is None else path).resolve()
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), (bool(status.stdout.strip()) if status.returncode == 0 else None)


def provenance(device, *, threads: int | None = None, **extra) -> dict:
    """The provenance block of a result (module docstring): :data:`PROVENANCE_KEYS`, then ``extra``.

    ``device``: where the result was computed (``torch.device`` or a name such as ``"cpu"``);
    ``threads``: torch's intra-op threads (default: the current number). ``extra`` may not reuse a key of
    :data:`PROVENANCE_KEYS`.

    >>> p = provenance("cpu", preset="tiny")
    >>> list(p) == [*PROVENANCE_KEYS, "preset"], p["device"], p["date"].endswith("+00:00")
    (True, 'cpu', True)
    """
    clash = [k for k in extra if k in PROVENANCE_KEYS]
    if clash:
        raise ValueError(f"provenance() sets {', '.join(clash)} itself; pass the caller's own keys only")
    device = torch.device(device)
    commit, dirty = git_state()
    return {
        "commit": commit,
        "dirty": dirty,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads() if threads is None else threads,
        **extra,
    }


def format_provenance(prov: dict) -> str:
    """One line naming what produced a result: commit (and whether ``cogpe/`` had edits), date, device,
    threads, torch.

    >>> format_provenance({"commit": "5479b1f4670974462d55903149476cc420291216", "dirty": False,
    ...                    "date": "2026-11-24T20:19:09+00:00", "torch": "2.13.0+cpu", "python": "3.11.7",
    ...                    "device": "cpu", "device_name": "x86_64", "threads": 2})
    'commit 5479b1f467, 2026-11-24, cpu (x86_64, 2 threads), torch 2.13.0+cpu'
    """
    commit = prov.get("commit")
    if commit is None:
        source = "commit unknown"
    else:
        source = f"commit {commit[:10]}" + (" with uncommitted changes to cogpe/" if prov.get("dirty") else "")
    threads = prov["threads"]
    return (f"{source}, {prov['date'][:10]}, {prov['device']} ({prov['device_name']}, {threads} "
            f"thread{'s' if threads != 1 else ''}), torch {prov['torch']}")
