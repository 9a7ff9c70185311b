"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--items 1,2] [--device cpu|cuda]``.

Each case's variants are timed with ``torch.utils.benchmark.Timer`` (median of its blocked
auto-range, threads = all cores), in a new order each round; a ratio is computed within each round,
from timings taken seconds apart, and the median over rounds is reported. The table prints every
ratio next to its goal (PASS / MISS; "info" without a goal); ``benchmarks/results/<device>-<date>.json``
keeps every timing with its provenance (commit, torch version, CPU model, threads, device, load).

Items 3 (training-step FLOP/s of the tiny model) and 4 (wall time of the notebooks and ``make book``)
are hooks marked TODO below: they report "todo", never a number.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

from benchmarks.cases import Case, apply_cases, table_cases

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


# --- items 3 and 4: hooks, not yet measured -------------------------------------------------------


def item3_training_flops(args) -> dict:
    """TODO(item 3): achieved FLOP/s of one training step of the tiny model / FLOP/s of a plain matmul.

    Not measured yet: the tiny model and its trainer are still being built. When they are, time a
    step of ``cogpe.train`` at the quick preset, count its FLOPs, and divide by the FLOP/s of a
    float32 matmul of comparable size timed in the same round.
    """
    return {"status": "todo", "what": "training-step FLOP/s of the tiny model / FLOP/s of a plain matmul"}


def item4_book_wall_time(args) -> dict:
    """TODO(item 4): wall time of executing every notebook and of ``make book``.

    Not measured yet: the chapters are still being written. When they are, time
    ``jupyter nbconvert --execute`` per notebook and ``make book`` from a clean ``_build``.
    """
    return {"status": "todo", "what": "wall time of executing every notebook and of `make book`"}


HOOKS = {3: item3_training_flops, 4: item4_book_wall_time}


# --- measuring -----------------------------------------------------------------------------------


def time_variant(fn, threads: int, min_run_time: float) -> float:
    """Median seconds per call of ``fn()`` (Timer's blocked auto-range; synchronises accelerators)."""
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def measure_case(case: Case, rounds: int, threads: int, min_run_time: float) -> dict:
    """Time every variant of ``case`` in ``rounds`` rounds; return its JSON record with the ratios."""
    variants = case.build()
    for fn in variants.values():
        fn()  # warm up: first-call allocations, lazy imports, torch.compile
    names = list(variants)
    times = {name: [] for name in names}
    monitor = OtherLoad()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order every round
            times[name].append(time_variant(variants[name], threads, min_run_time))
    del variants
    return {
        "item": case.item,
        "case": case.name,
        "dtype": case.dtype,
        "params": case.params,
        "notes": case.notes,
        "other_cpu_share": monitor.share(),
        "median_s": {name: statistics.median(ts) for name, ts in times.items()},
        "times_s": times,
        "ratios": [ratio_record(ratio, times) for ratio in case.ratios],
    }


class OtherLoad:
    """Share of the machine's CPU time that *other* processes used since creation (Linux; else None).

    From the busy time of all CPUs in ``/proc/stat`` minus this process's own CPU time. With threads =
    all cores, any other load makes threads wait for each other and timings jump by scheduler ticks.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]  # clock ticks
        busy = user + nice + system + irq + softirq + steal
        own = os.times()
        return time.monotonic(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system

    def share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        wall, busy, own = (e - s for e, s in zip(end, self.start))
        cores = os.cpu_count() or 1
        return round(min(1.0, max(0.0, (busy - own) / (wall * cores))), 3) if wall > 0 else None


def ratio_record(ratio, times: dict) -> dict:
    missing = [n for n in (ratio.numerator, ratio.denominator) if n is not None and n not in times]
    record = {"ratio": ratio.label, "goal": ratio.goal_text()}
    if missing:
        return {**record, "value": None, "status": f"skipped: no {', '.join(missing)}"}
    num = times[ratio.numerator]
    per_round = num if ratio.denominator is None else [a / b for a, b in zip(num, times[ratio.denominator])]
    value = statistics.median(per_round)
    passes = ratio.passes(value)
    status = "info" if passes is None else ("PASS" if passes else "MISS")
    return {**record, "value": value, "per_round": per_round, "status": status,
            "unit": "s" if ratio.denominator is None else "x"}


# --- provenance ----------------------------------------------------------------------------------


def git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def all_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else cpu_model()


def provenance(args, threads: int) -> dict:
    status = git("status", "--porcelain")
    diffusers = None
    try:
        from importlib.metadata import version

        diffusers = version("diffusers")
    except Exception:  # not installed
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "torch": torch.__version__,
        "diffusers": diffusers,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": all_cores(),
        "threads": threads,
        "device": args.device,
        "device_name": device_name(args.device),
        "quick": args.quick,
        "rounds": args.rounds,
        "min_run_time_s": args.min_run_time,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# --- the report ----------------------------------------------------------------------------------


def format_value(record: dict) -> str:
    value = record.get("value")
    if value is None:
        return "—"
    return f"{value * 1e6:.1f} µs" if record["unit"] == "s" else f"{value:.2f}x"


def format_share(share) -> str:
    return "?" if share is None else f"{share:.0%}"


def table_lines(results: list[dict]) -> list[str]:
    """One line per ratio: item, case, dtype, ratio, value, goal, PASS / MISS / info, other processes' CPU share."""
    rows = [("item", "case", "dtype", "ratio", "value", "goal", "result", "other-cpu")]
    for res in results:
        for r in res["ratios"]:
            rows.append((str(res["item"]), res["case"], res["dtype"], r["ratio"], format_value(r), r["goal"],
                         r["status"], format_share(res.get("other_cpu_share"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def output_path(args, prov: dict) -> Path:
    date = prov["date_utc"][:10]
    threads = "" if args.threads == all_cores() else f"-threads{args.threads}"
    name = f"{args.device}-{date}{'-quick' if args.quick else ''}{threads}.json"
    return Path(args.out) / name


# --- the command ---------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes only, one short round (a smoke run)")
    parser.add_argument("--items", default="1,2,3,4", help="comma-separated items to run (default: 1,2,3,4)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 5; 1 with --quick)")
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="seconds per Timer measurement (default 0.5; 0.01 with --quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores; fewer leaves room for other processes on a shared machine)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant of item 1")
    parser.add_argument("--out", default=str(RESULTS), help=f"folder for the JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.min_run_time is None:
        args.min_run_time = 0.01 if args.quick else 0.5
    try:
        args.items = sorted({int(i) for i in args.items.split(",") if i.strip()})
    except ValueError:
        parser.error(f"--items must be numbers from 1 to 4 separated by commas, got {args.items!r}")
    if not set(args.items) <= {1, 2, 3, 4} or args.rounds < 1 or args.min_run_time <= 0:
        parser.error("--items takes 1 to 4; --rounds and --min-run-time must be positive")
    if args.threads is None:
        args.threads = all_cores()
    elif args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    return args


def cases_for(args) -> list[Case]:
    mode = "quick" if args.quick else "full"
    cases = []
    if 1 in args.items:
        compiled = not (args.quick or args.no_compile)
        cases += apply_cases(mode, (torch.float32, torch.bfloat16), args.device, compiled=compiled)
    if 2 in args.items:
        cases += table_cases(mode, args.device)
    return cases


def measure(args) -> dict:
    """Every case of ``args`` with torch using ``args.threads`` threads: the JSON document."""
    previous = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        prov = provenance(args, args.threads)
        results = []
        for case in cases_for(args):
            print(f"[{len(results) + 1}] item {case.item}: {case.name} {case.dtype}", file=sys.stderr, flush=True)
            results.append(measure_case(case, args.rounds, args.threads, args.min_run_time))
    finally:
        torch.set_num_threads(previous)
    prov["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"provenance": prov, "results": results, "hooks": {str(i): HOOKS[i](args) for i in args.items if i in HOOKS}}


def report(doc: dict, args) -> None:
    prov = doc["provenance"]
    print(f"\ncogpe benchmarks on {prov['device_name']} (threads: {prov['threads']} of {prov['cpu_cores']} cores), torch {prov['torch']}, "
          f"median of {args.rounds} round(s)")
    if args.quick:
        print("quick: a smoke run of small shapes — the timings are too short to mean anything")
    print("other-cpu: share of the machine other processes used meanwhile; above a few % the timings are unreliable")
    print("\n".join(table_lines(doc["results"])))
    for item, hook in doc["hooks"].items():
        print(f"item {item}: TODO — {hook['what']} (not measured yet)")


def main(argv=None) -> dict:
    """Run, print the table, write the JSON; returns the JSON document."""
    args = parse_args(argv)
    doc = measure(args)
    report(doc, args)
    path = output_path(args, doc["provenance"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten: {path}")
    return doc


if __name__ == "__main__":
    main()
