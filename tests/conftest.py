"""Shared fixtures and the test markers.

* ``slow`` — trains real runs, builds the site or starts the CLI in subprocesses (seconds each);
  ``pytest -m "not slow"`` runs every unit test of the package in well under a minute.
* ``browser`` — drives headless Chromium against the built site.

The shared helpers — the repository's paths, the one builder of fake stored runs, a tiny dataset,
the CLI in a subprocess — live in ``support.py``, which test files import by name, so each file
says where its helpers come from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Whole modules whose every test is end to end (subprocesses, the site build, real training).
SLOW_MODULES = {"test_reproduce_cli", "test_interrupts", "test_generated", "test_site"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = Path(str(item.fspath)).stem
        if module in SLOW_MODULES or item.fspath.ext == ".ipynb":
            item.add_marker(pytest.mark.slow)
