"""The README's two commands, in that order, in one clone, on a CPU that is not the publisher's.

Another CPU computes the same runs with other last bits (oneDNN picks kernels by instruction set),
and now and then one test sample lands on the other side of a decision boundary. The main job must
then draw its figures where the local site shows them (``docs/local/``) and leave the committed
site, the README and every tracked file as they were, so that the test command run next passes.
Training is replaced by runs copied from ``results/`` and perturbed that way; the drawing, the
comparison with the published runs and the checks of the second command are the real ones.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import PUBLISHED_DIR, REPO_ROOT

from lossdemo.reproduce import plan_for_flags

pytestmark = pytest.mark.slow


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True).stdout


def _copy_of_the_working_tree(target: Path) -> Path:
    """The tracked and not-ignored files of this checkout (as a fresh clone would have them), committed."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    _git(target, "init", "-q")
    _git(target, "add", "-A")
    _git(target, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "commit", "-qm", "clone")
    return target


def _as_another_cpu_computes_it(record: dict, seed: int) -> dict:
    """The same run with other last bits: losses off by a relative 1e-6, one test sample flipped."""
    history = record["history"]
    for key in ("train_loss", "test_loss", "train_ce", "test_ce"):
        history[key] = [None if value is None else value * (1 + 1e-6) for value in history[key]]
    step = 1 / 1000 if seed % 2 else -1 / 1000  # 1000 test samples in mnist1d's and mnist5k's test splits
    history["test_accuracy"] = [min(1.0, max(0.0, value + step)) for value in history["test_accuracy"]]
    record["metadata"]["platform"] = "Linux-another-cpu"
    return record


def test_the_main_job_then_the_test_command_pass_in_one_clone_on_another_cpu(tmp_path):
    clone = _copy_of_the_working_tree(tmp_path / "clone")
    local_runs = clone / "runs" / "runs"
    local_runs.mkdir(parents=True)
    default_plan = plan_for_flags([]).configs  # what the README's first command trains
    for config in default_plan:
        record = json.loads((PUBLISHED_DIR / "runs" / f"{config.run_id}.json").read_text())
        (local_runs / f"{config.run_id}.json").write_text(json.dumps(_as_another_cpu_computes_it(record, config.seed)))

    # 1. The README's main job (its runs already stored, as after training): default flags, from the root.
    main_job = subprocess.run([sys.executable, "-m", "lossdemo.reproduce", "--no-progress"], cwd=clone,
                              capture_output=True, text=True, timeout=600)
    assert main_job.returncode == 0, main_job.stderr
    assert "trained 0 runs" in main_job.stderr, "every run of the plan was stored already"
    assert "wrote" in main_job.stderr and "docs/local" in main_job.stderr
    assert (clone / "docs" / "local" / "compare_mnist1d.png").is_file()
    verdicts = re.findall(r"^  \S+ [^\n]*?: (agrees|DIFFERS|cannot tell) — ", main_job.stderr, re.MULTILINE)
    assert verdicts and set(verdicts) == {"agrees"}, main_job.stderr
    assert _git(clone, "status", "--porcelain") == "", "the main job changed tracked files or left untracked ones"

    # 2. The tests that read the committed site or build it (with docs/local/ now present, which the
    #    built site shows), run by the clone's own test suite; the others do not look at these files.
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                            "tests/test_generated.py", "tests/test_readme.py", "tests/test_site.py",
                            "tests/test_figure_sizes.py",
                            "tests/test_claims.py::test_generated_claims_files_match_the_committed_results"],
                           cwd=clone, capture_output=True, text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout[-3000:]
