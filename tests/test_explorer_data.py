"""The loss explorer's measurements (``lossdemo.report.explorer_data``): the γ-sweep table's numbers,
written by the generator into a snippet, and a snippet that says so when no γ-sweep runs are stored."""

from __future__ import annotations

import json
import re

import pytest
from support import GENERATED_DIR, PUBLISHED_DIR

from lossdemo.experiments import spec_gamma
from lossdemo.protocol import FAIR
from lossdemo.report import measures as m
from lossdemo.report.explorer_data import (
    EVIDENCE_PAGE,
    EXPLORER_DATA_FILE,
    SCRIPT_ID,
    explorer_measurements,
    explorer_snippet,
    write_explorer_data,
)
from lossdemo.report.gamma_sweep import gamma_sweep_table
from lossdemo.report.measures import group_runs
from lossdemo.report.output import runs_fingerprint
from lossdemo.reproduce import plan_for_flags
from lossdemo.results import load_runs

SNIPPET_DATA = re.compile(rf'<script type="application/json" id="{SCRIPT_ID}">(.*)</script>')


def _data(snippet: str) -> dict:
    found = SNIPPET_DATA.search(snippet)
    assert found, f"no data block with id {SCRIPT_ID!r} in:\n{snippet}"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def gamma_sweep_runs():
    """The published γ-sweep runs, as the site's pipeline (``reproduce --full --plots-only``) selects them."""
    if not (PUBLISHED_DIR / "runs").is_dir():
        pytest.skip("no committed results in results/runs")
    stored, _ = load_runs(PUBLISHED_DIR)
    plan = plan_for_flags(["--full", "--plots-only", "--results-dir", str(PUBLISHED_DIR)])
    wanted = {config.run_id for config in plan.by_experiment["gamma-sweep"]}
    runs = [run for run in plan.runs_of(stored) if run.config.run_id in wanted]
    assert runs, "the full plan's γ sweep has no stored runs"
    return runs


def _fair_table_rows(runs) -> dict[float, dict]:
    """The fair protocol's rows of the γ-sweep evidence table, as ``gamma_sweep.render`` writes it."""
    by_recipe = {recipe: group_runs(recipe_runs, key=lambda run: spec_gamma(run.config.loss))
                 for recipe, recipe_runs in group_runs(runs, key=m.recipe_labels(runs)).items()}
    rows = {}
    for line in gamma_sweep_table(by_recipe).splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 10 and cells[0] == FAIR.name:
            rows[float(cells[1])] = {"loss": cells[2].strip("`"), "seeds": int(cells[4]), "accuracy_text": cells[5],
                                     "ece_text": cells[6]}
    return rows


def test_the_measurements_are_the_gamma_sweep_tables_numbers(gamma_sweep_runs):
    data = explorer_measurements(gamma_sweep_runs)
    assert data["evidence"] == EVIDENCE_PAGE and not data["note"]
    by_dataset = group_runs(gamma_sweep_runs, key=lambda run: run.config.dataset)
    assert [entry["dataset"] for entry in data["datasets"]] == list(by_dataset)
    for entry in data["datasets"]:
        table = _fair_table_rows(by_dataset[entry["dataset"]])
        assert table and [row["gamma"] for row in entry["rows"]] == sorted(table)
        for row in entry["rows"]:
            expected = table[row["gamma"]]
            assert {key: row[key] for key in expected} == expected, row["gamma"]
            # The means behind the cells: the cell's leading number is the mean in percent, rounded.
            for key in ("accuracy", "ece"):
                shown = float(row[f"{key}_text"].split()[0])
                assert abs(row[key] * 100 - shown) <= 0.05 + 1e-9, (row["gamma"], key, row[key], shown)


def test_the_committed_snippet_is_the_one_the_runs_give(gamma_sweep_runs):
    committed = (GENERATED_DIR / EXPLORER_DATA_FILE).read_text()
    assert committed == explorer_snippet(explorer_measurements(gamma_sweep_runs)), (
        f"docs/generated/{EXPLORER_DATA_FILE} is stale: rerun python -m lossdemo.reproduce --full --plots-only")
    assert _data(committed) == json.loads(json.dumps(explorer_measurements(gamma_sweep_runs)))
    manifest = json.loads((GENERATED_DIR / "manifest.json").read_text())
    assert manifest.get(EXPLORER_DATA_FILE) == runs_fingerprint(gamma_sweep_runs)


def test_without_gamma_sweep_runs_the_snippet_says_no_measurements_are_stored(tmp_path):
    written = write_explorer_data(tmp_path, [])
    assert written == {EXPLORER_DATA_FILE: runs_fingerprint([])}
    data = _data((tmp_path / EXPLORER_DATA_FILE).read_text())
    assert data["datasets"] == []
    assert "No measurements" in data["note"] and "gamma-sweep" in data["command"]


def test_the_snippet_cannot_close_its_script_element_early():
    data = explorer_measurements([])
    data["note"] = "</script><b>"
    snippet = explorer_snippet(data)
    assert snippet.count("</script>") == 1 and _data(snippet)["note"] == "</script><b>"
