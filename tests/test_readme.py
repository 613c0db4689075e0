"""The README's two commands exist where CI looks for them, and CI runs the test one.

``.ci/run`` copies the command after ``<!-- test-command -->`` out of the README, so a newcomer's
copy-paste and CI cannot drift apart. Run: pytest tests/test_readme.py -q
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from support import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = REPO_ROOT / ".ci" / "run"


def command_after(marker: str) -> str:
    """The one-line bash command in the fenced block right after ``<!-- marker -->``."""
    match = re.search(rf"<!-- {re.escape(marker)} -->\s*```(?:bash|sh|console)?\n(.+?)\n```", README, re.DOTALL)
    assert match, f"README.md has no fenced command right after <!-- {marker} -->"
    lines = [line for line in match.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(lines) == 1, f"the {marker} block must hold exactly one command line, got {lines}"
    return lines[0].strip()


def test_the_reproduce_command_installs_and_runs_reproduce():
    command = command_after("reproduce-command")
    assert "pip install" in command and "-m lossdemo.reproduce" in command


def test_the_test_command_installs_the_test_extras_and_runs_pytest():
    command = command_after("test-command")
    assert re.search(r"pip install -e \"?\.\[[^\]]*test[^\]]*\]\"?", command), command
    assert command.split("&&")[-1].strip().endswith("pytest") or "pytest" in command.split("&&")[-1]


def test_ci_runs_the_readme_test_command():
    script = CI_RUN.read_text(encoding="utf-8")
    assert "<!-- test-command -->" in script and "README.md" in script, ".ci/run must read the command from README"
    assert CI_RUN.stat().st_mode & 0o111, ".ci/run must be executable"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sed") is None, reason="needs bash and sed")
def test_ci_extracts_exactly_the_readme_test_command():
    """Run .ci/run's own extraction line and compare with what the README shows."""
    script = CI_RUN.read_text(encoding="utf-8")
    extraction = next(line.split("=", 1)[1] for line in script.splitlines() if line.startswith("readme_command="))
    extracted = subprocess.run(["bash", "-c", f"echo {extraction}"], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    assert extracted == command_after("test-command")
