"""Stored results the book discusses — the lab's comparisons and the benchmarks — shipped with the package.

A chapter reads its stored numbers from here rather than from a path next to the notebook, so that a
notebook opened on its own (Colab installs only the package) finds the same files as a clone of the
repository. Files are plain JSON (and ``.npz`` for sampled videos), each carrying its provenance:

- ``lab-quick.json`` / ``lab-quick.samples.npz`` — ``python -m cogpe.lab --preset quick --results cogpe/results/lab-quick.json``
  (the training rate of chapter 8 reads its provenance)
- ``lab-time.json`` / ``lab-time.samples.npz`` — ``python -m cogpe.lab --preset time --samples 16`` (10 seeds), with the
  Fréchet distance pooled over seeds 0–8 (:func:`cogpe.labpool.pooled_quality`, its own provenance)
- ``lab-space.json`` — ``python -m cogpe.lab --preset space --samples 0`` (10 seeds; losses and attention, no samples)
- ``lab-time.stage1-seed0.npz`` — the float32 state dict of seed 0's RoPE stage-1 model of that run (the
  weights its five RoPE runs branched from), for chapter 7's live check: the same ``--preset time`` run of
  seed 0 and the RoPE family with ``keep_checkpoints=True``, whose ``stage1.pt`` model it is
- ``zeroshot-space.json`` / ``zeroshot-space.samples.npz`` — ``python -m cogpe.zeroshot --preset space --quality``
  (10 seeds, run as two processes of one thread on disjoint seeds, then read back into one results file;
  the samples: seed 0's 32 per run and size, with as many data videos per probe; made before the base-size
  samples were measured once for all runs, so there every run after the first was measured from the uint8
  copy, which moves its ``low`` measurements by rounding only)
- ``zeroshot-space.seed0.npz`` — the float32 state dict of that run's seed-0 model, for chapter 7's live check
- ``zeroshot-space-sincos.json`` / ``zeroshot-space-sincos.samples.npz`` / ``zeroshot-space-sincos.seed0.npz`` —
  the same for ``--preset space-sincos`` (the additive table; 10 seeds run the same way, after the base-size
  samples were measured once for all runs)
- ``benchmarks/<device>-<date>[-threadsN].json`` — ``make bench`` (``python -m benchmarks.run``)

>>> "lab-quick.json" in available()
True
>>> load("lab-quick.json")["provenance"]["preset"]
'quick'
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["available", "load", "path"]

_SUFFIXES = (".json", ".npz")


def _root() -> Traversable:
    return resources.files(__name__)


def available() -> list[str]:
    """Names of the stored files, relative to this package (``"benchmarks/cpu-….json"`` for benchmarks)."""
    names = []
    for entry in _root().iterdir():
        if entry.is_file() and entry.name.endswith(_SUFFIXES):
            names.append(entry.name)
        elif entry.is_dir() and not entry.name.startswith(("_", ".")):
            names += [f"{entry.name}/{f.name}" for f in entry.iterdir() if f.name.endswith(_SUFFIXES)]
    return sorted(names)


def path(name: str) -> Path:
    """Filesystem path of the stored file ``name`` (see :func:`available`); a clear error if there is none."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a file name such as 'lab-quick.json', got {type(name).__name__}")
    have = available()
    if name not in have:
        raise FileNotFoundError(f"no stored result {name!r}; available: {', '.join(have) or 'none'}")
    return Path(str(_root().joinpath(*name.split("/"))))


def load(name: str) -> dict[str, Any]:
    """The stored JSON document ``name`` (e.g. ``"lab-quick.json"``)."""
    if not str(name).endswith(".json"):
        raise ValueError(f"load reads JSON documents, got {name!r}; use path() for other files")
    return json.loads(path(name).read_text(encoding="utf-8"))
