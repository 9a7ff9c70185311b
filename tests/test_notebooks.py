"""Every chapter notebook follows tests/notebook_conventions.py and is listed in the book.

The notebooks' outputs themselves are checked by nbval (``pytest --nbval``, configured in
pyproject.toml); these tests check what nbval does not: the set-up cell, the metadata Colab reads,
that the stored outputs come from one clean run, and that the table of contents and the notebooks agree. With no notebook yet, the per-notebook tests have nothing to check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from notebook_conventions import FIRST_CELL, NOTEBOOK_METADATA, REPOSITORY_URL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _toc_files() -> list[str]:
    return re.findall(r"^\s*-?\s*(?:file|root):\s*(\S+)", (ROOT / "_toc.yml").read_text(), flags=re.M)


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request) -> tuple[Path, dict]:
    return request.param, _load(request.param)


def test_notebook_names_are_chapters(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), (
        f"{path.name}: chapter notebooks are named NN_topic.ipynb (e.g. 03_rope.ipynb); scratch or "
        "template notebooks do not belong in notebooks/, where pytest --nbval collects them"
    )


def test_first_code_cell_is_the_setup_cell(notebook):
    path, nb = notebook
    cells = _code_cells(nb)
    assert cells, f"{path.name} has no code cell"
    got = _source(cells[0]).rstrip()
    assert got == FIRST_CELL, (
        f"{path.name}: the first code cell must be tests/notebook_conventions.py FIRST_CELL verbatim "
        f"(installs cogpe only when missing, keeps Colab's torch, sets DEVICE).\n--- got ---\n{got}"
    )


def test_colab_and_kernel_metadata(notebook):
    path, nb = notebook
    meta = nb.get("metadata", {})
    assert meta.get("accelerator") == NOTEBOOK_METADATA["accelerator"], (
        f'{path.name}: metadata needs "accelerator": "GPU" so that Colab opens a GPU runtime'
    )
    assert "gpuType" in meta.get("colab", {}), f'{path.name}: metadata needs "colab": {{"gpuType": "T4", ...}}'
    kernel = meta.get("kernelspec", {})
    assert (kernel.get("name"), kernel.get("language")) == ("python3", "python"), (
        f"{path.name}: kernelspec must be python3 / python, got {kernel}"
    )


def test_outputs_come_from_one_clean_run(notebook):
    path, nb = notebook
    counts = [c.get("execution_count") for c in _code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: code cells must be executed once, top to bottom, in a fresh kernel "
        f"(execution counts 1..{len(counts)}), got {counts}. Restart & Run All, then save."
    )
    for i, cell in enumerate(_code_cells(nb), start=1):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{path.name}, code cell {i}: stored output is an error: {errors[0].get('ename')}"


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(_toc_files())
    missing = [p.name for p in NOTEBOOKS if f"notebooks/{p.stem}" not in listed]
    assert not missing, f"add these notebooks to _toc.yml (part 'Chapters'): {missing}"


def test_every_toc_entry_exists():
    absent = [f for f in _toc_files() if not any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb"))]
    assert not absent, f"_toc.yml lists files that do not exist: {absent}"


def test_setup_cell_installs_from_the_book_repository():
    config = (ROOT / "_config.yml").read_text()
    url = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", config, flags=re.M)
    assert url and url.group(1) == REPOSITORY_URL, "_config.yml repository.url and REPOSITORY_URL differ"
    assert f"git+{REPOSITORY_URL}@" in FIRST_CELL


def test_every_chapter_ends_with_exercises_whose_solutions_check_themselves(notebook):
    """An "## Exercises" section with at least two solutions, each a collapsed (``hide-cell``) code cell
    that asserts its answer — nbval runs them like every other cell."""
    path, nb = notebook
    headings = [i for i, c in enumerate(nb["cells"])
                if c["cell_type"] == "markdown" and _source(c).lstrip().startswith("## Exercises")]
    assert len(headings) == 1, f"{path.name}: expected one '## Exercises' section"
    solutions = [c for c in nb["cells"][headings[0]:] if c["cell_type"] == "code"]
    assert len(solutions) >= 2, f"{path.name}: fewer than two solutions"
    for cell in solutions:
        assert "hide-cell" in cell.get("metadata", {}).get("tags", []), f"{path.name}: a solution is not collapsed"
        assert "assert" in _source(cell), f"{path.name}: a solution does not check its answer"
