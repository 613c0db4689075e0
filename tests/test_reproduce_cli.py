"""The real command line, end to end: bad input, damaged results, and a quick run in a temp dir.

Every case runs ``python -m lossdemo.reproduce`` in a subprocess, as a reader would. The bad-input
cases come from ``tests/hardening_cases.py`` (also the source of the Reproduce page's tally) and
run concurrently, so the ~30 interpreter start-ups cost seconds rather than a minute.

Run: pytest tests/test_reproduce_cli.py -q
"""

from __future__ import annotations

import concurrent.futures as futures
import json
import os
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from hardening_cases import BAD_INPUT_CASES, BASE_ARGS, BadInput
from support import REPO_ROOT, run_cli

import lossdemo
from lossdemo.cli_args import EXAMPLES, PROG
from lossdemo.reproduce import build_parser, plan_for_flags
from lossdemo.results import RUNS_SUBDIR, SCHEMA_VERSION, load_runs

# Two losses that share their tuned rate: 2 losses × 2 seeds × 4 recipes of the comparison (fair protocol,
# short budget, shared recipe, and the shared recipe twice as long) = 16 runs; by default their mnist1d runs
# train in stacks (lossdemo.engines).
QUICK = ("--quick", "--losses", "ce", "focal:0.5", "--seeds", "2", "--epochs", "2")
QUICK_RUNS = 16


def _unmet_need(case: BadInput) -> str | None:
    """Why a case cannot be set up on this machine, or None."""
    if case.needs == "no CUDA GPU" and torch.cuda.is_available():
        return "a CUDA GPU is present, so --device cuda is valid here"
    if case.needs == "no MPS" and torch.backends.mps.is_available():
        return "Apple's MPS is present, so --device mps is valid here"
    if case.needs == "Linux /proc" and not Path("/proc/self").exists():
        return "no /proc file system on this machine"
    if case.needs == "not root" and hasattr(os, "geteuid") and os.geteuid() == 0:
        return ("running as root, which writes through chmod 500; the unwritable-file-system case "
                "(results-dir-unwritable-fs) covers the check instead")
    return None


def _run_case(case: BadInput, root: Path):
    work = root / case.id
    (work / "empty").mkdir(parents=True)
    (work / "a-file.txt").write_text("not a directory\n")
    readonly = work / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    places = {"{results}": str(work / "results"), "{figures}": str(work / "figures"), "{file}": str(work / "a-file.txt"),
              "{empty}": str(work / "empty"), "{readonly}": str(readonly)}
    argv = [places.get(arg, arg) for arg in BASE_ARGS + case.argv]
    return run_cli(*argv, cwd=work, timeout=240), work


@pytest.fixture(scope="module")
def bad_input_results(tmp_path_factory):
    """Run every applicable bad-input case once, four at a time; {case id: (completed process, work dir)}."""
    root = tmp_path_factory.mktemp("bad-input")
    runnable = [case for case in BAD_INPUT_CASES if _unmet_need(case) is None]
    with futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip((case.id for case in runnable), pool.map(lambda case: _run_case(case, root), runnable)))
    yield results
    for work in root.iterdir():  # let pytest remove the read-only directories later
        (work / "readonly").chmod(0o700)


def test_there_are_at_least_20_distinct_bad_input_cases():
    assert len({case.id for case in BAD_INPUT_CASES}) == len(BAD_INPUT_CASES) >= 20
    assert len({case.argv for case in BAD_INPUT_CASES}) == len(BAD_INPUT_CASES)


@pytest.mark.parametrize("case", BAD_INPUT_CASES, ids=[case.id for case in BAD_INPUT_CASES])
def test_bad_input_exits_2_with_one_line_naming_the_value_and_what_is_allowed(case, bad_input_results):
    reason = _unmet_need(case)
    if reason:
        pytest.skip(reason)
    completed, work = bad_input_results[case.id]
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, completed.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), completed.stderr
    assert "Traceback" not in completed.stderr
    for fragment in case.says:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert completed.stdout == ""
    assert not list((work / "results").glob(f"{RUNS_SUBDIR}/*.json")), "bad input must not store any run"


@pytest.mark.parametrize("case", [c for c in BAD_INPUT_CASES if c.library], ids=[c.id for c in BAD_INPUT_CASES if c.library])
def test_the_library_raises_the_same_one_line_message(case, bad_input_results):
    reason = _unmet_need(case)
    if reason:
        pytest.skip(reason)
    with pytest.raises((ValueError, TypeError)) as raised:
        case.library()
    message = str(raised.value)
    assert "\n" not in message
    cli_line = bad_input_results[case.id][0].stderr.strip()
    assert message in cli_line, f"library says {message!r}, CLI says {cli_line!r}"


def test_help_lists_every_flag_and_exits_0(tmp_path):
    completed = run_cli("--help", cwd=tmp_path)
    assert completed.returncode == 0
    for flag in ("--experiments", "--datasets", "--losses", "--seeds", "--epochs", "--device", "--results-dir",
                 "--quick", "--plots-only", "--force", "--publish", "--checkpoint", "--shard", "--workers", "--stack"):
        assert flag in completed.stdout
    assert "examples:" in completed.stdout


def test_the_help_states_the_default_cpu_stack_size_the_code_uses():
    """The help is built without importing torch, so it spells the size out; this keeps the two equal."""
    from lossdemo.engines.cpu import CPU_STACK_SIZE

    stack_help = next(action.help for action in build_parser()._actions if "--stack" in action.option_strings)
    assert f"stacks of up to {CPU_STACK_SIZE}," in " ".join(stack_help.split())


def test_version_prints_the_package_version_and_exits_0(tmp_path):
    completed = run_cli("--version", cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"lossdemo {lossdemo.__version__}"


def test_python_m_lossdemo_and_the_lossdemo_command_are_the_same_command_line(tmp_path):
    import importlib.metadata
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, "-m", "lossdemo", "--version"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0 and completed.stdout.strip() == f"lossdemo {lossdemo.__version__}"
    wrong = subprocess.run([sys.executable, "-m", "lossdemo", "--epochs", "0"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1, "the same one-line usage error"
    [script] = [entry for entry in importlib.metadata.entry_points(group="console_scripts") if entry.name == "lossdemo"]
    assert script.value == "lossdemo.__main__:main"
    probe = ("import sys\nimport lossdemo.__main__ as command\nsys.argv = ['lossdemo', '--plots-only', '--results-dir', '.']\n"
             "try:\n    command.main()\nexcept SystemExit as exit_:\n    print(exit_.code, 'torch' in sys.modules)")
    empty = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert empty.stdout.split() == ["2", "False"], "an empty results directory fails before torch is imported"
    assert "no stored runs in '.'" in empty.stderr


def test_every_example_in_the_help_is_a_valid_command_line():
    commands = [shlex.split(line.strip())[3:] for line in EXAMPLES.splitlines()
                if line.strip().startswith(PROG)]
    assert len(commands) >= 5
    for argv in commands:
        build_parser().parse_args(argv)  # a flag or value the CLI does not know raises UsageError here
        if "cuda" not in argv:  # planning resolves the device, and this machine may have no GPU
            assert plan_for_flags(argv).configs


# ----------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """One quick reproduce (2 losses x 2 seeds x 2 epochs), run in a temp dir; shared by the tests below."""
    work = tmp_path_factory.mktemp("quick")
    completed = run_cli(*QUICK, "--results-dir", "results", "--figures-dir", "figures", cwd=work)
    return work, completed


def _copy_results(quick_results, tmp_path) -> Path:
    work, completed = quick_results
    assert completed.returncode == 0, completed.stderr
    shutil.copytree(work / "results", tmp_path / "results")
    return tmp_path / "results"


def test_quick_reproduce_end_to_end_in_a_temp_dir(quick_results):
    work, completed = quick_results
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    runs, problems = load_runs(work / "results")
    assert problems == []
    assert len(runs) == QUICK_RUNS
    assert all(run.status == "complete" and len(run.history["test_accuracy"]) == run.config.epochs
               for run in runs.values())
    assert {run.config.epochs for run in runs.values()} == {1, 2, 4}, \
        "the short budget takes a fifth (at least one epoch), the convergence check twice the length"
    assert {run.config.loss for run in runs.values()} == {"ce", "focal:0.5"}
    figures = {path.name for path in (work / "figures").iterdir()}
    assert {"compare_mnist1d.png", "compare_mnist1d_table.md", "manifest.json"} <= figures
    output = completed.stdout + completed.stderr
    assert output.count("no published runs to compare with") <= 1, "one line for every condition without published runs"
    assert set(os.listdir(work)) == {"results", "figures"}, "nothing may be written outside the given directories"
    assert not (REPO_ROOT / "results" / "figures").exists()


@pytest.mark.skipif(not (REPO_ROOT / "results" / RUNS_SUBDIR).is_dir(), reason="no committed results in results/runs")
def test_a_local_reproduce_leaves_the_published_run_time_table_as_committed(tmp_path):
    """The run-time table documents the published runs' wall times, also when a local reproduce draws
    it (into docs/local, which the site then shows): this machine's times are not the published ones."""
    published = REPO_ROOT / "results"
    completed = run_cli(*QUICK, "--results-dir", "mine", "--figures-dir", "figures", "--published-dir", str(published),
                        cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    committed = REPO_ROOT / "docs" / "generated"
    assert (tmp_path / "figures" / "timings.md").read_text() == (committed / "timings.md").read_text()
    manifest = json.loads((tmp_path / "figures" / "manifest.json").read_text())
    assert manifest["timings.md"] == json.loads((committed / "manifest.json").read_text())["timings.md"]


def test_a_second_invocation_trains_nothing_and_leaves_results_untouched(quick_results, tmp_path):
    results = _copy_results(quick_results, tmp_path)
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in (results / RUNS_SUBDIR).glob("*.json")}
    completed = run_cli(*QUICK, "--results-dir", "results", "--figures-dir", "figures", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "trained 0 runs" in completed.stderr and f"reused {QUICK_RUNS}" in completed.stderr
    after = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in (results / RUNS_SUBDIR).glob("*.json")}
    assert after == before


def test_the_default_stacks_mnist1d_runs_and_stack_1_trains_the_same_runs_one_at_a_time(quick_results, tmp_path):
    """By default the quick plan's mnist1d runs train as stacks of matrix products (``cnn1d-gemm``);
    ``--stack 1`` stores the same run ids through the nn.Module layers, with final accuracies within
    1 point (10 of mnist1d's 1,000 test images): the two differ only in the order of float additions,
    which can flip a few borderline predictions."""
    work, completed = quick_results
    assert completed.returncode == 0, completed.stderr
    alone = run_cli(*QUICK, "--stack", "1", "--results-dir", "results", "--figures-dir", "figures", cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert f"trained {QUICK_RUNS} runs" in alone.stderr
    stacked_runs, _ = load_runs(work / "results")
    single_runs, problems = load_runs(tmp_path / "results")
    assert problems == [] and stacked_runs.keys() == single_runs.keys()
    assert {run.record["metadata"]["compute_path"] for run in stacked_runs.values()} == {"cnn1d-gemm"}
    assert max(run.record["metadata"]["stacked_runs"] for run in stacked_runs.values()) > 1
    for run_id, run in single_runs.items():
        assert run.record["metadata"]["stacked_runs"] == 1 and run.record["metadata"]["compute_path"] == "modules"
        difference = abs(run.history["test_accuracy"][-1] - stacked_runs[run_id].history["test_accuracy"][-1])
        assert difference <= 0.01


@pytest.fixture(scope="module")
def damaged_plots_only(quick_results, tmp_path_factory):
    """--plots-only over the quick results with one file truncated and one from a newer schema."""
    work = tmp_path_factory.mktemp("damaged")
    results = _copy_results(quick_results, work)
    truncated, other_schema = sorted((results / RUNS_SUBDIR).glob("*.json"))[:2]
    damaged = truncated.read_bytes()[: len(truncated.read_bytes()) // 2]
    truncated.write_bytes(damaged)
    record = json.loads(other_schema.read_text())
    record["schema_version"] = SCHEMA_VERSION + 1
    other_schema.write_text(json.dumps(record))
    completed = run_cli(*QUICK, "--plots-only", "--results-dir", "results", "--figures-dir", "figures", cwd=work)
    return work, completed, truncated, damaged, other_schema


def test_truncated_results_file_is_reported_not_plotted_and_kept(damaged_plots_only):
    work, completed, truncated, damaged, _ = damaged_plots_only
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    reported = [line for line in completed.stderr.splitlines() if truncated.name in line]
    assert reported and "not plotted" in reported[0] and "truncated" in reported[0]
    assert truncated.read_bytes() == damaged, "a damaged file must never be deleted or rewritten by --plots-only"
    assert json.loads((work / "figures" / "manifest.json").read_text()), "the intact runs are still drawn"
    assert f"figures show the {QUICK_RUNS - 2} that are" in completed.stderr


def test_results_file_of_another_schema_version_is_reported_and_skipped(damaged_plots_only):
    _, completed, _, _, other_schema = damaged_plots_only
    assert completed.returncode == 0, completed.stderr
    reported = [line for line in completed.stderr.splitlines() if other_schema.name in line]
    assert reported and f"schema version {SCHEMA_VERSION + 1}" in reported[0] and "not plotted" in reported[0]
    assert json.loads(other_schema.read_text())["schema_version"] == SCHEMA_VERSION + 1


def test_damaged_file_of_a_planned_run_is_retrained_and_the_old_one_kept(quick_results, tmp_path):
    results = _copy_results(quick_results, tmp_path)
    victim = sorted((results / RUNS_SUBDIR).glob("*.json"))[0]
    victim.write_text('{"schema_version": 1, "run_id": ')
    completed = run_cli(*QUICK, "--results-dir", "results", "--figures-dir", "figures", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "trained 1 runs" in completed.stderr and f"reused {QUICK_RUNS - 1}" in completed.stderr
    runs, problems = load_runs(results)
    assert len(runs) == QUICK_RUNS and problems == []
    kept = list((results / RUNS_SUBDIR).glob(f"{victim.name}.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"schema_version": 1, "run_id": '


def test_offline_dataset_fails_before_training_anything(tmp_path):
    """An embedded run listed first must not train before the missing dataset is noticed."""
    (tmp_path / "empty").mkdir()
    completed = run_cli("--quick", "--datasets", "mnist1d", "cifar10", "--data-dir", "empty",
                        "--results-dir", "results", cwd=tmp_path, timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "'cifar10' is not available" in completed.stderr.strip().splitlines()[-1]
    assert not list(tmp_path.glob(f"results/{RUNS_SUBDIR}/*.json"))


def test_a_mistyped_flag_fails_before_torch_is_imported(tmp_path):
    """Flag errors are caught by the torch-free pre-check (lossdemo.cli_args): instant, not seconds."""
    import subprocess

    from support import cli_env, reproduce_command

    command = reproduce_command("--seeds", "0")
    completed = subprocess.run([command[0], "-X", "importtime", *command[1:]], cwd=tmp_path, env=cli_env(),
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    imported = {line.split("|")[-1].strip() for line in completed.stderr.splitlines() if line.startswith("import time:")}
    assert "lossdemo.cli_args" in imported and "torch" not in imported
    assert completed.stderr.strip().splitlines()[-1] == "error: argument --seeds: seeds 0 is invalid; allowed: an integer > 0"
