"""The GitHub Actions workflows and Dependabot's settings parse and do what the project relies on.

GitHub only reads these files after a push, so a typo would otherwise surface as a silent
missing check or a failed deployment. PyYAML reads the key ``on`` as the boolean True.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sys

import pytest
import yaml
from support import REPO_ROOT, WORKFLOWS_DIR

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

PYTHON_CLASSIFIER = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")  # a commit: a tag can be moved, a commit cannot
PINNED_LINE = re.compile(r"uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40})  # v\d+\.\d+\.\d+$")


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS_DIR / name).read_text(encoding="utf-8"))


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


@pytest.fixture(params=["ci.yml", "docs.yml", "reproduce.yml", "dependency-bounds.yml", "release.yml"])
def workflow(request) -> dict:
    return _load(request.param)


def test_every_workflow_has_a_name_triggers_and_jobs_with_steps(workflow):
    assert workflow["name"]
    assert _triggers(workflow)
    for job_name, job in workflow["jobs"].items():
        assert job["runs-on"], job_name
        assert job["steps"], job_name
        assert "timeout-minutes" in job, f"{job_name}: a stuck job should not run for six hours"


def test_actions_are_pinned_to_a_commit_with_its_version_beside_it(workflow):
    for step in _steps(workflow):
        if "uses" in step:
            assert PINNED.match(step["uses"]), f"{step['uses']} is not pinned to a commit"


@pytest.mark.parametrize("name", sorted(path.name for path in WORKFLOWS_DIR.glob("*.yml")))
def test_each_pinned_commit_says_which_release_it_is_and_one_action_has_one_commit(name):
    lines = [line.strip().removeprefix("- ") for line in (WORKFLOWS_DIR / name).read_text(encoding="utf-8").splitlines()
             if "uses:" in line]
    commits: dict[str, set[str]] = {}
    for line in lines:
        match = PINNED_LINE.fullmatch(line)
        assert match, f"{name}: {line!r} needs '@<commit>  # vX.Y.Z' (Dependabot keeps both current)"
        commits.setdefault(match.group(1), set()).add(match.group(2))
    assert all(len(shas) == 1 for shas in commits.values()), commits


def test_workflows_only_read_the_repository_by_default(workflow):
    assert workflow["permissions"] == {"contents": "read"}


def test_inputs_are_never_pasted_into_shell_scripts(workflow):
    # ${{ inputs.x }} inside run: is substituted before the shell parses it (script injection).
    for script in _runs(workflow):
        assert "${{" not in script, f"pass expressions through env instead: {script}"


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_ci_runs_tests_notebooks_and_strict_build_once_per_change():
    ci = _load("ci.yml")
    triggers = _triggers(ci)
    assert {"push", "pull_request"} <= set(triggers)
    assert triggers["push"]["branches"] == ["main"], "a pull request's branch is tested by the pull request's run only"
    runs = _runs(ci)
    assert 'pip install -e ".[test,docs]"' in runs
    assert runs.index('pip install -e ".[test,docs]"') < runs.index("pytest"), "install before testing"
    # One pytest covers all three: the notebooks through its addopts, the build through test_site.py.
    pytest_options = _pyproject()["tool"]["pytest"]["ini_options"]
    assert "--nbmake" in pytest_options["addopts"].split() and "docs/notebooks" in pytest_options["testpaths"]
    assert (REPO_ROOT / "tests" / "test_site.py").read_text(encoding="utf-8").count('"--strict"') >= 1
    repeated = [run for run in runs if "pytest" in run and run != "pytest" or "mkdocs build" in run]
    assert repeated == [], f"each check runs once, in the one pytest step; these repeat one: {repeated}"
    job = ci["jobs"]["test"]
    upload = _step_using(job, "actions/upload-artifact")
    assert upload.get("if") == "always()", "keep the screenshot especially when a test failed"
    assert job["env"]["LOSSDEMO_ARTIFACTS_DIR"].endswith("artifacts")
    assert upload["with"]["path"].rstrip("/") == "artifacts"
    assert "${{ matrix.python-version }}" in upload["with"]["name"], "one screenshot per Python version"


def _claimed_pythons() -> list[str]:
    """The Python versions pyproject's classifiers list, oldest first."""
    classifiers = _pyproject()["project"]["classifiers"]
    return sorted((match.group(1) for match in map(PYTHON_CLASSIFIER.match, classifiers) if match), key=_version)


def test_ci_tests_every_python_version_the_package_claims():
    project = _pyproject()["project"]
    claimed = _claimed_pythons()
    minimum = re.fullmatch(r">=\s*(3\.\d+)", project["requires-python"].strip())
    assert minimum, f"requires-python {project['requires-python']!r} is invalid; allowed: '>=3.N'"
    assert claimed and claimed[0] == minimum.group(1), "the classifiers start at requires-python's minimum"
    assert [_version(v) for v in claimed] == [(3, minor) for minor in range(_version(claimed[0])[1],
                                                                          _version(claimed[-1])[1] + 1)], \
        f"classifiers {claimed} skip a version"
    job = _load("ci.yml")["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == claimed, "ci.yml's matrix is pyproject's classifiers"
    assert job["strategy"].get("fail-fast") is False, "a failure on one version should not cancel the others"
    assert _step_using(job, "actions/setup-python")["with"]["python-version"] == "${{ matrix.python-version }}"


def test_ci_runs_ruff_with_the_projects_rules():
    lint = _load("ci.yml")["jobs"]["lint"]
    runs = [step["run"] for step in lint["steps"] if "run" in step]
    assert any(run.startswith("pip install") and "ruff" in run for run in runs)
    assert "ruff check ." in runs
    assert "ruff" in _pyproject()["tool"], "the rules it checks live in pyproject.toml"


def test_checkouts_keep_no_credentials(workflow):
    for step in _steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, "no job pushes, so none keeps the token"


def test_docs_deploy_from_main_only_after_ci_passed_with_least_privilege():
    docs = _load("docs.yml")
    triggers = _triggers(docs)
    assert set(triggers) == {"workflow_run", "workflow_dispatch"}
    assert triggers["workflow_run"] == {"workflows": [_load("ci.yml")["name"]], "types": ["completed"], "branches": ["main"]}

    build, deploy = docs["jobs"]["build"], docs["jobs"]["deploy"]
    assert "github.event.workflow_run.conclusion == 'success'" in build["if"]
    assert "github.event.workflow_run.event == 'push'" in build["if"], "not a pull request's run"
    assert _step_using(build, "actions/checkout")["with"]["ref"].startswith("${{ github.event.workflow_run.head_sha"), \
        "the commit CI tested is the commit deployed"
    build_runs = [step["run"] for step in build["steps"] if "run" in step]
    assert 'pip install -e ".[docs]"' in build_runs, "the site needs the docs extra, and only that"
    assert not [run for run in build_runs if "[test" in run or ",test" in run]
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


def test_reproduce_is_manual_on_chosen_runners_fans_out_over_shards_and_merges():
    reproduce = _load("reproduce.yml")
    triggers = _triggers(reproduce)
    assert set(triggers) == {"workflow_dispatch"}
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["runner"]["default"] == "ubuntu-latest"
    assert {"auto", "cpu", "cuda"} <= set(inputs["device"]["options"])
    assert reproduce["env"]["DEVICE"] == "${{ inputs.device }}"
    assert reproduce["env"]["SHARDS"] == "${{ inputs.shards }}"

    plan, train, merge = reproduce["jobs"]["plan"], reproduce["jobs"]["train"], reproduce["jobs"]["merge"]
    assert train["runs-on"] == "${{ inputs.runner }}"
    assert train["strategy"]["matrix"]["shard"] == "${{ fromJSON(needs.plan.outputs.shards) }}", "sized from the input"
    (sizing,) = [step["run"] for step in plan["steps"]]
    for count in (int(option) for option in inputs["shards"]["options"]):
        import subprocess

        output = subprocess.run(["bash", "-c", sizing.replace('"$GITHUB_OUTPUT"', "/dev/stdout")], capture_output=True,
                                text=True, env={"SHARDS": str(count), "PATH": "/usr/bin:/bin"}, check=True).stdout
        assert json.loads(output.strip().removeprefix("shards=")) == list(range(1, count + 1))
    assert train["timeout-minutes"] <= 360, "GitHub-hosted runners stop a job at six hours"
    assert not [step for step in train["steps"] if "if" in step], "no shard job skips its work"
    device_check = next(step["run"] for step in train["steps"] if "nvidia-smi" in step.get("run", ""))
    assert "torch.cuda.is_available()" in device_check and "exit 1" in device_check
    command = next(step["run"] for step in train["steps"] if "lossdemo.reproduce" in step.get("run", ""))
    assert '--device "$DEVICE"' in command and '--shard "$SHARD/$SHARDS"' in command
    assert "--plots-only" not in command and "--quick" not in command
    shard_upload = _step_using(train, "actions/upload-artifact")["with"]
    assert shard_upload["name"] == "runs-shard-${{ matrix.shard }}"
    assert 'touch "runs/shard-$SHARD.done"' in command and "runs/shard-${{ matrix.shard }}.done" in shard_upload["path"]

    assert merge["needs"] == ["plan", "train"] and merge["if"].startswith("always()"), "it merges what finished"
    download = _step_using(merge, "actions/download-artifact")["with"]
    assert download["pattern"] == "runs-shard-*" and "merge-multiple" not in download
    collect = next(step["run"] for step in merge["steps"] if "missing" in step.get("run", ""))
    assert "::warning::shards" in collect, "the merge says which shards are missing"
    merge_runs = [step["run"] for step in merge["steps"] if "run" in step]
    assert any("download.pytorch.org/whl/cpu" in run for run in merge_runs), "drawing installs the CPU build"
    drawing = next(step["run"] for step in merge["steps"] if "lossdemo.reproduce" in step.get("run", ""))
    assert "--plots-only" in drawing and "--shard" not in drawing
    profile_lines = [line for line in command.splitlines() if "flag=" in line]
    assert profile_lines == [line for line in drawing.splitlines() if "flag=" in line], "the merge plans what the shards do"
    upload = _step_using(merge, "actions/upload-artifact")
    assert "runs/" in upload["with"]["path"] and "docs/local/" in upload["with"]["path"]
    assert upload["with"]["if-no-files-found"] == "error"


# The Python versions (oldest, newest) each torch release publishes wheels for, for the torch that the
# lowest-bound job installs: a raised lower bound must be added here, after checking its wheels.
TORCH_WHEEL_PYTHONS = {"2.2": ("3.8", "3.12")}
LOWER_BOUND = re.compile(r">=\s*([\d.]+)")


def _lower_bound(name: str) -> str:
    """The version after ``>=`` in pyproject's requirement on ``name``."""
    [requirement] = [r for r in _pyproject()["project"]["dependencies"] if _requirement_name(r) == name]
    match = LOWER_BOUND.search(requirement)
    assert match, f"{requirement!r} has no lower bound; allowed: a '>=' bound, which the lowest-bound job installs"
    return match.group(1)


def _bounds_job() -> dict:
    (job,) = _load("dependency-bounds.yml")["jobs"].values()
    return job


def _bounds() -> dict[str, dict]:
    return {entry["bound"]: entry for entry in _bounds_job()["strategy"]["matrix"]["include"]}


def test_the_dependency_bounds_run_weekly_and_on_demand():
    triggers = _triggers(_load("dependency-bounds.yml"))
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    [schedule] = triggers["schedule"]
    _minute, _hour, day_of_month, month, day_of_week = schedule["cron"].split()
    assert day_of_month == month == "*" and re.fullmatch(r"[0-6]", day_of_week), f"{schedule['cron']}: not weekly"
    assert set(_bounds()) == {"newest", "lowest"}
    assert _bounds_job()["strategy"].get("fail-fast") is False, "a failure at one bound should not cancel the other"


def test_the_newest_bound_is_the_newest_python_and_the_highest_resolution():
    newest = _bounds()["newest"]
    assert newest["resolution"] == "highest" and newest["python-version"] == _claimed_pythons()[-1]


def test_the_lowest_bound_is_the_lowest_python_and_pyprojects_lower_bounds():
    lowest = _bounds()["lowest"]
    # uv's lowest-direct: the lowest version each of the project's own requirements admits, read from
    # pyproject.toml, and for the others (their dependencies) the newest, which their own pins bound.
    assert lowest["resolution"] == "lowest-direct"
    assert lowest["python-version"] == _claimed_pythons()[0] == _pyproject()["project"]["requires-python"].strip(">= ")
    torch_minimum, torchvision_minimum = _lower_bound("torch"), _lower_bound("torchvision")
    assert torch_minimum in TORCH_WHEEL_PYTHONS, (
        f"torch's lower bound {torch_minimum} is not in TORCH_WHEEL_PYTHONS; allowed: {sorted(TORCH_WHEEL_PYTHONS)} "
        "(add the Python versions it publishes wheels for)")
    oldest, newest = map(_version, TORCH_WHEEL_PYTHONS[torch_minimum])
    assert oldest <= _version(lowest["python-version"]) <= newest, (
        f"torch {torch_minimum} has no wheels for Python {lowest['python-version']}")
    # torchvision 0.(15 + k) is built for torch 2.k and requires it exactly: the two lower bounds must pair.
    torch_major, torch_minor = _version(torch_minimum)[:2]
    assert torch_major == 2 and _version(torchvision_minimum)[:2] == (0, 15 + torch_minor), (
        f"torchvision>={torchvision_minimum} does not pair with torch>={torch_minimum}")


def test_both_bounds_resolve_from_pyproject_install_cpu_torch_and_run_the_unit_tests():
    job = _bounds_job()
    assert job["env"] == {"RESOLUTION": "${{ matrix.resolution }}", "PYTHON_VERSION": "${{ matrix.python-version }}"}
    assert _step_using(job, "actions/setup-python")["with"]["python-version"] == "${{ matrix.python-version }}"
    runs = [step["run"] for step in job["steps"] if "run" in step]

    def step_with(fragment: str) -> int:
        [index] = [i for i, run in enumerate(runs) if fragment in run]
        return index

    resolve, torch, package, tests = (step_with("uv pip compile"), step_with("download.pytorch.org/whl/cpu"),
                                      step_with("pip install -e"), step_with("pytest"))
    assert resolve < torch < package < tests
    for option in ("uv pip compile pyproject.toml", "--extra test --extra docs", '--resolution "$RESOLUTION"',
                   '--python-version "$PYTHON_VERSION"', "--output-file bound-constraints.txt"):
        assert option in runs[resolve], option
    assert "grep -E '^(torch|torchvision)==' bound-constraints.txt > torch-constraints.txt" in runs[torch]
    assert "pip install torch torchvision -c torch-constraints.txt --index-url https://download.pytorch.org/whl/cpu" \
        in runs[torch]
    assert runs[package] == 'pip install -e ".[test,docs]" -c bound-constraints.txt', "the extras the resolution had"
    assert runs[tests] == 'pytest -m "not slow"'


def test_the_torch_pins_are_read_from_what_uv_writes():
    """The grep of the torch step, on uv's output format (name==version, then "# via" comments)."""
    compiled = ("# This file was autogenerated by uv via the following command:\n"
                "torch==2.2.0\n    # via\n    #   lossdemo (pyproject.toml)\n    #   torchvision\n"
                "torchmetrics==1.0.0\n    # via lossdemo\ntorchvision==0.17.0\n    # via lossdemo (pyproject.toml)\n"
                "triton==2.2.0\n    # via torch\n")
    grep = next(run for run in _runs(_load("dependency-bounds.yml")) if "torch-constraints.txt" in run)
    pattern = re.search(r"grep -E '([^']+)'", grep).group(1)
    assert [line for line in compiled.splitlines() if re.search(pattern, line)] == ["torch==2.2.0", "torchvision==0.17.0"]


def _notebook_imports() -> set[str]:
    """Top-level modules the example notebooks import."""
    modules = set()
    for path in sorted((REPO_ROOT / "docs" / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                source = "".join(cell["source"])
                modules |= set(re.findall(r"^\s*(?:from|import)\s+(\w+)", source, re.MULTILINE))
    return modules


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_docs_extra_alone_can_execute_the_notebooks():
    """docs.yml installs only the docs extra, and the site build executes every notebook."""
    project = _pyproject()["project"]
    docs = {_requirement_name(requirement) for requirement in project["optional-dependencies"]["docs"]}
    available = docs | {_requirement_name(requirement) for requirement in project["dependencies"]}
    assert "ipykernel" in docs, "mkdocs-jupyter runs the notebooks on a Jupyter kernel"
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(_notebook_imports() - set(sys.stdlib_module_names) - {project["name"]}):
        names = {name.lower().replace("_", "-") for name in distributions.get(module, [module])}
        if not names & available:
            missing.append(f"{module} ({', '.join(sorted(names))})")
    assert missing == [], f"the notebooks import {missing}, which the docs extra and the runtime dependencies lack"


def test_dependabot_updates_actions_and_python_dependencies_weekly():
    dependabot = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert dependabot["version"] == 2
    updates = {update["package-ecosystem"]: update for update in dependabot["updates"]}
    assert set(updates) == {"github-actions", "pip"}
    for ecosystem, update in updates.items():
        assert update["directory"] == "/", f"{ecosystem}: the workflows and pyproject.toml are found from the root"
        assert update["schedule"]["interval"] == "weekly", ecosystem


def test_a_tagged_release_builds_checks_and_publishes_with_trusted_publishing():
    release = _load("release.yml")
    assert _triggers(release) == {"push": {"tags": ["v*"]}}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    runs = [step["run"] for step in build["steps"] if "run" in step]
    tag_check = next(run for run in runs if "$TAG" in run)
    assert "pyproject.toml" in tag_check and "exit 1" in tag_check, "a tag that is not the version stops the release"
    assert any("python -m build" in run for run in runs) and any("twine check --strict dist/*" in run for run in runs)
    assert publish["needs"] == "build" and publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert _step_using(publish, "pypa/gh-action-pypi-publish"), "trusted publishing, no stored token"
    assert "password" not in _step_using(publish, "pypa/gh-action-pypi-publish").get("with", {})
