"""The package's metadata agrees with itself: license, citation and version.

The license is declared once as an SPDX expression (PEP 639) with the license text shipped in
the wheel, and CITATION.cff repeats the version and the license for GitHub's "Cite this
repository" button; these tests keep the copies equal to pyproject.toml.

    pytest tests/test_packaging.py -q
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO_ROOT = Path(__file__).resolve().parents[1]
# An SPDX license expression: identifiers joined by AND / OR / WITH, optionally in parentheses.
SPDX_EXPRESSION = re.compile(r"^\(?[A-Za-z0-9.+-]+\)?(\s+(AND|OR|WITH)\s+\(?[A-Za-z0-9.+-]+\)?)*$")


def _project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _citation() -> dict:
    return yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_the_license_is_an_spdx_expression_with_its_file_shipped():
    project = _project()
    license_ = project["license"]
    assert isinstance(license_, str) and SPDX_EXPRESSION.match(license_), (
        f"license {license_!r} is invalid; allowed: an SPDX expression such as \"MIT\" (PEP 639)")
    assert project["license-files"], "license-files names the license text to ship in the wheel"
    for pattern in project["license-files"]:
        assert sorted(REPO_ROOT.glob(pattern)), f"license-files entry {pattern!r} matches no file"
    assert (REPO_ROOT / "LICENSE").read_text(encoding="utf-8").startswith(f"{license_} License")
    # PEP 639: a license classifier next to an SPDX expression is an error for build backends.
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_build_backend_understands_spdx_licenses():
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
    setuptools = next(requirement for requirement in requires if requirement.startswith("setuptools"))
    minimum = re.search(r">=\s*(\d+)", setuptools)
    assert minimum and int(minimum.group(1)) >= 77, f"{setuptools!r}: setuptools reads PEP 639 licenses from 77 on"


def test_the_citation_file_is_complete():
    citation = _citation()
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "repository-code"):
        assert citation.get(key), f"CITATION.cff needs {key!r}"
    assert all(author.get("name") or author.get("family-names") for author in citation["authors"])


def test_the_citation_repeats_the_version_and_license_of_pyproject():
    citation, project = _citation(), _project()
    assert str(citation["version"]) == project["version"], "update CITATION.cff's version with pyproject.toml's"
    assert citation["license"] == project["license"]
