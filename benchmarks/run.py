"""Run the benchmarks: ``python -m benchmarks.run [--quick] [--items 1,2,5] [--device cpu|cuda]``.

Each case's variants are timed with ``torch.utils.benchmark.Timer`` (median of its blocked
auto-range, threads = all cores), in a new order each round; a ratio is computed within each round,
from timings taken seconds apart, and the median over rounds is reported. The table prints every
ratio next to its goal (PASS / MISS; "info" without a goal; "skipped", saying why, where a variant is
absent); ``cogpe/results/benchmarks/<device>-<date>.json`` keeps every timing with its provenance:
:func:`cogpe.runfiles.provenance` (commit, whether ``cogpe/`` had uncommitted changes, date, torch,
device, threads) with the diffusers version, platform, CPU model and cores, the run's settings and the
load average.

``torch.compile`` variants (items 1 and 3 outside ``--quick``, item 5 always; ``--no-compile`` skips
them all) compile before they are timed; a case whose variants make a graph while they are timed (a
recompilation) is refused.

Item 4 (wall time of executing every notebook and of ``make book``) takes minutes per measurement, so
it is measured once, not in rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping

import torch
from torch.utils.benchmark import Timer

from benchmarks.cases import Case, Ratio, adapter_cases, apply_cases, compiled_graphs, step_cases, table_cases
from cogpe.results.report import table_lines
from cogpe.runfiles import device_name, format_provenance, provenance, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "cogpe" / "results" / "benchmarks"  # shipped with the package: chapter 8 reads them


# --- item 4: the notebooks and the book, timed once each ----------------------------------------------

NOTEBOOK_BUDGET_S = 15 * 60  # every notebook together
BOOK_BUDGET_S = 90  # `make book` from stored outputs, from a clean output folder


def notebooks(quick: bool) -> list[Path]:
    """The chapters, in order; with ``quick`` only the first (a smoke run)."""
    paths = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    return paths[:1] if quick else paths


def execute_notebook(path: Path, timeout: int = 1800) -> float:
    """Seconds to execute ``path`` top to bottom in a fresh ``python3`` kernel (outputs are not written)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def build_book(output: Path) -> float:
    """Seconds of ``jupyter-book build`` (as ``make book``: -W -n, stored outputs) into a fresh ``output``."""
    exe = Path(sys.executable).with_name("jupyter-book")
    command = [str(exe) if exe.exists() else "jupyter-book", "build", str(ROOT), "-W", "-n", "--keep-going",
               "--path-output", str(output)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the book build failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def wall_record(case: str, seconds: float, goal: float | None, notes: str = "") -> dict:
    """A one-measurement result in the format of :func:`measure_case` (one round, one time)."""
    ratio = Ratio(case, goal=None if goal is None else ("<=", goal), name="wall time")
    times = {case: [seconds]}
    return {"item": 4, "case": case, "dtype": "-", "params": {}, "notes": notes, "other_cpu_share": None,
            "median_s": {case: seconds}, "times_s": times, "ratios": [ratio_record(ratio, times)]}


def measure_wall_times(args) -> list[dict]:
    """Item 4: each notebook executed once, their total (goal: 15 min), and the book build (goal: 90 s).

    One measurement each (a run takes minutes), with the other processes' CPU share over all of them.
    ``--quick`` executes the first notebook only and skips the book.
    """
    monitor = OtherLoad()
    records, total = [], 0.0
    for path in notebooks(args.quick):
        print(f"[item 4] executing {path.name}", file=sys.stderr, flush=True)
        seconds = execute_notebook(path)
        total += seconds
        records.append(wall_record(f"notebook {path.name}", seconds, None))
    if not args.quick:
        records.append(wall_record("every notebook", total, NOTEBOOK_BUDGET_S, "the sum of the notebooks above"))
        print("[item 4] building the book", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            records.append(wall_record("make book", build_book(Path(tmp)), BOOK_BUDGET_S,
                                       "jupyter-book build -W -n from stored outputs into an empty folder"))
    share = monitor.share()
    for record in records:
        record["other_cpu_share"] = share
    return records


# --- measuring -----------------------------------------------------------------------------------


def time_variant(fn, threads: int, min_run_time: float) -> float:
    """Median seconds per call of ``fn()`` (Timer's blocked auto-range; synchronises accelerators)."""
    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def measure_case(case: Case, rounds: int, threads: int, min_run_time: float) -> dict:
    """Time every variant of ``case`` in ``rounds`` rounds; return its JSON record with the ratios.

    The variants are built and warmed up with torch using ``threads`` threads, as they are timed
    (compiled code guards on the thread count). RuntimeError if ``torch.compile`` makes a graph while
    the variants are timed: the times would include compiling.
    """
    with torch_threads(threads):
        variants = case.build()
        for fn in variants.values():
            fn()  # warm up: first-call allocations, lazy imports, torch.compile
    names = list(variants)
    times = {name: [] for name in names}
    monitor = OtherLoad()
    graphs = compiled_graphs()
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order every round
            times[name].append(time_variant(variants[name], threads, min_run_time))
    del variants
    made = compiled_graphs() - graphs
    if made:
        raise RuntimeError(f"item {case.item}, {case.name}: torch.compile made {made} graph(s) while the variants "
                           "were timed (a recompilation); the times include compiling")
    return {
        "item": case.item,
        "case": case.name,
        "dtype": case.dtype,
        "params": case.params,
        "notes": case.notes,
        "other_cpu_share": monitor.share(),
        "median_s": {name: statistics.median(ts) for name, ts in times.items()},
        "times_s": times,
        "ratios": [ratio_record(ratio, times, case.absent) for ratio in case.ratios],
    }


@contextlib.contextmanager
def torch_threads(threads: int):
    """torch using ``threads`` threads inside the block, as many as before after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class OtherLoad:
    """Share of the machine's CPU time that *other* processes used since creation (Linux; else None).

    From the busy time of all CPUs in ``/proc/stat`` minus the CPU time of this process and of its
    children that have finished (item 4's kernels and book build). With threads =
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
        own = os.times()  # this process and its finished children (notebook kernels, the book build)
        return (time.monotonic(), busy / os.sysconf("SC_CLK_TCK"),
                own.user + own.system + own.children_user + own.children_system)

    def share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        wall, busy, own = (e - s for e, s in zip(end, self.start))
        cores = os.cpu_count() or 1
        return round(min(1.0, max(0.0, (busy - own) / (wall * cores))), 3) if wall > 0 else None


def ratio_record(ratio, times: dict, absent: Mapping[str, str] | None = None) -> dict:
    """``ratio``'s JSON record from ``times`` (variant -> seconds per round); skipped, saying why (``absent``:
    variant -> the reason it was left out; else "no <variant>"), where a variant it needs was not timed."""
    missing = [n for n in (ratio.numerator, ratio.denominator) if n is not None and n not in times]
    record = {"ratio": ratio.label, "goal": ratio.goal_text()}
    if missing:
        why = dict.fromkeys((absent or {}).get(n, f"no {n}") for n in missing)
        return {**record, "value": None, "status": f"skipped: {', '.join(why)}"}
    rounds = len(next(iter(times.values())))
    per_round = [ratio.value(times, r) for r in range(rounds)]
    value = statistics.median(per_round)
    passes = ratio.passes(value)
    status = "info" if passes is None else ("PASS" if passes else "MISS")
    unit = {"s": "s", "x": "x", "rate": ratio.unit or "1/s"}[ratio.kind]
    return {**record, "value": value, "per_round": per_round, "status": status, "unit": unit}


# --- provenance ----------------------------------------------------------------------------------


def all_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def benchmark_provenance(args, threads: int) -> dict:
    """:func:`cogpe.runfiles.provenance` of a benchmark run, with the diffusers version, the machine and the
    run's settings (the load average at the end is added when the run is done)."""
    diffusers = None
    try:
        from importlib.metadata import version

        diffusers = version("diffusers")
    except Exception:  # not installed
        pass
    return provenance(
        args.device,
        threads=threads,
        diffusers=diffusers,
        platform=platform.platform(),
        cpu_model=device_name("cpu"),
        cpu_cores=all_cores(),
        quick=args.quick,
        rounds=args.rounds,
        min_run_time_s=args.min_run_time,
        load_average_start=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    )


# --- the report ----------------------------------------------------------------------------------


def output_path(args, prov: dict) -> Path:
    date = prov["date"][:10]
    threads = "" if args.threads == all_cores() else f"-threads{args.threads}"
    name = f"{args.device}-{date}{'-quick' if args.quick else ''}{threads}.json"
    return Path(args.out) / name


# --- the command ---------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes only, one short round (a smoke run)")
    parser.add_argument("--items", default="1,2,3,4,5", help="comma-separated items to run (default: 1,2,3,4,5)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case (default 5; 1 with --quick)")
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="seconds per Timer measurement (default 0.5; 0.01 with --quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: all cores; fewer leaves room for other processes on a shared machine)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants of items 1, 3 and 5")
    parser.add_argument("--out", default=str(RESULTS), help=f"folder for the JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.min_run_time is None:
        args.min_run_time = 0.01 if args.quick else 0.5
    try:
        args.items = sorted({int(i) for i in args.items.split(",") if i.strip()})
    except ValueError:
        parser.error(f"--items must be numbers from 1 to 5 separated by commas, got {args.items!r}")
    if not set(args.items) <= {1, 2, 3, 4, 5} or args.rounds < 1 or args.min_run_time <= 0:
        parser.error("--items takes 1 to 5; --rounds and --min-run-time must be positive")
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
    if 3 in args.items:
        cases += step_cases(mode, args.device, compiled=not (args.quick or args.no_compile))
    if 5 in args.items:
        cases += adapter_cases(mode, args.device, compiled=not args.no_compile)
    return cases


def measure(args) -> dict:
    """Every case of ``args`` with torch using ``args.threads`` threads: the JSON document."""
    with torch_threads(args.threads):
        prov = benchmark_provenance(args, args.threads)
        results = []
        for case in cases_for(args):
            print(f"[{len(results) + 1}] item {case.item}: {case.name} {case.dtype}", file=sys.stderr, flush=True)
            results.append(measure_case(case, args.rounds, args.threads, args.min_run_time))
    if 4 in args.items:
        results += measure_wall_times(args)  # the kernels and the build use their own threads
    prov["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"provenance": prov, "results": results}


def report(doc: dict, args) -> None:
    prov = doc["provenance"]
    print(f"\ncogpe benchmarks, median of {args.rounds} round(s), {prov['cpu_cores']} cores: {format_provenance(prov)}")
    if args.quick:
        print("quick: a smoke run of small shapes — the timings are too short to mean anything")
    print("other-cpu: share of the machine other processes used meanwhile; above a few % the timings are unreliable")
    print("\n".join(table_lines(doc["results"])))


def main(argv=None) -> dict:
    """Run, print the table, write the JSON; returns the JSON document."""
    args = parse_args(argv)
    doc = measure(args)
    report(doc, args)
    path = output_path(args, doc["provenance"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc)
    print(f"\nwritten: {path}")
    return doc


if __name__ == "__main__":
    main()
