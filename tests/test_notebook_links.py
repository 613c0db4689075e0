"""docs/hooks/notebook_links.py fills notebook pages in from mkdocs.yml, without a site build.

The browser test in tests/test_site.py checks the finished pages; these check the hook's pieces
on small inputs, including the cases a build of the real notebooks never reaches (a link to a
missing page, an address that is not a GitHub repository).

    pytest tests/test_notebook_links.py -q
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from mkdocs.structure.files import File, Files
from support import load_docs_hook

REPO_URL = "https://github.com/someone/something"


hook = load_docs_hook("notebook_links")


def _site(tmp_path: Path, *sources: str) -> Files:
    return Files([File(source, str(tmp_path / "docs"), str(tmp_path / "site"), use_directory_urls=True)
                  for source in sources])


def test_the_repository_comes_from_a_github_url():
    assert hook.github_repository(REPO_URL) == "someone/something"
    assert hook.github_repository(REPO_URL + ".git/") == "someone/something"
    assert hook.colab_url(REPO_URL, "docs/notebooks/a.ipynb") == (
        "https://colab.research.google.com/github/someone/something/blob/main/docs/notebooks/a.ipynb")


@pytest.mark.parametrize("url", ["https://gitlab.com/someone/something", "https://github.com/someone"])
def test_an_address_that_is_not_a_github_repository_is_refused(url):
    with pytest.raises(ValueError, match=r"is invalid; allowed: https://github.com/<owner>/<name>"):
        hook.github_repository(url)


def test_binder_opens_the_notebook_in_jupyterlab_from_the_environment_in_binder():
    assert hook.binder_url(REPO_URL, "docs/notebooks/a.ipynb") == (
        "https://mybinder.org/v2/gh/someone/something/main?labpath=docs/notebooks/a.ipynb")
    bar = hook.notebook_links_html("a.ipynb", "https://colab/x", "https://binder/y")
    assert 'href="a.ipynb" download' in bar and 'href="https://colab/x"' in bar and 'href="https://binder/y"' in bar
    binder = Path(__file__).resolve().parents[1] / "binder"
    assert "torch" in (binder / "requirements.txt").read_text().split()
    assert 'pip install --no-cache-dir ".[docs]"' in (binder / "postBuild").read_text()
    assert (binder / "postBuild").stat().st_mode & 0o111, "repo2docker runs postBuild as a program"


def test_links_to_markdown_sources_become_page_urls(tmp_path):
    files = _site(tmp_path, "notebooks/quickstart.ipynb", "experiment.md", "claims/index.md")
    page = SimpleNamespace(file=files.get_file_from_path("notebooks/quickstart.ipynb"), url="notebooks/quickstart/")
    rendered = ('<a href="../experiment.md">a</a> <a href="../claims/index.md#spread">b</a> '
                '<a href="https://example.org/x.md">c</a> <a href="#top">d</a>')
    assert hook.link_pages(rendered, page, files) == (
        '<a href="../../experiment/">a</a> <a href="../../claims/#spread">b</a> '
        '<a href="https://example.org/x.md">c</a> <a href="#top">d</a>')


def test_a_link_to_a_missing_page_is_a_warning(tmp_path, caplog):
    files = _site(tmp_path, "notebooks/quickstart.ipynb")
    page = SimpleNamespace(file=files.get_file_from_path("notebooks/quickstart.ipynb"), url="notebooks/quickstart/")
    with caplog.at_level(logging.WARNING):
        assert hook.link_pages('<a href="../nowhere.md">x</a>', page, files) == '<a href="../nowhere.md">x</a>'
    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "nowhere.md" in caplog.text
