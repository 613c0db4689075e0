"""Interruptions and concurrency, with real processes: Ctrl-C, SIGTERM, kill -9, two reproduces at once.

Each test starts ``python -m lossdemo.reproduce`` on a two-run plan with per-epoch checkpoints,
waits until the first run is stored and the second is mid-training (its first checkpoint exists),
then interrupts it. Run: pytest tests/test_interrupts.py -q
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest
from support import run_cli, start_cli

import lossdemo.atomic_files as atomic_files
from lossdemo.checkpoints import CHECKPOINTS_SUBDIR
from lossdemo.results import RUNS_SUBDIR, load_run, load_runs

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# "--shard 1/1" is the whole plan, without the figures at the end: drawing is not what these tests are about.
# "--workers 1": the runs one after the other, so there is a moment with one run stored and one in flight.
# Runs long enough (seconds each) that the signal always lands while the second one is in flight.
EPOCHS = 40
# One γ of the sweep that is not in the convergence claim gives four runs of the same length: two
# seeds under the fair protocol and two under the shared recipe.
FOUR_RUNS = ("--quick", "--experiments", "gamma-sweep", "--losses", "focal:1", "--seeds", "2", "--epochs", str(EPOCHS),
            "--checkpoint", "--shard", "1/1",
            "--workers", "1", "--results-dir", "results", "--figures-dir", "figures")


def _wait_until_mid_second_run(process, results: Path, timeout: float = 240) -> None:
    """Block until one run is stored and the next one has checkpointed an epoch (so it is in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"reproduce ended before it could be interrupted:\n{process.communicate()[1]}")
        stored = list((results / RUNS_SUBDIR).glob("*.json"))
        checkpoints = list((results / CHECKPOINTS_SUBDIR).glob("*.pt"))
        if stored and checkpoints:
            return
        time.sleep(0.02)
    process.kill()
    pytest.fail("timed out waiting for the second run to start")


def _snapshot(paths) -> dict[str, tuple[int, int, bytes]]:
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns, path.read_bytes()) for path in paths}


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_keeps_finished_runs_and_resumes(signal_number, tmp_path):
    results = tmp_path / "results"
    process = start_cli(*FOUR_RUNS, cwd=tmp_path)
    _wait_until_mid_second_run(process, results)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    last_line = stderr.strip().splitlines()[-1]
    assert "interrupted" in last_line and "to resume" in last_line
    assert "python -m lossdemo.reproduce" in last_line and "--checkpoint" in last_line, "says which command resumes"
    finished = list((results / RUNS_SUBDIR).glob("*.json"))
    assert len(finished) == 1, "exactly the finished run is stored; the run in flight is not"
    assert load_run(finished[0]).status == "complete"
    (checkpoint,) = (results / CHECKPOINTS_SUBDIR).glob("*.pt")
    assert checkpoint.stem != finished[0].stem
    before = _snapshot(finished)

    if signal_number == signal.SIGTERM:
        return  # resuming is the same code for both signals; run it once to keep the suite short
    resumed = run_cli(*FOUR_RUNS, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "trained 3 runs" in resumed.stderr and "reused 1" in resumed.stderr
    assert _snapshot(finished) == before, "the finished run was not recomputed or rewritten"
    runs, problems = load_runs(results)
    assert len(runs) == 4 and problems == []
    assert all(len(run.history["test_accuracy"]) == EPOCHS for run in runs.values())
    assert not checkpoint.exists(), "the checkpoint goes once its run is stored"


def test_kill_9_leaves_no_visible_partial_result(tmp_path):
    results = tmp_path / "results"
    process = start_cli(*FOUR_RUNS, cwd=tmp_path)
    _wait_until_mid_second_run(process, results)
    process.kill()  # SIGKILL: no handler, no finally, no clean-up runs
    process.communicate(timeout=60)

    runs, problems = load_runs(results)
    assert len(runs) == 1 and problems == [], "every visible result is complete and valid"
    # What a kill in the middle of a write leaves: the dead process's hidden temp files.
    run_dir, checkpoint_dir = results / RUNS_SUBDIR, results / CHECKPOINTS_SUBDIR
    owner = f"{atomic_files._host_tag()}-{process.pid}"
    half_result = run_dir / f".0123456789abcdef.json.{owner}.k1ll3d.tmp"
    half_result.write_text('{"schema_version": 1, "run_id": "01234')
    (checkpoint,) = checkpoint_dir.glob("*.pt")
    half_checkpoint = checkpoint_dir / f".{checkpoint.name}.{owner}.k1ll3d.tmp"
    half_checkpoint.write_bytes(checkpoint.read_bytes()[:64])
    assert load_runs(results) == (runs, []), "temp files are never read as results"
    visible = sorted(path.name for path in run_dir.iterdir() if not path.name.startswith("."))
    assert visible == [f"{run_id}.json" for run_id in runs]

    resumed = run_cli(*FOUR_RUNS, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "removed a temp file left by a killed process" in resumed.stderr
    assert not half_result.exists() and not half_checkpoint.exists()
    runs, problems = load_runs(results)
    assert len(runs) == 4 and problems == []
    assert sorted(path.name for path in run_dir.iterdir()) == sorted(f"{run_id}.json" for run_id in runs)


def test_two_reproduces_on_one_results_dir_store_every_run_once(tmp_path):
    plan = ("--quick", "--losses", "ce", "mae", "--seeds", "2", "--epochs", "2", "--shard", "1/1", "--workers", "1",
            "--results-dir", "shared")
    first = start_cli(*plan, "--figures-dir", "figures-a", cwd=tmp_path)
    second = start_cli(*plan, "--figures-dir", "figures-b", cwd=tmp_path)
    outputs = [process.communicate(timeout=600)[1] for process in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs

    runs, problems = load_runs(tmp_path / "shared")
    # 2 losses × 2 seeds × (fair protocol, short budget, shared recipe), and ce's shared recipe twice as long
    assert len(runs) == 14 and problems == []
    run_dir = tmp_path / "shared" / RUNS_SUBDIR
    assert sorted(path.name for path in run_dir.iterdir()) == sorted(f"{run_id}.json" for run_id in runs)
    trained = [int(line.split("trained ")[1].split(" runs")[0]) for output in outputs
               for line in output.splitlines() if line.startswith("trained ")]
    assert len(trained) == 2 and sum(trained) == 14, f"each run trained exactly once: {outputs}"
    for run in runs.values():
        json.loads(run.path.read_text())  # every file is whole


def test_the_first_sigterm_interrupts_and_later_ones_are_ignored_while_it_unwinds():
    import signal as signals

    from lossdemo import reproduce

    previous = {number: signals.getsignal(number) for number in (signals.SIGTERM, signals.SIGINT)}
    try:
        with pytest.raises(KeyboardInterrupt):
            reproduce._raise_keyboard_interrupt(signals.SIGTERM, None)
        assert signals.getsignal(signals.SIGTERM) == signals.SIG_IGN
        assert signals.getsignal(signals.SIGINT) == signals.SIG_IGN
    finally:
        for number, handler in previous.items():
            signals.signal(number, handler)
