"""cogpe.results: the stored results ship with the package and carry their provenance."""

import pytest

from cogpe import results as stored
from cogpe.lab import load_samples


def test_lab_results_are_stored_with_provenance():
    for name in ("lab-quick.json", "lab-cpu-long.json"):
        prov = stored.load(name)["provenance"]
        assert prov["commit"] and prov["wall_seconds"] > 0 and prov["torch"]
    quick = stored.load("lab-quick.json")
    assert not quick["provenance"]["commit"].endswith("+dirty")
    samples = load_samples(stored.path("lab-quick.samples.npz"))
    assert set(samples) >= {f"{s}/final" for s in quick["samples"]["strategies"]}


def test_benchmark_results_are_listed():
    names = [n for n in stored.available() if n.startswith("benchmarks/")]
    assert names and all(n.endswith(".json") for n in names)
    assert "provenance" in stored.load(names[0])


def test_packaged_with_the_wheel():
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "cogpe.results" in config["tool"]["setuptools"]["packages"]
    globs = config["tool"]["setuptools"]["package-data"]["cogpe.results"]
    assert {"*.json", "*.npz", "benchmarks/*.json"} <= set(globs)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: stored.path("lab-medium.json"), FileNotFoundError, r"no stored result 'lab-medium.json'; available: .*lab-quick.json"),
        (lambda: stored.path(3), TypeError, "name must be a file name"),
        (lambda: stored.load("lab-quick.samples.npz"), ValueError, "load reads JSON documents"),
    ],
)
def test_bad_names(call, error, match):
    with pytest.raises(error, match=match):
        call()
