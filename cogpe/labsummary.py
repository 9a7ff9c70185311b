"""The numbers of a :mod:`cogpe.lab` comparison: per-run metrics, mean ± std over seeds, paired
differences, and the claims they allow (chapter 7, section 7.4).

A run's metrics are its held-out losses right after the switch (``zero_shot_<probe>``: the first
evaluation of the last stage) and at the end (``final_<probe>``), and what :mod:`cogpe.analysis` measured
(``<name>_<when>_<probe>``: sample ratios ``tv`` and ``frame_diff``, attention ``entropy``, and YaRN's
``loss_no_temperature`` / ``entropy_no_temperature``). :func:`summarize` gives mean ± std over seeds per
strategy and metric; :func:`gap_exceeds_spread` and :func:`paired_difference` say when a difference is
larger than the seeds' spread; :func:`paired_claims` tests a chapter's whole family of claims over the
paired seeds (:func:`cogpe.stats.compare`: sign-flip tests, Holm's correction) and :func:`format_claims`
prints them; :func:`format_table` prints a summary.
"""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Sequence

from .stats import Claim, compare

__all__ = ["COLUMNS", "format_claims", "format_table", "gap_exceeds_spread", "metrics_of", "paired_claims",
           "paired_difference", "paired_values", "summarize"]


def metrics_of(run: dict) -> dict[str, float]:
    """``zero_shot_<probe>`` (first evaluation of the last stage) and ``final_<probe>`` (last evaluation)
    losses, and the analysis's numbers as ``<name>_<when>_<probe>`` (e.g. ``tv_final_zoom``,
    ``entropy_zero_shot_wide``, ``loss_no_temperature_zero_shot_zoom``)."""
    out = {f"{name}_{when}_{probe}": value
           for when, probes in run.get("analysis", {}).items() for probe, values in probes.items()
           for name, value in values.items() if not isinstance(value, list)}
    return {**_loss_metrics(run["eval"]), **out}


def _loss_metrics(evals: list[dict]) -> dict[str, float]:
    if not evals:
        return {}
    last_stage = max(r["stage"] for r in evals)
    first_step = min(r["step"] for r in evals if r["stage"] == last_stage)
    last_step = max(r["step"] for r in evals)
    out = {}
    for r in evals:
        if r["step"] == last_step:
            out[f"final_{r['probe']}"] = r["loss"]
        if last_stage > 1 and r["stage"] == last_stage and r["step"] == first_step and r["stage_step"] == 0:
            out[f"zero_shot_{r['probe']}"] = r["loss"]
    return out


def summarize(results: dict) -> dict:
    """Per strategy and metric: ``{"mean", "std", "values"}`` over seeds (``std`` with n−1; 0 for one seed)."""
    summary = {}
    for strategy, by_seed in results["runs"].items():
        per_metric: dict[str, list[float]] = {}
        for seed in sorted(by_seed, key=int):
            for metric, value in metrics_of(by_seed[seed]).items():
                per_metric.setdefault(metric, []).append(value)
        summary[strategy] = {
            m: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0, "values": v}
            for m, v in per_metric.items()
        }
    return summary


def gap_exceeds_spread(summary: dict, better: str, worse: str, metric: str) -> bool:
    """True when ``better`` has the lower mean ``metric`` and the gap exceeds the sum of both stds.

    >>> s = {"a": {"m": {"mean": 0.2, "std": 0.01}}, "b": {"m": {"mean": 0.4, "std": 0.05}}}
    >>> gap_exceeds_spread(s, "a", "b", "m"), gap_exceeds_spread(s, "b", "a", "m")
    (True, False)
    """
    for name in (better, worse):
        if name not in summary:
            raise KeyError(f"no results for {name!r}; have {', '.join(summary)}")
        if metric not in summary[name]:
            raise KeyError(f"{name!r} has no metric {metric!r}; have {', '.join(summary[name])}")
    a, b = summary[better][metric], summary[worse][metric]
    return b["mean"] - a["mean"] > a["std"] + b["std"]


def paired_difference(results: dict, a: str, b: str, metric: str) -> dict:
    """Per-seed ``metric(a) − metric(b)``: ``{"mean", "std", "values"}``.

    Strategies of one family share stage 1, training data and evaluation noise for a given seed, so
    their per-seed differences remove most of the seed-to-seed variation; a difference is consistent
    when every seed has the same sign and ``|mean| > std``.
    """
    values = []
    for name in (a, b):
        if name not in results["runs"]:
            raise KeyError(f"no results for {name!r}; have {', '.join(results['runs'])}")
    for seed in sorted(results["runs"][a], key=int):
        ma, mb = metrics_of(results["runs"][a][seed]), metrics_of(results["runs"][b][seed])
        if metric not in ma or metric not in mb:
            raise KeyError(f"metric {metric!r} is missing for seed {seed}; have {', '.join(ma)}")
        values.append(ma[metric] - mb[metric])
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values}


def paired_values(results: dict, a: str, b: str, metric: str) -> tuple[list[int], list[float], list[float]]:
    """``(seeds, values of a, values of b)``: ``metric`` of runs ``a`` and ``b`` for every seed both have
    where both are finite (a behaviour ratio is NaN where nothing could be measured), in seed order."""
    for name in (a, b):
        if name not in results["runs"]:
            raise KeyError(f"no results for {name!r}; have {', '.join(results['runs'])}")
    seeds, va, vb = [], [], []
    for seed in sorted(set(results["runs"][a]) & set(results["runs"][b]), key=int):
        ma, mb = metrics_of(results["runs"][a][seed]), metrics_of(results["runs"][b][seed])
        if metric not in ma or metric not in mb:
            raise KeyError(f"metric {metric!r} is missing for seed {seed}; have {', '.join(sorted(ma))}")
        if math.isfinite(ma[metric]) and math.isfinite(mb[metric]):
            seeds.append(int(seed))
            va.append(ma[metric])
            vb.append(mb[metric])
    return seeds, va, vb


def paired_claims(results: dict, claims: Mapping[str, Sequence[str]], *, alpha: float = 0.05,
                  level: float = 0.95) -> list[Claim]:
    """Test every claim ``name -> (a, b, metric, alternative)`` — "``metric`` of run ``a`` minus that of
    run ``b`` is below zero" for ``"less"`` — over the paired seeds (:func:`paired_values`), corrected
    together with Holm's method: the family a chapter asserts (:func:`cogpe.stats.compare`).

    >>> runs = {name: {str(i): {"eval": [], "analysis": {"final": {"zoom": {"fvd": v + i / 100}}}}
    ...                for i in range(8)} for name, v in (("a", 0.1), ("b", 0.3))}
    >>> [(c.name, c.n, round(c.mean, 2), c.holds) for c in paired_claims({"runs": runs},
    ...     {"a is closer": ("a", "b", "fvd_final_zoom", "less")})]
    [('a is closer', 8, -0.2, True)]
    """
    if not isinstance(claims, Mapping) or not claims:
        raise ValueError(f"claims must be a non-empty mapping name -> (a, b, metric, alternative), got {claims!r}")
    tests = {}
    for name, claim in claims.items():
        if isinstance(claim, str) or not isinstance(claim, Sequence) or len(claim) != 4:
            raise TypeError(f"claim {name!r} must be (a, b, metric, alternative), got {claim!r}")
        a, b, metric, alternative = claim
        _, va, vb = paired_values(results, a, b, metric)
        tests[name] = (va, vb, alternative)
    return compare(tests, alpha=alpha, level=level)


def format_claims(claims: Sequence[Claim], *, digits: int = 4) -> str:
    """A plain-text table of :func:`paired_claims`' results: mean difference, its interval, p before and
    after Holm's correction, and whether the claim holds."""
    header = ["claim", "n", "mean a-b", "interval", "p", "p (Holm)", "holds"]
    rows = [[c.name, str(c.n), f"{c.mean:+.{digits}f}",
             f"[{c.interval[0]:+.{digits}f}, {c.interval[1]:+.{digits}f}]", f"{c.p:.4f}", f"{c.p_holm:.4f}",
             "yes" if c.holds else "no"] for c in claims]
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


#: The losses :func:`format_table` shows by default: every probe right after the switch and at the end.
COLUMNS = (
    ("zero_shot_zoom", "zoom, zero-shot"),
    ("final_zoom", "zoom, end"),
    ("zero_shot_wide", "wide, zero-shot"),
    ("final_wide", "wide, end"),
    ("zero_shot_long", "long, zero-shot"),
    ("final_long", "long, end"),
    ("final_low", "low, end"),
)


def format_table(summary: dict, columns=COLUMNS, *, digits: int = 4) -> str:
    """A plain-text table of mean ± std per strategy (rows) and metric (columns, ``(key, title)`` pairs);
    the mean alone where one seed ran, '—' where absent."""
    header = ["strategy"] + [title for _, title in columns]
    lines = []
    for strategy, metrics in summary.items():
        cells = [strategy]
        for key, _ in columns:
            m = metrics.get(key)
            one = m is not None and len(m.get("values", ())) == 1  # one seed: no spread to show
            cells.append("—" if m is None else f"{m['mean']:.{digits}f}" if one
                         else f"{m['mean']:.{digits}f} ± {m['std']:.{digits}f}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header] + lines) for i in range(len(header))]
    fmt = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])
