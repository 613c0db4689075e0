"""docs/hooks/local_results.py shows a reader's own figures in place of the published ones.

A local reproduce draws into docs/local/ (tests/test_readme_promise.py checks that it never touches
docs/generated/); this hook makes `mkdocs serve` show those files, and says so on the page.
"""

from __future__ import annotations

import pytest
from mkdocs.structure.files import File, Files
from support import load_docs_hook

PAGE = """# A page

--8<-- "generated/compare_mnist1d_table.md"

![curves](../generated/compare_mnist1d.png) and ![shapes](../generated/loss_shapes_ce.png)

Again: ![curves](../generated/compare_mnist1d.png)
"""

hook = load_docs_hook("local_results")


@pytest.fixture(autouse=True)
def serving(monkeypatch):
    """Most tests are about `mkdocs serve`, where the hook shows local files; the last ones build."""
    monkeypatch.delenv(hook.SHOW_LOCAL_ENV, raising=False)
    hook.on_startup(command="serve", dirty=False)
    yield
    hook.on_startup(command=None, dirty=False)


def test_only_files_the_local_run_drew_are_swapped_in(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    for name in ("compare_mnist1d_table.md", "compare_mnist1d.png"):
        (local / name).write_text("x")
    text, swapped = hook.swap_in_local_files(PAGE, local)
    assert swapped == ["compare_mnist1d_table.md", "compare_mnist1d.png"]
    assert '--8<-- "local/compare_mnist1d_table.md"' in text
    assert text.count("](../local/compare_mnist1d.png)") == 2
    assert "](../generated/loss_shapes_ce.png)" in text, "a file the local run did not draw stays the published one"


def test_a_page_with_local_files_says_which_and_where_the_published_ones_are(tmp_path):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "compare_mnist1d.png").write_text("x")
    page = hook.on_page_markdown(PAGE, page=None, config={"docs_dir": str(tmp_path)}, files=None)
    assert page.startswith('!!! note "Drawn from your local runs"')
    assert "`compare_mnist1d.png`" in page and "docs/generated/" in page


def test_without_a_local_folder_pages_are_built_as_written(tmp_path):
    assert hook.on_page_markdown(PAGE, page=None, config={"docs_dir": str(tmp_path)}, files=None) == PAGE
    (tmp_path / "local").mkdir()  # present but empty: still nothing to swap, and no note
    assert hook.on_page_markdown(PAGE, page=None, config={"docs_dir": str(tmp_path)}, files=None) == PAGE


@pytest.mark.parametrize("command", ["build", "gh-deploy"])
def test_a_published_build_shows_results_only_even_where_local_files_exist(tmp_path, command, monkeypatch):
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "compare_mnist1d.png").write_text("x")
    hook.on_startup(command=command, dirty=False)
    assert hook.on_page_markdown(PAGE, page=None, config={"docs_dir": str(tmp_path)}, files=None) == PAGE
    site = str(tmp_path / "site")
    files = Files([File(name, str(tmp_path), site, False) for name in ("index.md", "local/compare_mnist1d.png",
                                                                        "generated/compare_mnist1d.png")])
    assert [file.src_uri for file in hook.on_files(files, config=None)] == ["index.md", "generated/compare_mnist1d.png"]
    monkeypatch.setenv(hook.SHOW_LOCAL_ENV, "1")  # the explicit switch
    assert hook.on_page_markdown(PAGE, page=None, config={"docs_dir": str(tmp_path)}, files=None) != PAGE
    assert len(hook.on_files(files, config=None)) == 3
