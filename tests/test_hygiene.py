"""Supply-chain hygiene: nothing is unpickled, dependencies have compatible ranges.

Notebook cleanliness is checked in ``tests/test_notebooks_meta.py`` and the workflows'
permissions and action pins in ``tests/test_workflows.py``; the Reproduce page's tally lists
those tests next to these. Run: pytest tests/test_hygiene.py -q
"""

from __future__ import annotations

import ast
import re
import sys

import pytest
from support import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

PACKAGE = REPO_ROOT / "lossdemo"
SOURCES = sorted(PACKAGE.rglob("*.py")) + sorted((REPO_ROOT / "benchmarks").rglob("*.py")) \
    + sorted((REPO_ROOT / "docs").rglob("*.py"))
UNPICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def unpickling_calls(source: str, filename: str) -> list[str]:
    """Each place in ``source`` that could unpickle a file: pickle-like imports, torch.load without
    ``weights_only=True``, np.load with ``allow_pickle=True``, pandas.read_pickle."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            problems += [f"{filename}:{node.lineno} imports {name}" for name in names
                         if name.split(".")[0] in UNPICKLING_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {keyword.arg: keyword.value for keyword in node.keywords}
        if name.endswith("torch.load") or name == "load" and "weights_only" in keywords:
            weights_only = keywords.get("weights_only")
            if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                problems.append(f"{filename}:{node.lineno} {name}(...) without weights_only=True")
        if name.endswith(("np.load", "numpy.load")):
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                problems.append(f"{filename}:{node.lineno} {name}(...) with allow_pickle")
        if name.endswith(("read_pickle", "torch.jit.load")):
            problems.append(f"{filename}:{node.lineno} {name}(...)")
    return problems


def test_the_package_never_unpickles():
    problems = [problem for path in SOURCES
                for problem in unpickling_calls(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))]
    assert problems == []


@pytest.mark.parametrize("snippet", [
    "import pickle",
    "from pickle import loads",
    "import torch\ntorch.load('x.pt')",
    "import torch\ntorch.load('x.pt', weights_only=False)",
    "import numpy as np\nnp.load('x.npy', allow_pickle=True)",
    "import pandas as pd\npd.read_pickle('x.pkl')",
])
def test_the_unpickling_check_catches(snippet):
    assert unpickling_calls(snippet, "example.py")


@pytest.mark.parametrize("snippet", [
    "import torch\ntorch.load('x.pt', map_location='cpu', weights_only=True)",
    "import numpy as np\nnp.load('x.npz', allow_pickle=False)",
    "import json\njson.load(open('x.json'))",
])
def test_the_unpickling_check_allows(snippet):
    assert unpickling_calls(snippet, "example.py") == []


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def test_dependencies_have_compatible_ranges():
    """A lower bound that is known to work and an upper bound below the next major release."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    unbounded = [requirement for requirement in requirements
                 if not (re.search(r">=\s*[\d.]+", requirement) and re.search(r"<\s*[\d.]+", requirement))]
    assert unbounded == [], "every dependency needs a range like 'name>=1.2,<2'"
    by_name = {_requirement_name(requirement): requirement for requirement in requirements}
    assert re.search(r"<\s*2(\.0)*(,|$|\s)", by_name["mkdocs"].replace(" ", "") + ","), by_name["mkdocs"]
    for runtime in ("torch", "torchvision", "numpy", "matplotlib", "mnist1d", "tqdm"):
        assert runtime in {_requirement_name(r) for r in project["dependencies"]}, f"{runtime} is a runtime dependency"
    assert project["requires-python"].replace(" ", "") == ">=3.10"
