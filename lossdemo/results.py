"""Store and load runs: one JSON file per run, named by the hash of its config.

Files are written to a unique temporary name and renamed into place, so a reader (or a second
reproduce on the same directory) never sees a half-written result, even after ``kill -9``. Because the
name is the config hash, a finished run is found again on the next invocation and never recomputed.

Temporary files are hidden (``.<name>.<host>-<pid>.<random>.tmp``) and never match ``*.json``, so
loaders ignore them; the ones a killed process left behind are removed by
``lossdemo.atomic_files.clean_stale_temp_files``. An unreadable results file is never deleted: when its run is
recomputed, the old file is kept next to the new one as ``<name>.corrupt-<UTC time>``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import itertools
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__
from .atomic_files import clean_stale_temp_files, write_atomic, write_json_atomic  # noqa: F401 (re-exported)
from .machine import machine_problem, machine_record
from .run_config import STORED_STATUSES, RunConfig, RunOutcome, RunStatus

SCHEMA_VERSION = 1
RUNS_SUBDIR = "runs"
STATUSES = STORED_STATUSES
_REQUIRED_KEYS = ("schema_version", "run_id", "config", "history", "status", "metadata")
_REQUIRED_HISTORY = (
    "train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_ce", "test_ce", "test_per_class_accuracy",
)


class ResultsFileError(ValueError):
    """A results file that cannot be used: unreadable, not JSON, wrong schema or inconsistent."""


@dataclass(frozen=True)
class StoredRun:
    """A loaded run: its config as a dataclass plus the raw JSON record."""

    path: Path
    config: RunConfig
    record: dict

    @property
    def history(self) -> dict:
        return self.record["history"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @functools.cached_property
    def digest(self) -> bytes:
        """sha256 of the run's id, history and status, computed once per loaded run: the generated
        files' fingerprints (``lossdemo.report.output``) combine the digests of the runs they read."""
        digest = hashlib.sha256(self.config.run_id.encode())
        digest.update(json.dumps(self.record["history"], sort_keys=True).encode())
        digest.update(self.record["status"].encode())
        return digest.digest()


def run_path(results_dir: str | Path, config: RunConfig) -> Path:
    return Path(results_dir) / RUNS_SUBDIR / f"{config.run_id}.json"


def git_revision() -> str | None:
    """The checkout's commit (with ``-dirty`` when modified), or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}-dirty" if dirty else revision


def outcome_to_record(outcome: RunOutcome, started_at: str | None = None, revision: str | None = None) -> dict:
    """The JSON-ready record of a run, with provenance metadata.

    ``metadata["machine"]`` (``lossdemo.machine``) names the CPU, its instruction set, the MKL and
    oneDNN versions and the CUDA device: what makes two machines' last bits differ. It lives in the
    metadata, so it never enters the run id: the same config on another machine is the same run.
    """
    finished_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": outcome.config.run_id,
        "config": outcome.config.to_dict(),
        "history": outcome.history,
        "status": RunStatus(outcome.status).value,
        "diverged_epoch": outcome.diverged_epoch,
        "metadata": {
            "lossdemo_version": __version__,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "platform": platform.platform(),
            "device": outcome.device,
            "machine": machine_record(outcome.device),
            "precision": outcome.precision,
            "stacked_runs": outcome.stacked_runs,
            "compute_path": outcome.compute_path,
            "git_revision": revision,
            "wall_time_s": round(outcome.wall_time_s, 3),
            "started_at": started_at or finished_at,
            "finished_at": finished_at,
        },
    }


def quarantine(path: Path) -> Path:
    """Rename an unusable results file to ``<name>.corrupt-<UTC time>`` (kept, but no longer ``*.json``)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    return target


def save_run(results_dir: str | Path, outcome: RunOutcome, started_at: str | None = None) -> Path:
    """Store a finished (complete or diverged) run and return its path.

    A valid earlier result for the same config is replaced (that is what ``--force`` asks for); an
    unreadable one is kept as ``<name>.corrupt-<UTC time>`` rather than overwritten.
    """
    path = run_path(results_dir, outcome.config)
    record = outcome_to_record(outcome, started_at=started_at, revision=git_revision())
    if path.exists():
        try:
            load_run(path)
        except ResultsFileError:
            quarantine(path)
    write_json_atomic(path, record)
    return path


def validate_record(record: object, source: str) -> RunConfig:
    """Check a record's structure and return its config; raise ResultsFileError naming the problem."""
    if not isinstance(record, dict):
        raise ResultsFileError(f"{source}: expected a JSON object, got {type(record).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in record]
    if missing:
        raise ResultsFileError(f"{source}: missing key(s) {missing}")
    if record["schema_version"] != SCHEMA_VERSION:
        raise ResultsFileError(
            f"{source}: schema version {record['schema_version']!r} is not supported; "
            f"this lossdemo reads version {SCHEMA_VERSION} (rerun with --force to recompute it)"
        )
    metadata = record["metadata"]
    if not isinstance(metadata, dict):
        raise ResultsFileError(f"{source}: metadata must be a JSON object, got {type(metadata).__name__}")
    # Runs stored before machines were recorded lack it; one that has it must be usable.
    if "machine" in metadata and (problem := machine_problem(metadata["machine"])):
        raise ResultsFileError(f"{source}: metadata 'machine' {problem}")
    if record["status"] not in STATUSES:
        raise ResultsFileError(f"{source}: status {record['status']!r} is invalid; allowed: {', '.join(STATUSES)}")
    if not isinstance(record["config"], dict):
        raise ResultsFileError(f"{source}: config must be a JSON object, got {type(record['config']).__name__}")
    try:
        config = RunConfig.from_dict(record["config"])
    except (TypeError, ValueError) as error:
        raise ResultsFileError(f"{source}: invalid config ({error})") from None
    if config.run_id != record["run_id"]:
        raise ResultsFileError(f"{source}: run_id {record['run_id']!r} does not match its config ({config.run_id})")
    history = record["history"]
    if not isinstance(history, dict):
        raise ResultsFileError(f"{source}: history must be a JSON object, got {type(history).__name__}")
    missing_history = [key for key in _REQUIRED_HISTORY if key not in history]
    if missing_history:
        raise ResultsFileError(f"{source}: history lacks {missing_history}")
    not_lists = [key for key in _REQUIRED_HISTORY if not isinstance(history[key], list)]
    if not_lists:
        raise ResultsFileError(f"{source}: history entries {not_lists} must be lists, one value per epoch")
    # Figures and tables compute with these, so a wrong type must stop here, not inside matplotlib.
    for key in ("train_accuracy", "test_accuracy"):
        if not _all_fractions(history[key]):
            raise ResultsFileError(f"{source}: history {key!r} holds a value that is not a number in [0, 1]")
    for key in ("train_loss", "test_loss", "train_ce", "test_ce"):  # null marks a non-finite value
        if not _all_finite_numbers([value for value in history[key] if value is not None]):
            raise ResultsFileError(f"{source}: history {key!r} holds a value that is neither a finite number nor null")
    rows = history["test_per_class_accuracy"]
    if not (all(type(row) is list for row in rows) and _all_fractions(list(itertools.chain.from_iterable(rows)))):
        raise ResultsFileError(f"{source}: history 'test_per_class_accuracy' must hold lists of numbers in [0, 1]")
    if record["status"] == RunStatus.DIVERGED and not _is_int(record.get("diverged_epoch")):
        raise ResultsFileError(f"{source}: marked diverged but diverged_epoch is {record.get('diverged_epoch')!r}")
    if "val_accuracy" in history:  # runs with a validation split: selection reads it, so check it like the test's
        if not isinstance(history["val_accuracy"], list) or not _all_fractions(history["val_accuracy"]):
            raise ResultsFileError(f"{source}: history 'val_accuracy' holds a value that is not a number in [0, 1]")
        if len(history["val_accuracy"]) != len(history["test_accuracy"]):
            raise ResultsFileError(f"{source}: history 'val_accuracy' has {len(history['val_accuracy'])} epochs, "
                                   f"the others {len(history['test_accuracy'])}")
    lengths = {len(history[key]) for key in _REQUIRED_HISTORY}
    if len(lengths) != 1:
        raise ResultsFileError(f"{source}: history lists have different lengths {sorted(lengths)}")
    if record["status"] == RunStatus.COMPLETE and lengths != {config.epochs}:
        raise ResultsFileError(f"{source}: marked complete but has {lengths.pop()} of {config.epochs} epochs")
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _all_finite_numbers(values: list) -> bool:
    """Every value an int or float (JSON's true/false are not numbers here) and finite. Checked a list
    at a time: loading the site's results reads about a million values."""
    return set(map(type, values)) <= {int, float} and all(map(math.isfinite, values))


def _all_fractions(values: list) -> bool:
    """Every value a finite number in [0, 1] (see :func:`_all_finite_numbers`)."""
    return _all_finite_numbers(values) and (not values or (min(values) >= 0.0 and max(values) <= 1.0))


def load_run(path: str | Path) -> StoredRun:
    """Load and validate one results file; raise ResultsFileError with a one-line reason."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsFileError(f"{path}: cannot read ({error.__class__.__name__}: {error})") from None
    except json.JSONDecodeError as error:
        raise ResultsFileError(f"{path}: not valid JSON ({error.msg} at line {error.lineno}); it may be truncated") from None
    return StoredRun(path=path, config=validate_record(record, str(path)), record=record)


def load_runs(results_dir: str | Path) -> tuple[dict[str, StoredRun], list[str]]:
    """All valid runs under ``results_dir`` keyed by run id, and one line per file that was skipped.

    Skipped files are reported, never deleted: a corrupt file may be the only copy of hours of work.
    """
    runs: dict[str, StoredRun] = {}
    problems: list[str] = []
    for path in sorted((Path(results_dir) / RUNS_SUBDIR).glob("*.json")):
        try:
            stored = load_run(path)
        except ResultsFileError as error:
            problems.append(str(error))
            continue
        if path.stem != stored.config.run_id:
            problems.append(f"{path}: file name does not match its run_id {stored.config.run_id}")
            continue
        runs[stored.config.run_id] = stored
    return runs, problems
