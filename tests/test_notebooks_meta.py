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
