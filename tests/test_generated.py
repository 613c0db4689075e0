"""The site's generated files must be exactly what the committed results produce.

Redraws everything from ``results/`` into a temporary directory with ``--plots-only`` and compares:
every generated Markdown file byte for byte, and the manifest's per-file fingerprints of the runs
each figure was drawn from. A figure or table older than its results (results re-published, files
not regenerated) fails here, as does a hand edit of a generated file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import GENERATED_DIR, PUBLISHED_DIR, REPO_ROOT

from lossdemo.experiments import EXPERIMENTS
from lossdemo.report.site_files import README_TABLE_END, README_TABLE_START
from lossdemo.reproduce import plan_for_flags

# Written by benchmarks/ and tests/hardening_cases.py, not by reproduce; each has its own freshness check.
NOT_FROM_RESULTS = {"benchmarks.md", "hardening.md"}  # hardening.md: by tests/hardening_cases.py

pytestmark = pytest.mark.skipif(not (PUBLISHED_DIR / "runs").is_dir(), reason="no committed results in results/runs")


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    command = [sys.executable, "-m", "lossdemo.reproduce", "--full", "--plots-only", "--no-progress",
               "--results-dir", str(PUBLISHED_DIR), "--published-dir", str(PUBLISHED_DIR),
               "--figures-dir", str(out), "--experiments", *EXPERIMENTS]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return out


def test_every_generated_markdown_file_matches_the_committed_results(redrawn):
    committed = {p.name for p in GENERATED_DIR.glob("*.md")} - NOT_FROM_RESULTS
    fresh = {p.name for p in redrawn.glob("*.md")}
    assert committed == fresh, f"only committed: {sorted(committed - fresh)}; only redrawn: {sorted(fresh - committed)}"
    stale = [name for name in sorted(fresh) if (GENERATED_DIR / name).read_text() != (redrawn / name).read_text()]
    assert not stale, f"generated files differ from what results/ produces (rerun --plots-only): {stale}"


def test_no_figure_is_older_than_its_results(redrawn):
    committed = json.loads((GENERATED_DIR / "manifest.json").read_text())
    fresh = json.loads((redrawn / "manifest.json").read_text())
    stale = sorted(name for name in fresh if committed.get(name) != fresh[name])
    assert not stale, f"figures drawn from other data than results/ holds now: {stale}"
    missing = sorted(name for name in fresh if not (GENERATED_DIR / name).is_file())
    assert not missing, f"generated files missing from docs/generated: {missing}"


def test_readme_headline_table_is_the_generated_one():
    readme = (REPO_ROOT / "README.md").read_text()
    start = readme.index(README_TABLE_START) + len(README_TABLE_START)
    table = readme[start: readme.index(README_TABLE_END)].strip()
    assert table == (GENERATED_DIR / "compare_mnist1d_table.md").read_text().strip()


def test_every_committed_run_belongs_to_the_full_plan():
    """A run the plan no longer trains (an old length, a dropped rate) would sit in results/ beside the
    runs the pages read, and mislead whoever recomputes a verdict from the files."""
    planned = {config.run_id for config in plan_for_flags(["--full"]).configs}
    committed = {path.stem for path in (PUBLISHED_DIR / "runs").glob("*.json")}
    assert committed - planned == set(), f"{len(committed - planned)} committed runs are in no plan; delete them"
    assert planned - committed == set(), f"{len(planned - committed)} planned runs are not committed"
