"""Reading a benchmark run (``make bench``): its ratios as table lines, and single values (chapter 8).

A run is the JSON document ``benchmarks.run`` writes: ``{"provenance": …, "results": [record, …]}``,
each record one case (``item``, ``case``, ``dtype``) with its ``ratios`` — each a dict with ``ratio``
(its name), ``value``, ``unit`` (``"x"``, ``"s"`` or another), ``goal`` and ``status`` (PASS, MISS,
info). The benchmark's printed report and chapter 8 both format them with this module.

>>> doc = {"results": [{"item": 1, "case": "apply_rope 5B (1, 48, 17550, 64)", "dtype": "float32",
...                     "ratios": [{"ratio": "apply_rope / clone", "value": 1.13, "unit": "x",
...                                 "goal": "<= 1.5x", "status": "PASS"}]}]}
>>> ratio_value(doc, 1, "5B", "float32", "apply_rope / clone")
1.13
>>> print(table_lines(doc["results"], compact=True)[0])
apply_rope 5B  float32  1.13x  apply_rope / clone  <= 1.5x  PASS
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

__all__ = ["format_seconds", "format_value", "ratio_value", "table_lines"]

Record = Mapping[str, Any]


def format_seconds(value: float) -> str:
    """``1.5e-05`` -> ``"15.0 µs"``, ``0.02`` -> ``"20.0 ms"``, ``75`` -> ``"75.0 s"``."""
    for unit, factor in (("s", 1.0), ("ms", 1e-3)):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {unit}"
    return f"{value / 1e-6:.1f} µs"


def format_value(ratio: Record) -> str:
    """A ratio's value with its unit: ``"1.13x"``, ``"9.6 µs"``, ``"81.6 GFLOP/s"``, or ``"—"`` if unmeasured."""
    value = ratio.get("value")
    if value is None:
        return "—"
    if ratio["unit"] == "s":
        return format_seconds(value)
    return f"{value:.2f}x" if ratio["unit"] == "x" else f"{value:.3g} {ratio['unit']}"


def ratio_value(doc: Record, item: int, case_part: str, dtype: str, name: str) -> float:
    """The value of ratio ``name`` in the one case of ``item`` whose name contains ``case_part``."""
    found = [
        q["value"]
        for r in doc["results"]
        if r["item"] == item and case_part in r["case"] and r["dtype"] == dtype
        for q in r["ratios"]
        if q["ratio"] == name
    ]
    if len(found) != 1:
        raise KeyError(f"{len(found)} ratios {name!r} in item {item}, case ~{case_part!r}, {dtype}; expected one")
    return found[0]


def _share(share: float | None) -> str:
    return "?" if share is None else f"{share:.0%}"


def table_lines(
    results: Iterable[Record], *, items: Sequence[int] | None = None, only: Sequence[str] | None = None,
    compact: bool = False,
) -> list[str]:
    """One aligned line per ratio of the records of ``items`` (all by default) named in ``only``.

    The full form (the benchmark's report) has a header and the columns item, case, dtype, ratio, value,
    goal, result and other processes' CPU share. ``compact=True`` (the book) drops the header, the item,
    the shapes in case names and the CPU share, and puts each value before its ratio's name.
    """
    rows: list[tuple[str, ...]] = [] if compact else [("item", "case", "dtype", "ratio", "value", "goal", "result", "other-cpu")]
    for res in results:
        if items is not None and res["item"] not in items:
            continue
        for q in res["ratios"]:
            if only is not None and q["ratio"] not in only:
                continue
            if compact:
                rows.append((res["case"].split(" (")[0], res["dtype"], format_value(q), q["ratio"], q["goal"], q["status"]))
            else:
                rows.append((str(res["item"]), res["case"], res["dtype"], q["ratio"], format_value(q), q["goal"],
                             q["status"], _share(res.get("other_cpu_share"))))
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return lines if compact else [lines[0], "-" * len(lines[0]), *lines[1:]]
