"""The example notebooks are committed clean: no outputs, no local paths, no import hacks.

Outputs are produced where the notebooks run (the site build, ``pytest --nbmake``, Colab), so a
committed output is only a stale copy and a large diff. A local path in the JSON (a kernel's
working directory, an error trace) leaks a machine's layout and breaks on every other machine,
and ``sys.path`` edits would hide whether the *installed* package works, which is what a reader
runs. A measured number typed into a notebook's text goes stale as the hand-written pages'
would, so the text states results only through the notebook's own output; and an answer shown
right under its question teaches nothing, so answers sit in closed ``<details>`` boxes. These
checks read the JSON only; executing the notebooks is nbmake's job.

    pytest tests/test_notebooks_meta.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import NOTEBOOK_DIR
from test_site import hand_typed_numbers

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# Roots of local file systems on the machines these notebooks are written and run on.
LOCAL_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|tmp|root)(?![\w.-])")
TITLE = re.compile(r"^# \S")
# Worked values live in math ("$p_y = 0.9$", "$0.9^2 = 0.81$") and solutions in fenced code; a
# percentage is a measurement even in math.
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+\$", re.S)
FENCED_CODE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)
MATH_PERCENTAGE = re.compile(r"\d+(?:\.\d+)?\s*\\%")
DETAILS_OPENING = re.compile(r"<details\b[^>]*>")
ANSWER_BOX = re.compile(r"\A<details><summary>Show the (?:answer|solution)</summary>\n\n.*\n\n</details>\Z", re.S)
# A call of one of lossdemo.practice's checks: its answer must be in a closed box after it.
PRACTICE_CHECK = re.compile(r"^check(?:_\w+)?\(", re.M)


def _load(path: Path) -> dict:
    with path.open(encoding="utf-8") as file:
        return json.load(file)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def notebook_typed_numbers(markdown: str) -> list[str]:
    """The site's check (tests/test_site.py) on a Markdown cell, derivations in math and code allowed."""
    text = FENCED_CODE.sub(" ", markdown)
    in_math = [match.group(0) for span in MATH.findall(text) for match in MATH_PERCENTAGE.finditer(span)]
    return in_math + hand_typed_numbers(MATH.sub(" ", text))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_the_first_code_cell_installs_the_package_from_repo_url_only_where_it_is_missing(path):
    """Colab, Binder and a downloaded copy have no lossdemo; the repository's environment has."""
    import yaml

    class _Loader(yaml.SafeLoader):  # mkdocs.yml has !!python/name tags; only repo_url is read here
        pass

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    repo_url = yaml.load((NOTEBOOK_DIR.parents[1] / "mkdocs.yml").read_text(encoding="utf-8"), _Loader)["repo_url"]
    code = [_source(cell) for cell in _load(path)["cells"] if cell["cell_type"] == "code"]
    install = code[0]
    assert 'importlib.util.find_spec("lossdemo") is None' in install, "guarded: a no-op where lossdemo is installed"
    assert f'"git+{repo_url.rstrip("/")}"' in install, "the address mkdocs.yml names"
    namespace: dict = {}
    exec(compile(install, path.name, "exec"), namespace)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_measured_number_is_typed_into_a_notebooks_text(path: Path):
    offending = {cell.get("id", index): found for index, cell in enumerate(_load(path)["cells"])
                 if cell["cell_type"] == "markdown" and (found := notebook_typed_numbers(_source(cell)))}
    assert not offending, (f"{path.name} types numbers by hand: {offending}. State a measured result in a printed "
                           "sentence computed from the notebook's own output")


def test_the_notebook_number_check_catches_measurements_and_allows_derivations():
    found = notebook_typed_numbers("MAE reached an accuracy of 0.41 and CE 91.3 % here.")
    assert len(found) == 2 and "91.3 %" in found and any("0.41" in item for item in found), found
    assert notebook_typed_numbers("it keeps $0.1^2 = 1/100$ and scores $91.2\\%$") == ["91.2\\%"]
    assert notebook_typed_numbers("At $p_y = 0.9$, `label_noise=0.4`.\n```python\nx = 0.5\n```") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_answers_sit_in_closed_boxes(path: Path):
    for index, cell in enumerate(_load(path)["cells"]):
        source = _source(cell)
        openings = DETAILS_OPENING.findall(source)
        if cell["cell_type"] != "markdown" or not openings:
            continue
        where = f"{path.name} cell {index} ({cell.get('id', '?')})"
        assert openings == ["<details>"], f"{where}: {openings}; a box opens closed, with no attributes"
        assert ANSWER_BOX.match(source), (f"{where}: one box per cell, '<details><summary>Show the answer</summary>', "
                                          "a blank line, the answer, a blank line, '</details>'")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_practice_check_is_followed_by_its_hidden_answer_and_none_is_asserted(path: Path):
    """Before the next heading, a check's answer follows in a closed box; no assert states it."""
    cells = _load(path)["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code" or not PRACTICE_CHECK.search(_source(cell)):
            continue
        assert not re.search(r"^\s*assert\b", _source(cell), re.M), f"{path.name} cell {index}: an assert shows the answer"
        following = []
        for later in cells[index + 1:]:
            if later["cell_type"] == "markdown" and _source(later).startswith("#"):
                break
            following.append(later)
        assert any(later["cell_type"] == "markdown" and ANSWER_BOX.match(_source(later)) for later in following), (
            f"{path.name} cell {index} ({cell.get('id', '?')}): no closed answer box before the next heading")


def test_the_exercises_state_no_answer_in_their_code():
    """An assert in a practice notebook prints nothing when it holds: it only shows the answer in its source."""
    cells = _load(NOTEBOOK_DIR / "exercises.ipynb")["cells"]
    asserting = [cell.get("id") for cell in cells
                 if cell["cell_type"] == "code" and re.search(r"^\s*assert\b", _source(cell), re.M)]
    assert not asserting, f"exercises.ipynb: asserts in {asserting}; use a check from lossdemo.practice"
    assert sum(bool(PRACTICE_CHECK.search(_source(cell))) for cell in cells if cell["cell_type"] == "code") >= 10


@pytest.mark.slow
def test_every_notebook_runs_outside_the_repository_with_the_package_from_its_built_wheel(tmp_path):
    """What Colab or a downloaded copy does: lossdemo from a wheel, no source tree, no docs/ beside it."""
    import os
    import shutil
    import subprocess
    import sys

    repo = NOTEBOOK_DIR.parents[1]
    build_dir = repo / "build"  # setuptools builds in the tree; leave it as it was found
    had_build_dir = build_dir.exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path / "dist"), str(repo)], check=True, capture_output=True, timeout=300)
    finally:
        if not had_build_dir:
            shutil.rmtree(build_dir, ignore_errors=True)
    (wheel,) = (tmp_path / "dist").glob("lossdemo-*.whl")
    # The dependencies (torch, ...) come from this environment's site-packages, put on the path by a
    # .pth file (whose own .pth files, this checkout's editable install among them, are not read);
    # lossdemo itself only from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True, timeout=120)
    python = tmp_path / "env" / "bin" / "python"
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   capture_output=True, text=True, check=True).stdout.strip()
    import sysconfig

    Path(site_packages, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH="")
    where = subprocess.run([str(python), "-c", "import lossdemo; print(lossdemo.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "env")), f"lossdemo came from {where}, not the wheel"
    for path in NOTEBOOKS:
        code = [_source(cell) for cell in _load(path)["cells"] if cell["cell_type"] == "code"]
        script = "\n\n".join("\n".join(line for line in cell.splitlines() if not line.startswith("%")) for cell in code)
        (work / f"{path.stem}.py").write_text(script, encoding="utf-8")
        done = subprocess.run([str(python), f"{path.stem}.py"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{path.name}: {done.stderr[-2000:]}"
