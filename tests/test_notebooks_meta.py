"""The example notebooks are committed clean: no outputs, no local paths, no import hacks.

Outputs are produced where the notebooks run (the site build, ``pytest --nbmake``, Colab), so a
committed output is only a stale copy and a large diff. A local path in the JSON (a kernel's
working directory, an error trace) leaks a machine's layout and breaks on every other machine,
and ``sys.path`` edits would hide whether the *installed* package works, which is what a reader
runs. These checks read the JSON only; executing the notebooks is nbmake's job.

    pytest tests/test_notebooks_meta.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import NOTEBOOK_DIR

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Roots of local file systems on the machines these notebooks are written and run on.
LOCAL_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root)(?![\w.-])")
TITLE = re.compile(r"^# \S")


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as file:
        return json.load(file)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def test_the_notebooks_exist():
    names = {path.name for path in NOTEBOOKS}
    assert {"quickstart.ipynb", "focal-from-scratch.ipynb", "bring-your-own-data.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_without_outputs(path: Path):
    dirty = [
        f"cell {index} ({cell.get('id', '?')})"
        for index, cell in enumerate(_load(path)["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not dirty, (f"{path.name}: outputs or execution counts in {dirty}; "
                       f"clear them with `jupyter nbconvert --clear-output --inplace {path.name}`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_local_paths(path: Path):
    text = path.read_text(encoding="utf-8")
    found = sorted({match.group(0) for match in LOCAL_PATH.finditer(text)})
    assert not found, f"{path.name}: local paths {found} in the notebook JSON (source or metadata)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_starts_with_a_markdown_title(path: Path):
    first = _load(path)["cells"][0]
    assert first["cell_type"] == "markdown" and TITLE.match(_source(first)), (
        f"{path.name}: the first cell must be Markdown starting with '# <title>'; the site uses it as the page title")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_imports_the_installed_package(path: Path):
    offending = [
        f"cell {index} ({cell.get('id', '?')})"
        for index, cell in enumerate(_load(path)["cells"])
        if re.search(r"\bsys\s*\.\s*path\b|\bPYTHONPATH\b", _source(cell))
    ]
    assert not offending, f"{path.name}: sys.path or PYTHONPATH manipulation in {offending}; import the installed package"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_runs_on_the_standard_kernel(path: Path):
    kernelspec = _load(path).get("metadata", {}).get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{path.name}: kernelspec name {kernelspec.get('name')!r}; allowed: 'python3'"
