"""The benchmark runner (benchmarks/run.py): a quick smoke run in-process, and the JSON it writes.

Only the structure is checked — never a timing: the machine is shared and timings are noise here.
"""

import contextlib
import importlib
import io
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))  # the runner is `python -m benchmarks.run` from the repository root
        yield importlib.import_module("benchmarks.run")


@pytest.fixture(scope="module")
def quick_run(bench, tmp_path_factory):
    """One quick run for the whole module: (returned document, output folder, printed text). With
    ``--no-compile``: inductor would compile item 5 for seconds; its compiled variants are tested below."""
    out, printed = tmp_path_factory.mktemp("bench"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        doc = bench.main(["--quick", "--no-compile", "--out", str(out)])
    return doc, out, printed.getvalue()


def test_quick_run_writes_the_json_it_returns(quick_run):
    doc, out, _ = quick_run
    (path,) = out.glob("*.json")
    assert path.name.startswith("cpu-") and path.name.endswith("-quick.json")
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(json.dumps(doc))


def test_provenance(quick_run):
    from cogpe.runfiles import PROVENANCE_KEYS, format_provenance

    doc, out, printed = quick_run
    prov = doc["provenance"]
    for key in ("date", "commit", "dirty", "torch", "diffusers", "python", "cpu_model", "cpu_cores",
                "threads", "device", "device_name", "quick", "rounds", "min_run_time_s",
                "load_average_start", "load_average_end"):
        assert key in prov, key
    assert list(prov)[:len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS)  # cogpe.runfiles.provenance's schema
    assert prov["device"] == "cpu" and prov["quick"] is True and prov["threads"] == prov["cpu_cores"] >= 1
    assert isinstance(prov["torch"], str) and isinstance(prov["cpu_model"], str)
    assert prov["device_name"] == prov["cpu_model"]
    (path,) = out.glob("*.json")
    assert path.name == f"cpu-{prov['date'][:10]}-quick.json"
    assert format_provenance(prov) in printed


def test_every_case_reports_its_ratios_against_their_goals(quick_run):
    results = quick_run[0]["results"]
    assert {r["item"] for r in results} == {1, 2, 3, 4, 5}
    assert {r["dtype"] for r in results if r["item"] == 1} == {"float32", "bfloat16"}
    for res in results:
        assert res["other_cpu_share"] is None or 0 <= res["other_cpu_share"] <= 1
        assert set(res["median_s"]) == set(res["times_s"]) and res["median_s"]
        assert all(len(ts) == 1 and ts[0] > 0 for ts in res["times_s"].values())  # one round in quick mode
        for r in res["ratios"]:
            if r["status"].startswith("skipped"):
                assert r["value"] is None
                continue
            assert r["status"] in ("PASS", "MISS", "info") and r["value"] > 0 and r["unit"] in ("x", "s", "GFLOP/s")
            assert (r["goal"] == "info") == (r["status"] == "info")
    labels = {r["ratio"] for res in results for r in res["ratios"]}
    assert {"apply_rope / clone", "diffusers / apply_rope", "diffusers / cogpe", "RotaryEmbedding3D time"} <= labels


def test_training_step_flops_against_matmul_and_diffusers(quick_run):
    (case,) = [r for r in quick_run[0]["results"] if r["item"] == 3]
    params = case["params"]
    assert params["step_flops"] > 0 and params["matmul_flops"] == 2 * math.prod(params["matmul_mkn"])
    ratios = {r["ratio"]: r for r in case["ratios"]}
    eff = ratios["FLOP/s: cogpe step / matmul"]
    assert eff["goal"] == ">= 0.5x" and eff["unit"] == "x"
    t = case["median_s"]  # one round: the ratio is exactly the FLOP/s quotient
    expected = (params["step_flops"] / t["cogpe step"]) / (params["matmul_flops"] / t["matmul"])
    assert eff["value"] == pytest.approx(expected)
    assert ratios["cogpe step GFLOP/s"]["value"] == pytest.approx(params["step_flops"] / 1e9 / t["cogpe step"])
    assert ratios["diffusers step / cogpe step"]["value"] == pytest.approx(t["diffusers step"] / t["cogpe step"])


def test_each_training_step_case_times_its_own_shapes(bench):
    """Every item-3 case of a full run builds the matmul its FLOPs are counted for and steps its own
    video size (the cases are built after the loop that makes them; nothing may leak from a later one)."""
    from benchmarks.cases import step_cases

    cases = step_cases("full", "cpu")
    assert len({tuple(c.params["matmul_mkn"]) for c in cases}) == len(cases) > 1
    for case in cases:
        variants = case.build()
        m, _, n = case.params["matmul_mkn"]
        assert variants["matmul"]().shape == (m, n)
        assert case.params["batch"] * math.prod(case.params["token_grid"]) == m


EAGER_ADAPTER_RATIOS = {"use_strategy / fed tables", "timestep schedule / fed tables"}
COMPILED_ADAPTER_RATIOS = {"compiled use_strategy / compiled fed tables",
                           "compiled timestep schedule / compiled fed tables"}


def check_adapter_ratios(case: dict, names) -> None:
    """Each ratio of ``names`` in item-5 record ``case`` is measured, goal <= 1.02, the quotient of its two times."""
    ratios = {r["ratio"]: r for r in case["ratios"]}
    t = case["median_s"]  # one round: each ratio is the quotient of the two times
    for name in names:
        ratio = ratios[name]
        assert ratio["goal"] == "<= 1.02x" and ratio["unit"] == "x" and ratio["status"] in ("PASS", "MISS")
        numerator, denominator = name.split(" / ")
        assert ratio["value"] == pytest.approx(t[numerator] / t[denominator])


def test_adapter_overhead_against_the_model_fed_its_tables(quick_run):
    """Item 5: use_strategy's forward (one strategy; a timestep schedule) over the unpatched model's fed the
    same tables — the hooks' overhead, goal <= 1.02 each (the variants are checked to compute the same);
    under --no-compile the compiled ratios are listed, skipped, saying so."""
    (case,) = [r for r in quick_run[0]["results"] if r["item"] == 5]
    assert set(case["median_s"]) == {"use_strategy", "timestep schedule", "fed tables"}
    ratios = {r["ratio"]: r for r in case["ratios"]}
    assert set(ratios) == EAGER_ADAPTER_RATIOS | COMPILED_ADAPTER_RATIOS
    check_adapter_ratios(case, EAGER_ADAPTER_RATIOS)
    for name in COMPILED_ADAPTER_RATIOS:
        assert ratios[name]["status"] == "skipped: --no-compile" and ratios[name]["value"] is None
        assert ratios[name]["goal"] == "<= 1.02x"
    assert case["params"]["grid"] == [2, 4, 6] and case["params"]["base_grid"] == [2, 2, 3]
    assert case["params"]["compile_backend"] is None
    assert "skipped: --no-compile" in quick_run[2]


def test_compiled_adapter_variants_are_built_beside_the_eager_ones(bench):
    """Item 5's compiled variants: each model through a torch.compile wrapper of its own, compiled (and its
    output checked) when the case is built, no graph made by later calls, its ratio next to the eager ones.
    Dynamo's ``eager`` backend (tracing, guards, graph breaks; no code generation) keeps this to seconds;
    ``--quick`` compiles with inductor. Fixed times stand in for timings (measuring is tested above)."""
    from benchmarks.cases import COMPILED_ADAPTER_VARIANTS, adapter_cases, compiled_graphs

    dynamo = pytest.importorskip("torch._dynamo")
    (case,) = adapter_cases("quick", "cpu", backend="eager")
    assert case.params["compile_backend"] == "eager" and not case.absent
    try:
        variants = case.build()
        graphs = compiled_graphs()
        for call in variants.values():
            call()
        assert compiled_graphs() == graphs
    finally:
        dynamo.reset()
    assert set(variants) == {"use_strategy", "timestep schedule", "fed tables", *COMPILED_ADAPTER_VARIANTS}
    times = {name: [1.0 + i / 100] for i, name in enumerate(variants)}
    record = {"ratios": [bench.ratio_record(ratio, times, case.absent) for ratio in case.ratios],
              "median_s": {name: ts[0] for name, ts in times.items()}}
    check_adapter_ratios(record, EAGER_ADAPTER_RATIOS | COMPILED_ADAPTER_RATIOS)
    assert [r["ratio"] for r in record["ratios"]][2:] == [
        "compiled use_strategy / compiled fed tables", "compiled timestep schedule / compiled fed tables"]


def test_a_compile_backend_must_exist(bench):
    from benchmarks.cases import adapter_cases

    with pytest.raises(ValueError, match="torch.compile backend"):
        adapter_cases("quick", "cpu", backend="no-such-backend")
    assert adapter_cases("quick", "cpu", compiled=False, backend="no-such-backend")  # not compiled: not read


def test_a_case_that_compiles_while_timed_is_refused(bench):
    """A variant compiling a new graph at every call (a new shape each time): its times include compiling."""
    from benchmarks.cases import Case, Ratio

    dynamo = pytest.importorskip("torch._dynamo")
    import torch

    sizes = iter(range(1, 10_000))
    double = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    case = Case(0, "recompiles", "float32", {}, lambda: {"f": lambda: double(torch.ones(next(sizes)))}, (Ratio("f"),))
    try:
        with pytest.raises(RuntimeError, match="while the variants were timed"):
            bench.measure_case(case, rounds=1, threads=1, min_run_time=0.001)
    finally:
        dynamo.reset()


def test_quick_wall_times_execute_the_first_notebook_only(quick_run):
    (record,) = [r for r in quick_run[0]["results"] if r["item"] == 4]
    assert record["case"] == "notebook 01_why_positions.ipynb"
    (ratio,) = record["ratios"]
    assert ratio["ratio"] == "wall time" and ratio["unit"] == "s" and ratio["status"] == "info" and ratio["value"] > 0


def test_seconds_are_printed_in_readable_units(bench):
    from cogpe.results.report import format_seconds

    assert [format_seconds(v) for v in (15e-6, 0.02, 75.0)] == ["15.0 µs", "20.0 ms", "75.0 s"]


def test_printed_table_has_goal_and_result_columns(quick_run):
    printed = quick_run[2]
    header = next(line for line in printed.splitlines() if line.startswith("item"))
    assert header.split() == ["item", "case", "dtype", "ratio", "value", "goal", "result", "other-cpu"]
    assert "apply_rope / clone" in printed and "<= 1.5x" in printed and ">= 4x" in printed


@pytest.mark.parametrize("argv", [["--items", "6"], ["--items", "x"], ["--rounds", "0", "--quick"], ["--threads", "0"]])
def test_bad_arguments_are_refused(bench, argv, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert "error" in capsys.readouterr().err
