"""Helpers shared by the tests: the repository's paths, fake stored runs, a tiny dataset, and the
real CLI in a subprocess.

Test files import what they use from here, so each says where its helpers come from;
``conftest.py`` offers the same helpers as fixtures and declares the markers.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from lossdemo.data import Dataset, load_dataset
from lossdemo.results import StoredRun
from lossdemo.run_config import RunConfig, RunStatus

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
GENERATED_DIR = DOCS_DIR / "generated"
NOTEBOOK_DIR = DOCS_DIR / "notebooks"
PUBLISHED_DIR = REPO_ROOT / "results"
WORKFLOWS_DIR = REPO_ROOT / ".github" / "workflows"
TINY_TRAIN, TINY_TEST = 512, 256
# Any proxy-aware download fails at once with "connection refused" (port 9 is "discard"), so no
# test can reach or wait on the network, whatever network the machine has.
NO_NETWORK_ENV = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
                  "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                  "no_proxy": "", "NO_PROXY": ""}


@functools.cache
def tiny_dataset() -> Dataset:
    """The first 512 train / 256 test samples of mnist1d: a run of a few epochs takes well under a second."""
    full = load_dataset("mnist1d")
    return Dataset("mnist1d", full.x_train[:TINY_TRAIN].clone(), full.y_train[:TINY_TRAIN].clone(),
                   full.x_test[:TINY_TEST].clone(), full.y_test[:TINY_TEST].clone(), full.num_classes,
                   full.class_names)


@contextlib.contextmanager
def lock_held_by_an_interrupted_process(results_dir: Path, run_id: str, release_after_s: float):
    """Inside the block, "another process" (a thread) holds ``run_id``'s lock; it lets go after
    ``release_after_s`` seconds without storing the run, as a reproduce stopped by Ctrl-C would."""
    from lossdemo.runner import run_lock

    holding, release = threading.Event(), threading.Event()

    def interrupted_process():
        with run_lock(results_dir, run_id):
            holding.set()
            release.wait(60)

    other = threading.Thread(target=interrupted_process)
    other.start()
    holding.wait(10)
    timer = threading.Timer(release_after_s, release.set)
    timer.start()
    try:
        yield
    finally:
        release.set()
        timer.cancel()
        other.join()


# Set by job schedulers, read by `--shard auto`: a suite run inside a cluster job must not inherit them.
SCHEDULER_VARIABLES = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT",
                       "JOB_COMPLETION_INDEX")


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for CLI subprocesses: one torch thread each (tests run several at once), no network,
    no job-scheduler variables unless given in ``extra``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", **NO_NETWORK_ENV)
    for name in ("PYTHONWARNINGS", *SCHEDULER_VARIABLES):
        env.pop(name, None)
    env.update(extra)
    return env


def reproduce_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lossdemo.reproduce", "--no-progress", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m lossdemo.reproduce ARGS`` to completion, capturing text output."""
    return subprocess.run(reproduce_command(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """Start the CLI without waiting (for signal tests); stderr is captured as text."""
    return subprocess.Popen(reproduce_command(*args), cwd=cwd, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A shell running a script in the background (`bash .ci/run &`) starts its children with SIGINT
    # ignored, and Python then never installs its Ctrl-C handler. Give the CLI the SIGINT a user's
    # terminal would, so the signal tests test the CLI rather than how the suite was launched.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stored_run(config: RunConfig, history: dict, status: str = RunStatus.COMPLETE, record: dict | None = None) -> StoredRun:
    """A stored run as ``load_run`` would return it, without a file: the one way tests fake one.

    ``history`` holds only what the code under test reads; ``record`` replaces the whole record
    (e.g. ``results.outcome_to_record`` of a real outcome).
    """
    record = record if record is not None else {"history": history, "status": str(status)}
    return StoredRun(path=Path(f"{config.run_id}.json"), config=config, record=record)


def load_docs_hook(name: str):
    """The MkDocs hook ``docs/hooks/<name>.py`` as a module (hooks are files, not an importable package)."""
    spec = importlib.util.spec_from_file_location(name, DOCS_DIR / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HISTORY_RTOL = 1e-4  # stacked and single runs differ only in the order of float additions
BATCH_NORM_RTOL = 1e-3  # batch norm divides by a batch's spread, which magnifies those differences


def assert_histories_close(single: dict, stacked: dict, test_samples: int, rtol: float = HISTORY_RTOL) -> None:
    assert single.keys() == stacked.keys()
    for key in single:
        if key == "test_predictions":  # per-sample answers: a borderline sample may flip
            assert_predictions_close(single[key], stacked[key], 1.5 / min(test_samples, 128))
            continue
        if isinstance(single[key], dict) or single[key] is None:  # a histogram: a borderline sample may change bins
            assert (single[key] is None) == (stacked[key] is None)
            if single[key] is not None:
                assert single[key].keys() == stacked[key].keys()
                assert sum(single[key]["count"]) == sum(stacked[key]["count"])
            continue
        if not isinstance(single[key], list):  # fitted at the last epoch (the temperature and what it gives)
            assert stacked[key] == pytest.approx(single[key], rel=100 * rtol), key
            continue
        for expected, actual in zip(single[key], stacked[key], strict=True):
            expected_values = expected if isinstance(expected, list) else [expected]
            actual_values = actual if isinstance(actual, list) else [actual]
            for want, got in zip(expected_values, actual_values, strict=True):
                if want is None or got is None:
                    assert want is got, key
                elif "accuracy" in key or "ece" in key:  # one borderline sample may flip, or change bins
                    assert abs(want - got) <= 1.5 / min(test_samples, 128) + 1e-6, key
                else:
                    assert got == pytest.approx(want, rel=rtol, abs=1e-5), key


# What "the same run" means across processes and stack compositions: MKL's default results can depend
# on memory alignment (which differs with the allocations around a run), so the last bits may move;
# a float64 temperature fitted to a minimum magnifies that to about 1e-8. Anything larger is a real change.
SAME_RUN_RTOL = 1e-6


def assert_predictions_close(expected: dict, actual: dict, share: float) -> None:
    """Two runs' stored test predictions: the same labels, and answers that differ on at most ``share``
    of the samples (the selected epoch may move when two epochs' validation accuracies nearly tie)."""
    assert expected.keys() == actual.keys() and expected["labels"] == actual["labels"]
    for which in ("selected", "last"):
        if which in expected:
            assert len(expected[which]) == len(actual[which])
            if which == "selected" and expected["selected_epoch"] != actual["selected_epoch"]:
                continue
            differing = sum(a != b for a, b in zip(expected[which], actual[which]))
            assert differing <= share * len(expected[which]) + 1, (which, differing)


def assert_same_numbers(expected, actual, path: str = "history", rtol: float = SAME_RUN_RTOL) -> None:
    """``actual`` has ``expected``'s structure, its integers (counts) exactly and its floats to ``rtol``.

    A reliability histogram's counts may move one sample between neighbouring bins (a confidence on a
    bin edge), so a count may differ by one as long as the total is the same.
    """
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and expected.keys() == actual.keys(), path
        if "labels" in expected and "last" in expected:  # per-sample test predictions
            assert_predictions_close(expected, actual, 0.005)
            return
        if "count" in expected and "confidence" in expected:  # a reliability histogram
            assert sum(expected["count"]) == sum(actual["count"]), path
            assert all(abs(a - b) <= 1 for a, b in zip(expected["count"], actual["count"], strict=True)), path
            return
        for key in expected:
            assert_same_numbers(expected[key], actual[key], f"{path}.{key}", rtol)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), path
        for index, (want, got) in enumerate(zip(expected, actual)):
            assert_same_numbers(want, got, f"{path}[{index}]", rtol)
    elif isinstance(expected, float) and isinstance(actual, float):
        assert actual == pytest.approx(expected, rel=rtol, abs=1e-12), f"{path}: {expected!r} vs {actual!r}"
    else:
        assert expected == actual, f"{path}: {expected!r} vs {actual!r}"
