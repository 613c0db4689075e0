"""Stored results: JSON round trip, validation of damaged files, atomic writes, temp-file clean-up.

Run: pytest tests/test_results.py -q
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lossdemo.atomic_files as atomic_files
from lossdemo.atomic_files import clean_stale_temp_files, write_json_atomic
from lossdemo.machine import (
    MACHINE_FIELDS,
    capability_from_build_config,
    cpu_model_from_cpuinfo,
    cuda_device_name,
    library_versions,
    machine_record,
)
from lossdemo.results import (
    RUNS_SUBDIR,
    SCHEMA_VERSION,
    ResultsFileError,
    load_run,
    load_runs,
    outcome_to_record,
    run_path,
    save_run,
    validate_record,
)
from lossdemo.train import RunConfig, RunOutcome


def fake_outcome(epochs: int = 3, seed: int = 0, status: str = "complete") -> RunOutcome:
    """A run's outcome without training: results code only cares about the shape of the numbers."""
    config = RunConfig(epochs=epochs, seed=seed)
    history = {
        "train_loss": [2.0 - 0.1 * e for e in range(epochs)],
        "test_loss": [2.1 - 0.1 * e for e in range(epochs)],
        "train_accuracy": [0.3 + 0.1 * e for e in range(epochs)],
        "test_accuracy": [0.25 + 0.1 * e for e in range(epochs)],
        "train_ce": [2.0] * epochs,
        "test_ce": [2.1] * epochs,
        "test_per_class_accuracy": [[0.5] * 10 for _ in range(epochs)],
    }
    outcome = RunOutcome(config=config, history=history, wall_time_s=1.25, device="cpu")
    if status == "diverged":
        outcome.status, outcome.diverged_epoch = "diverged", epochs
        history["train_loss"][-1] = None
    return outcome


def test_a_run_round_trips_through_json(tmp_path):
    outcome = fake_outcome()
    path = save_run(tmp_path, outcome, started_at="2024-01-01T00:00:00+00:00")
    assert path == tmp_path / RUNS_SUBDIR / f"{outcome.config.run_id}.json"
    stored = load_run(path)
    assert stored.config == outcome.config
    assert stored.history == outcome.history
    assert stored.status == "complete"
    metadata = stored.record["metadata"]
    for key in ("lossdemo_version", "torch_version", "python_version", "device", "git_revision", "wall_time_s",
                "started_at", "finished_at"):
        assert key in metadata
    assert metadata["started_at"] == "2024-01-01T00:00:00+00:00"
    assert stored.record["schema_version"] == SCHEMA_VERSION


def test_a_saved_run_names_the_machine_it_was_computed_on(tmp_path):
    machine = load_run(save_run(tmp_path, fake_outcome())).record["metadata"]["machine"]
    assert list(machine) == list(MACHINE_FIELDS)
    assert machine["cpu_model"].strip()
    assert machine["cpu_capability"] == str(torch.backends.cpu.get_cpu_capability())
    assert machine["cuda_device"] is None, "a run on the CPU names no GPU"
    for key, available in (("mkl_version", torch.backends.mkl.is_available()),
                           ("onednn_version", torch.backends.mkldnn.is_available())):
        assert (machine[key] is not None) == available, key
        assert machine[key] is None or re.fullmatch(r"\d+(\.\d+)+", machine[key]), machine[key]


def test_the_machine_is_provenance_not_identity():
    outcome = fake_outcome()
    record = outcome_to_record(outcome)
    other = copy.deepcopy(record)
    other["metadata"]["machine"] = {**record["metadata"]["machine"], "cpu_model": "Another CPU", "cpu_capability": "AVX2"}
    assert validate_record(other, "other.json").run_id == validate_record(record, "here.json").run_id == outcome.config.run_id


def test_a_run_stored_before_machines_were_recorded_still_loads(tmp_path):
    path = save_run(tmp_path, fake_outcome())
    record = json.loads(path.read_text())
    del record["metadata"]["machine"]
    path.write_text(json.dumps(record))
    assert "machine" not in load_run(path).record["metadata"]


def test_the_build_configs_text_gives_the_library_versions_and_the_capability():
    text = ("PyTorch built with:\n  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for "
            "Intel(R) 64 architecture applications\n  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71)\n"
            "  - CPU capability usage: AVX2\n")
    assert library_versions(text) == ("2024.2", "3.12.0")
    assert capability_from_build_config(text) == "AVX2"
    older = "  - Intel(R) Math Kernel Library Version 2020.0.0 Product Build 20191122\n  - oneDNN v2.7.3 (Git Hash x)\n"
    assert library_versions(older) == ("2020.0.0", "2.7.3")
    assert library_versions("PyTorch built with:\n  - GCC 13.3\n") == (None, None)
    assert capability_from_build_config("") is None


def test_the_cpu_model_comes_from_cpuinfo_where_it_names_one():
    x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\nflags\t: fpu\n"
    assert cpu_model_from_cpuinfo(x86) == "AMD EPYC 9654 96-Core Processor"
    assert cpu_model_from_cpuinfo("processor\t: 0\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4\n") == "BCM2835"
    assert cpu_model_from_cpuinfo("processor\t: 0\nCPU part\t: 0xd0c\n") is None, "part numbers name no model"
    assert cpu_model_from_cpuinfo("model name\t:\nflags\t: fpu\n") is None, "an empty name is no name"


def test_a_run_on_the_cpu_names_no_cuda_device():
    assert cuda_device_name("cpu") is None and cuda_device_name("mps") is None
    assert machine_record("cpu")["cuda_device"] is None and machine_record("cpu")["cpu_model"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_run_on_cuda_names_the_gpu():
    assert machine_record("cuda")["cuda_device"] == torch.cuda.get_device_name(0)
    assert machine_record("cuda:0")["cuda_device"] == torch.cuda.get_device_name(0)


def test_a_diverged_run_round_trips_with_its_epoch_and_null_loss(tmp_path):
    path = save_run(tmp_path, fake_outcome(status="diverged"))
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    stored = load_run(path)
    assert stored.status == "diverged" and stored.record["diverged_epoch"] == 3
    assert stored.history["train_loss"][-1] is None


def test_load_runs_keys_by_run_id_and_ignores_temp_and_foreign_files(tmp_path):
    outcomes = [fake_outcome(seed=seed) for seed in range(3)]
    for outcome in outcomes:
        save_run(tmp_path, outcome)
    runs_dir = tmp_path / RUNS_SUBDIR
    (runs_dir / ".abc.json.host-1.x.tmp").write_text('{"half": ')
    (runs_dir / "notes.txt").write_text("hello")
    runs, problems = load_runs(tmp_path)
    assert set(runs) == {outcome.config.run_id for outcome in outcomes}
    assert problems == []


def _valid_record() -> dict:
    return outcome_to_record(fake_outcome())


def _mutations():
    """(id, function that damages a valid record in place, fragment of the expected message)."""
    def setter(key, value):
        return lambda record: record.__setitem__(key, value)

    def history_setter(key, value):
        return lambda record: record["history"].__setitem__(key, value)

    def machine_setter(key, value):
        """Set one field of metadata["machine"], or (key None) the whole of it."""
        if key is None:
            return lambda record: record["metadata"].__setitem__("machine", value)
        return lambda record: record["metadata"]["machine"].__setitem__(key, value)

    return [
        ("not-an-object", None, "expected a JSON object"),
        ("missing-history", lambda r: r.pop("history"), "missing key"),
        ("other-schema", setter("schema_version", SCHEMA_VERSION + 1), "schema version"),
        ("bad-status", setter("status", "fine"), "status 'fine' is invalid"),
        ("config-not-object", setter("config", [1, 2]), "config must be a JSON object"),
        ("unknown-config-field", lambda r: r["config"].__setitem__("colour", "red"), "unknown run config field"),
        ("invalid-config", lambda r: r["config"].__setitem__("epochs", 0), "invalid config"),
        ("run-id-mismatch", setter("run_id", "0" * 16), "does not match its config"),
        ("history-not-object", setter("history", []), "history must be a JSON object"),
        ("history-entry-not-list", history_setter("test_accuracy", 0.5), "must be lists"),
        ("accuracy-out-of-range", history_setter("test_accuracy", [0.1, 0.2, 1.5]), "not a number in [0, 1]"),
        ("accuracy-nan", history_setter("test_accuracy", [0.1, 0.2, float("nan")]), "not a number in [0, 1]"),
        ("loss-not-a-number", history_setter("test_loss", [1.0, "low", 0.5]), "neither a finite number nor null"),
        ("per-class-not-lists", history_setter("test_per_class_accuracy", [0.5, 0.5, 0.5]), "lists of numbers"),
        ("ragged-history", history_setter("test_loss", [1.0]), "different lengths"),
        ("complete-but-short", lambda r: [r["history"][k].pop() for k in list(r["history"])], "marked complete"),
        ("diverged-without-epoch", lambda r: (r.__setitem__("status", "diverged"), r.__setitem__("diverged_epoch", None)),
         "diverged_epoch"),
        ("metadata-not-object", setter("metadata", "laptop"), "metadata must be a JSON object"),
        ("machine-not-object", machine_setter(None, "AMD EPYC"), "metadata 'machine' must be a JSON object, got str"),
        ("machine-missing-key", lambda r: r["metadata"]["machine"].pop("onednn_version"), "lacks ['onednn_version']"),
        ("machine-unknown-key", machine_setter("cpu_cores", 16), "unknown key(s) ['cpu_cores']"),
        ("machine-model-null", machine_setter("cpu_model", None), "cpu_model is None; allowed: a non-empty string"),
        ("machine-capability-number", machine_setter("cpu_capability", 512), "cpu_capability is 512"),
        ("machine-mkl-empty", machine_setter("mkl_version", ""), "mkl_version is ''; allowed: a non-empty string or null"),
    ]


@pytest.mark.parametrize("mutation", _mutations(), ids=[m[0] for m in _mutations()])
def test_damaged_records_raise_results_file_error_naming_the_problem(mutation):
    _, damage, fragment = mutation
    record = _valid_record()
    if damage is None:
        record = [record]
    else:
        damage(record)
    with pytest.raises(ResultsFileError, match=None) as raised:
        validate_record(record, "some/file.json")
    assert fragment in str(raised.value) and "some/file.json" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_truncated_and_non_utf8_files_are_results_file_errors(tmp_path):
    path = save_run(tmp_path, fake_outcome())
    text = path.read_bytes()
    path.write_bytes(text[: len(text) // 3])
    with pytest.raises(ResultsFileError, match="truncated"):
        load_run(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultsFileError, match="cannot read"):
        load_run(path)


def test_load_runs_reports_damaged_files_and_never_deletes_them(tmp_path):
    good = save_run(tmp_path, fake_outcome(seed=0))
    bad = save_run(tmp_path, fake_outcome(seed=1))
    bad.write_text('{"schema_version": 1')
    renamed = tmp_path / RUNS_SUBDIR / "0123456789abcdef.json"
    renamed.write_text(good.read_text())
    runs, problems = load_runs(tmp_path)
    assert list(runs) == [good.stem]
    assert len(problems) == 2
    assert any(bad.name in line and "not valid JSON" in line for line in problems)
    assert any(renamed.name in line and "file name does not match" in line for line in problems)
    assert bad.exists() and renamed.exists()


def test_saving_over_a_damaged_file_keeps_it_as_corrupt(tmp_path):
    outcome = fake_outcome()
    path = run_path(tmp_path, outcome.config)
    path.parent.mkdir(parents=True)
    path.write_text("{ damaged")
    save_run(tmp_path, outcome)
    assert load_run(path).history == outcome.history
    kept = list(path.parent.glob(f"{path.name}.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{ damaged"
    assert load_runs(tmp_path)[1] == [], "the kept copy is not mistaken for a result"


def test_saving_over_a_valid_file_replaces_it(tmp_path):
    outcome = fake_outcome()
    save_run(tmp_path, outcome)
    outcome.history["test_accuracy"][-1] = 0.99
    path = save_run(tmp_path, outcome)
    assert load_run(path).history["test_accuracy"][-1] == 0.99
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "data.json"
    write_json_atomic(path, {"version": 1})

    def fail_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic_files.os, "fsync", fail_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_json_atomic(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    """Not mkstemp's owner-only 0600: results are shared between users of a cluster's scratch space."""
    path = save_run(tmp_path, fake_outcome())
    assert path.stat().st_mode & 0o777 == atomic_files.FILE_MODE
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert plain.stat().st_mode & 0o777 == atomic_files.FILE_MODE


def test_non_finite_numbers_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "data.json"
    with pytest.raises(ValueError):
        write_json_atomic(path, {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = atomic_files._host_tag()
    of_dead = tmp_path / f".run.json.{host}-{dead_pid}.abc123.tmp"
    of_live = tmp_path / f".run.json.{host}-{os.getpid()}.def456.tmp"
    of_other_host = tmp_path / f".run.json.elsewhere-{dead_pid}.ghi789.tmp"
    old_other_host = tmp_path / f".old.json.elsewhere-{dead_pid}.jkl012.tmp"
    result = tmp_path / "run.json"
    for path in (of_dead, of_live, of_other_host, old_other_host, result):
        path.write_text("{")
    an_hour_ago = time.time() - 2 * atomic_files.STALE_TEMP_AGE_S
    os.utime(old_other_host, (an_hour_ago, an_hour_ago))
    removed = clean_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted([of_dead, old_other_host])
    assert of_live.exists() and of_other_host.exists() and result.exists()


# ----------------------------------------------------------------------------- any JSON at all

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
RECORD_KEYS = list(_valid_record())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key_path=st.lists(st.sampled_from(RECORD_KEYS + ["train_loss", "test_accuracy", "epochs", "loss", "seed"]),
                         min_size=1, max_size=3),
       value=json_values, drop=st.booleans())
def test_any_json_is_a_valid_run_or_a_results_file_error(key_path, value, drop):
    """Replace or drop any field of a valid record with any JSON value: loading never crashes otherwise."""
    record = copy.deepcopy(_valid_record())
    target = record
    for key in key_path[:-1]:
        if isinstance(target, dict) and isinstance(target.get(key), dict):
            target = target[key]
    if isinstance(target, dict):
        if drop:
            target.pop(key_path[-1], None)
        else:
            target[key_path[-1]] = value
    try:
        validate_record(record, "fuzzed.json")
    except ResultsFileError as error:
        assert "\n" not in str(error)
