"""MkDocs hook: on a reader's machine, show the figures and tables their own reproduce drew.

``python -m lossdemo.reproduce`` draws a local run's files into ``docs/local/`` (git-ignored), never
into ``docs/generated/``, which holds the published site drawn from ``results/``. When a page
includes a generated file that also exists in ``docs/local/``, this hook swaps in the local one and
puts a note at the top of the page saying which files come from the reader's runs. Without
``docs/local/`` (a fresh clone, CI, the deployed site) pages are built exactly as written.
"""

from __future__ import annotations

import re
from pathlib import Path

LOCAL_DIR = "local"
# `--8<-- "generated/NAME"` snippet lines and `](generated/NAME)` / `](../generated/NAME)` links.
_REFERENCE = re.compile(r'(?P<lead>--8<-- "|\]\((?:\.\./)*)generated/(?P<name>[A-Za-z0-9_.\-]+)')


def swap_in_local_files(markdown: str, local_dir: Path) -> tuple[str, list[str]]:
    """``markdown`` with each generated file that ``local_dir`` also holds read from there instead;
    returns the new text and the names swapped, in order of first appearance."""
    swapped: list[str] = []

    def replace(match: re.Match) -> str:
        name = match["name"]
        if not (local_dir / name).is_file():
            return match[0]
        if name not in swapped:
            swapped.append(name)
        return f"{match['lead']}{LOCAL_DIR}/{name}"

    return _REFERENCE.sub(replace, markdown), swapped


def local_note(names: list[str]) -> str:
    """The admonition that tells the reader which files on the page are their own."""
    listed = ", ".join(f"`{name}`" for name in names)
    return (f'!!! note "Drawn from your local runs"\n'
            f"    {len(names)} file(s) on this page come from `docs/local/`, drawn by your own "
            f"`python -m lossdemo.reproduce` from the runs in its results directory: {listed}. "
            f"The published versions, drawn from `results/`, are in `docs/generated/`; "
            f"delete `docs/local/` to see them here again.\n\n")


def on_page_markdown(markdown, page, config, files):
    local_dir = Path(config["docs_dir"]) / LOCAL_DIR
    if not local_dir.is_dir():
        return markdown
    markdown, swapped = swap_in_local_files(markdown, local_dir)
    return local_note(swapped) + markdown if swapped else markdown
