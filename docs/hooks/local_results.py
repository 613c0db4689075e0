"""MkDocs hook: on a reader's machine, show the figures and tables their own reproduce drew.

``python -m lossdemo.reproduce`` draws a local run's files into ``docs/local/`` (git-ignored), never
into ``docs/generated/``, which holds the published site drawn from ``results/``. When a page
includes a generated file that also exists in ``docs/local/``, this hook swaps in the local one and
puts a note at the top of the page saying which files come from the reader's runs.

It does so under ``mkdocs serve`` only (or with ``LOSSDEMO_SHOW_LOCAL_RESULTS=1`` set): ``mkdocs
build`` and ``gh-deploy`` publish the site drawn from ``results/``, exactly as written, and leave
``docs/local/`` out of the built site even where it exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LOCAL_DIR = "local"
SHOW_LOCAL_ENV = "LOSSDEMO_SHOW_LOCAL_RESULTS"
_command: str | None = None  # the mkdocs command of this process ("serve", "build", "gh-deploy")
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


def on_startup(command, dirty):
    global _command
    _command = command


def shows_local_files() -> bool:
    """Whether this build may show a reader's own files: under ``mkdocs serve``, or when asked."""
    return _command == "serve" or os.environ.get(SHOW_LOCAL_ENV) == "1"


def on_files(files, config):
    """Leave ``docs/local/`` out of a site that does not show it (a published build)."""
    if shows_local_files():
        return files
    return type(files)([file for file in files if not file.src_uri.startswith(f"{LOCAL_DIR}/")])


def on_page_markdown(markdown, page, config, files):
    local_dir = Path(config["docs_dir"]) / LOCAL_DIR
    if not (shows_local_files() and local_dir.is_dir()):
        return markdown
    markdown, swapped = swap_in_local_files(markdown, local_dir)
    return local_note(swapped) + markdown if swapped else markdown
