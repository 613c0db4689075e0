"""The GitHub Actions workflows parse and do what the project relies on them for.

GitHub only reads these files after a push, so a typo would otherwise surface as a silent
missing check or a failed deployment. PyYAML reads the key ``on`` as the boolean True.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$")


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> dict:
    triggers = workflow.get("on", workflow.get(True))
    if isinstance(triggers, str):
        return {triggers: None}
    if isinstance(triggers, list):
        return dict.fromkeys(triggers)
    return triggers


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _runs(workflow: dict) -> list[str]:
    return [step["run"] for step in _steps(workflow) if "run" in step]


def _uses(workflow: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in _steps(workflow) if "uses" in step]


def _step_using(job: dict, action: str) -> dict:
    return next(step for step in job["steps"] if step.get("uses", "").startswith(action + "@"))


@pytest.fixture(params=["ci.yml", "docs.yml", "reproduce.yml"])
def workflow(request) -> dict:
    return _load(request.param)


def test_every_workflow_has_a_name_triggers_and_jobs_with_steps(workflow):
    assert workflow["name"]
    assert _triggers(workflow)
    for job_name, job in workflow["jobs"].items():
        assert job["runs-on"], job_name
        assert job["steps"], job_name
        assert "timeout-minutes" in job, f"{job_name}: a stuck job should not run for six hours"


def test_actions_are_pinned_to_a_version(workflow):
    for step in _steps(workflow):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{step['uses']} is not pinned to a version tag or commit"


def test_workflows_only_read_the_repository_by_default(workflow):
    assert workflow["permissions"] == {"contents": "read"}


def test_inputs_are_never_pasted_into_shell_scripts(workflow):
    # ${{ inputs.x }} inside run: is substituted before the shell parses it (script injection).
    for script in _runs(workflow):
        assert "${{" not in script, f"pass expressions through env instead: {script}"


def test_ci_tests_notebooks_and_strict_build_on_every_push_and_pull_request():
    ci = _load("ci.yml")
    assert {"push", "pull_request"} <= set(_triggers(ci))
    runs = _runs(ci)
    assert 'pip install -e ".[test,docs]"' in runs
    assert "pytest" in runs
    assert "pytest --nbmake docs/notebooks" in runs
    assert "mkdocs build --strict" in runs
    # Install before testing, test before building.
    assert runs.index('pip install -e ".[test,docs]"') < runs.index("pytest") < runs.index("mkdocs build --strict")
    (job,) = ci["jobs"].values()
    upload = _step_using(job, "actions/upload-artifact")
    assert upload.get("if") == "always()", "keep the screenshot especially when a test failed"
    assert job["env"]["LOSSDEMO_ARTIFACTS_DIR"].endswith("artifacts")
    assert upload["with"]["path"].rstrip("/") == "artifacts"


def test_docs_deploys_from_main_with_least_privilege():
    docs = _load("docs.yml")
    triggers = _triggers(docs)
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]

    build, deploy = docs["jobs"]["build"], docs["jobs"]["deploy"]
    build_runs = [step["run"] for step in build["steps"] if "run" in step]
    plots = next(i for i, run in enumerate(build_runs) if "python -m lossdemo.reproduce" in run)
    assert "--plots-only" in build_runs[plots] and "--results-dir results" in build_runs[plots]
    site = next(i for i, run in enumerate(build_runs) if run.startswith("mkdocs build"))
    assert plots < site, "figures are redrawn before the site is built"
    assert "permissions" not in build, "the build job keeps the read-only default"
    assert _step_using(build, "actions/upload-pages-artifact")

    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert "actions/configure-pages" in [step.get("uses", "").split("@")[0] for step in deploy["steps"]]
    assert _step_using(deploy, "actions/deploy-pages")["id"] == "deployment"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"


def test_reproduce_is_manual_on_a_chosen_runner_and_uploads_results():
    reproduce = _load("reproduce.yml")
    triggers = _triggers(reproduce)
    assert set(triggers) == {"workflow_dispatch"}
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["runner"]["default"] == "ubuntu-latest"
    assert {"auto", "cpu", "cuda"} <= set(inputs["device"]["options"])

    (job,) = reproduce["jobs"].values()
    assert job["runs-on"] == "${{ inputs.runner }}"
    assert job["env"]["DEVICE"] == "${{ inputs.device }}"
    train = next(step["run"] for step in job["steps"] if "lossdemo.reproduce" in step.get("run", ""))
    assert '--device "$DEVICE"' in train and "--plots-only" not in train and "--quick" not in train
    upload = _step_using(job, "actions/upload-artifact")
    assert "runs/" in upload["with"]["path"] and "docs/generated/" in upload["with"]["path"]
    assert upload["with"]["if-no-files-found"] == "error"
