"""The cluster recipes of docs/reproduce.md, run as written on a small plan.

The Slurm array script, its merge script and the Kubernetes indexed Job in ``docs/cluster/`` are
read here, not retyped: their commands run with the profile and device swapped for a seconds-long
plan, one process per array task or pod, all at once on one results directory, with the variables
the scheduler would set. Then the merge draws the figures, and the stored runs must equal, history
for history, those of one unsharded run of the same plan.
"""

from __future__ import annotations

import os
import re
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


# Shards compose other stacks than one process, so the sums inside a step run in another order; at the
# tuned rates (up to 0.2 here) a few epochs amplify those last bits to a few 1e-4 of a loss.
SHARDED_RTOL = 1e-3


def _assert_same_runs(serial: dict, sharded: dict) -> None:
    """Shards train other stacks than one unsharded process: the same runs, to float rounding."""
    assert serial.keys() == sharded.keys()
    for run_id, history in serial.items():
        assert_histories_close(history, sharded[run_id], TINY_TEST, rtol=SHARDED_RTOL)


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict:
    """The small plan trained in one unsharded process: what the shards together must store."""
    work = tmp_path_factory.mktemp("serial")
    completed = subprocess.run([sys.executable, "-m", "lossdemo.reproduce", "--no-progress", *SMALL_PLAN,
                                "--results-dir", str(work / "runs"), "--figures-dir", str(work / "figures")],
                               cwd=work, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    return _histories(work / "runs")


def _script_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment a Slurm task would see, on a cluster without $SCRATCH: this test's Python
    environment as LOSSDEMO_VENV, a home directory of its own, the small CPU plan."""
    env = cli_env(LOSSDEMO_VENV=sys.prefix, HOME=str(work), LOSSDEMO_PLAN=" ".join(SMALL_PLAN),
                  LOSSDEMO_DEVICE="cpu", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra)
    for name in ("SCRATCH", "LOSSDEMO_RUNS", "LOSSDEMO_FIGURES"):
        if name not in extra:
            env.pop(name, None)
    return env


def _merge(work: Path, **extra: str) -> None:
    merged = subprocess.run(["bash", str(CLUSTER_DIR / "lossdemo-merge.sh")], cwd=work, env=_script_env(work, **extra),
                            capture_output=True, text=True, timeout=600)
    assert merged.returncode == 0, merged.stderr
    assert (work / "docs" / "local" / "compare_mnist1d.png").is_file(), "the merge draws under where it was submitted"


@pytest.mark.slow
def test_the_slurm_array_script_and_its_merge_run_as_written_and_store_what_one_unsharded_run_stores(serial, tmp_path):
    script = CLUSTER_DIR / "lossdemo-array.sh"
    text = script.read_text()
    (first, last), = [tuple(map(int, match)) for match in re.findall(r"#SBATCH --array=(\d+)-(\d+)", text)]
    assert re.search(r"#SBATCH --time=\d", text) and re.search(r"#SBATCH --mem=\d", text), "a partition's default limits"
    assert "#SBATCH --gres=gpu:1" in text and "--shard auto" in text, "one GPU per task, and no arithmetic"
    tasks = range(first, last + 1)
    environments = [_script_env(tmp_path, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN=str(first),
                                SLURM_ARRAY_TASK_MAX=str(last), SLURM_ARRAY_TASK_COUNT=str(len(tasks))) for task in tasks]
    shards = _run_all_at_once([(["bash", str(script)], env) for env in environments], cwd=tmp_path)
    assert all(done.returncode == 0 for done in shards), [done.stderr for done in shards]
    assert sum("is empty" in done.stderr for done in shards) == max(0, len(tasks) - len(serial)), \
        "more tasks than runs: the extra ones say so and succeed, so afterok still starts the merge"
    runs = tmp_path / "lossdemo-runs"  # no $SCRATCH: the default under $HOME
    _merge(tmp_path)
    _assert_same_runs(serial, _histories(runs))


def test_the_slurm_scripts_say_in_one_line_when_lossdemo_is_not_installed(tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python").write_text("#!/bin/sh\nexit 1\n")  # a python without lossdemo
    (fake_bin / "python").chmod(0o755)
    env = dict(_script_env(tmp_path), LOSSDEMO_VENV=str(tmp_path / "no-venv"), PATH=f"{fake_bin}{os.pathsep}/usr/bin:/bin")
    for script in ("lossdemo-array.sh", "lossdemo-merge.sh"):
        done = subprocess.run(["bash", str(CLUSTER_DIR / script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 1 and done.stderr.strip().endswith("set LOSSDEMO_VENV to the environment that has it")
        assert len(done.stderr.strip().splitlines()) == 1 and "unbound variable" not in done.stderr


def _manifests() -> dict[str, dict]:
    """Every Kubernetes object the recipes define, by kind and name."""
    objects = {}
    for name in ("lossdemo-job.yaml", "lossdemo-merge-job.yaml"):
        for document in yaml.safe_load_all((CLUSTER_DIR / name).read_text()):
            objects[f"{document['kind']}/{document['metadata']['name']}"] = document
    return objects


def test_the_kubernetes_manifests_define_their_claim_and_merge_and_name_the_image_the_dockerfile_builds():
    objects = _manifests()
    claim, job, merge = objects["PersistentVolumeClaim/lossdemo-runs"], objects["Job/lossdemo"], objects["Job/lossdemo-merge"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "every pod writes to the same volume"
    (shard,) = job["spec"]["template"]["spec"]["containers"]
    (merger,) = merge["spec"]["template"]["spec"]["containers"]
    for pod in (job, merge):
        (volume,) = pod["spec"]["template"]["spec"]["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert shard["image"] == merger["image"]
    dockerfile = (CLUSTER_DIR / "Dockerfile").read_text()
    assert f"-t {shard['image']} " in dockerfile, "the image the Jobs name is the one the Dockerfile's comment builds"
    assert "COPY lossdemo ./lossdemo" in dockerfile and "pip install --no-cache-dir ." in dockerfile
    plan = [flag for flag in shard["command"][3:] if flag.startswith("--full")]
    assert plan == [flag for flag in merger["command"][3:] if flag.startswith("--full")], "the merge plans the same runs"
    assert "--plots-only" in merger["command"] and "--shard" not in merger["command"]


@pytest.mark.slow
def test_the_kubernetes_indexed_job_and_its_merge_job_store_what_one_unsharded_run_stores(serial, tmp_path):
    objects = _manifests()
    spec = objects["Job/lossdemo"]["spec"]
    assert spec["completionMode"] == "Indexed"
    (container,) = spec["template"]["spec"]["containers"]
    command = _small(container["command"], tmp_path / "runs")
    assert command[command.index("--shard-count") + 1] == str(spec["completions"]), "--shard-count is the completions"
    environments = [cli_env(JOB_COMPLETION_INDEX=str(index)) for index in range(spec["completions"])]
    shards = _run_all_at_once([(command, env) for env in environments], cwd=tmp_path)
    assert all(done.returncode == 0 for done in shards), [done.stderr for done in shards]
    (merger,) = objects["Job/lossdemo-merge"]["spec"]["template"]["spec"]["containers"]
    merge = _small(merger["command"], tmp_path / "runs")
    merge[merge.index("--figures-dir") + 1] = str(tmp_path / "figures")  # /runs/figures in the pod
    merged = subprocess.run(merge, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "figures" / "compare_mnist1d.png").is_file()
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
