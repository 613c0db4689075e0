"""The cluster recipes of docs/reproduce.md, run as written on a small plan.

The Slurm array script, its merge script and the Kubernetes indexed Job in ``docs/cluster/`` are
read here, not retyped: their commands run with the profile and device swapped for a seconds-long
plan, one process per array task or pod, all at once on one results directory, with the variables
the scheduler would set. Then the merge draws the figures, and the stored runs must equal, history
for history, those of one unsharded run of the same plan.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import DOCS_DIR, TINY_TEST, assert_histories_close, cli_env

from lossdemo.cli_args import UsageError, shard_from_environment
from lossdemo.results import load_runs
from lossdemo.run_config import RunConfig
from lossdemo.runner import shard

CLUSTER_DIR = DOCS_DIR / "cluster"
# The recipes train everything on a GPU; here the same commands train a small plan on the CPU.
SMALL_PLAN = ["--quick", "--seeds", "3", "--workers", "1"]


def _shell_command(script: Path) -> list[str]:
    """The ``python -m lossdemo.reproduce`` command of a batch script, continuation lines joined."""
    text = script.read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.strip().startswith("python -m lossdemo.reproduce")]
    return shlex.split(line)


def _small(command: list[str], results_dir: Path) -> list[str]:
    """The recipe's flags with the profile and device replaced and the results directory redirected."""
    arguments = command[3:]  # after "python -m lossdemo.reproduce"
    kept: list[str] = []
    skip_value = False
    for argument in arguments:
        if skip_value:
            skip_value = False
            continue
        if argument in ("--device", "--results-dir"):
            skip_value = True
            continue
        if argument != "--full":
            kept.append(argument)
    assert "--results-dir" in arguments, "a recipe must name the shared results directory"
    return [sys.executable, "-m", "lossdemo.reproduce", *kept, *SMALL_PLAN, "--results-dir", str(results_dir)]


def _run_all_at_once(commands_and_envs, cwd: Path) -> list[subprocess.CompletedProcess]:
    processes = [subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for command, env in commands_and_envs]
    finished = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return finished


def _histories(results_dir: Path) -> dict:
    runs, problems = load_runs(results_dir)
    assert not problems, problems
    return {run_id: run.record["history"] for run_id, run in runs.items()}


def _assert_same_runs(serial: dict, sharded: dict) -> None:
    """Shards train other stacks than one unsharded process: the same runs, to float rounding."""
    assert serial.keys() == sharded.keys()
    for run_id, history in serial.items():
        assert_histories_close(history, sharded[run_id], TINY_TEST)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict:
    """The small plan trained in one unsharded process: what the shards together must store."""
    work = tmp_path_factory.mktemp("serial")
    completed = subprocess.run([sys.executable, "-m", "lossdemo.reproduce", "--no-progress", *SMALL_PLAN,
                                "--results-dir", str(work / "runs"), "--figures-dir", str(work / "figures")],
                               cwd=work, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return _histories(work / "runs")


def _merge(results_dir: Path, work: Path) -> None:
    command = _small(_shell_command(CLUSTER_DIR / "lossdemo-merge.sh"), results_dir)
    merged = subprocess.run([*command, "--figures-dir", str(work / "figures")], cwd=work, env=cli_env(),
                            capture_output=True, text=True, timeout=600)
    assert merged.returncode == 0, merged.stderr
    assert (work / "figures" / "compare_mnist1d.png").is_file()


@pytest.mark.slow
def test_the_slurm_array_script_and_its_merge_store_what_one_unsharded_run_stores(serial, tmp_path):
    script = CLUSTER_DIR / "lossdemo-array.sh"
    (first, last), = [tuple(map(int, match)) for match in re.findall(r"#SBATCH --array=(\d+)-(\d+)", script.read_text())]
    tasks = range(first, last + 1)
    command = _small(_shell_command(script), tmp_path / "runs")
    assert "--shard" in command and command[command.index("--shard") + 1] == "auto", "the script needs no arithmetic"
    environments = [cli_env(SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN=str(first),
                            SLURM_ARRAY_TASK_MAX=str(last), SLURM_ARRAY_TASK_COUNT=str(len(tasks))) for task in tasks]
    shards = _run_all_at_once([(command, env) for env in environments], cwd=tmp_path)
    assert all(done.returncode == 0 for done in shards), [done.stderr for done in shards]
    assert sum("is empty" in done.stderr for done in shards) == max(0, len(tasks) - len(serial)), \
        "more tasks than runs: the extra ones say so and succeed, so afterok still starts the merge"
    _merge(tmp_path / "runs", tmp_path)
    _assert_same_runs(serial, _histories(tmp_path / "runs"))


@pytest.mark.slow
def test_the_kubernetes_indexed_job_stores_what_one_unsharded_run_stores(serial, tmp_path):
    manifest = yaml.safe_load((CLUSTER_DIR / "lossdemo-job.yaml").read_text())
    spec = manifest["spec"]
    assert manifest["kind"] == "Job" and spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    command = _small(container["command"], tmp_path / "runs")
    assert command[command.index("--shard-count") + 1] == str(spec["completions"]), "--shard-count is the completions"
    environments = [cli_env(JOB_COMPLETION_INDEX=str(index)) for index in range(spec["completions"])]
    shards = _run_all_at_once([(command, env) for env in environments], cwd=tmp_path)
    assert all(done.returncode == 0 for done in shards), [done.stderr for done in shards]
    _merge(tmp_path / "runs", tmp_path)
    _assert_same_runs(serial, _histories(tmp_path / "runs"))


# ----------------------------------------------------------------------------- the pieces, fast

def test_round_robin_shards_differ_by_at_most_one_run_and_cover_the_plan_once():
    configs = [RunConfig(loss=loss, seed=seed) for loss in ("ce", "mae", "focal:2") for seed in range(5)]
    for count in (1, 2, 4, 8, 15, 16, 40):
        parts = [shard(configs + configs[:3], index, count) for index in range(1, count + 1)]  # shared runs repeat
        sizes = [len({config.run_id for config in part}) for part in parts]
        assert max(sizes) - min(sizes) <= 1
        ids = [run_id for part in parts for run_id in {config.run_id for config in part}]
        assert sorted(ids) == sorted({config.run_id for config in configs})


@pytest.mark.parametrize("environment, count, expected", [
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, None, (3, 8)),
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, None, (1, 4)),
    ({"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "8"}, 4, (2, 4)),
    ({"JOB_COMPLETION_INDEX": "7"}, 8, (8, 8)),
])
def test_shard_auto_reads_the_schedulers_variables(environment, count, expected):
    assert shard_from_environment(environment, count) == expected


@pytest.mark.parametrize("environment, count, says", [
    ({}, None, "found neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX"),
    ({"JOB_COMPLETION_INDEX": "0"}, None, "needs --shard-count N"),
    ({"JOB_COMPLETION_INDEX": "8"}, 8, "gives shard 9 of 8"),
    ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"}, None, "SLURM_ARRAY_TASK_ID='x' is invalid"),
    ({"SLURM_ARRAY_TASK_ID": "1"}, None, "SLURM_ARRAY_TASK_COUNT is not set"),
])
def test_shard_auto_refuses_a_missing_or_inconsistent_environment_in_one_line(environment, count, says):
    with pytest.raises(UsageError, match=re.escape(says)) as raised:
        shard_from_environment(environment, count)
    assert "\n" not in str(raised.value) and "allowed" in str(raised.value)
