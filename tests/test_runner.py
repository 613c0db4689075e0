"""Executing a plan: resume, force, shards, per-run locks, checkpoints and the dataset pre-flight.

Runs use the tiny mnist1d slice (``support.tiny_dataset``), passed in through ``datasets=``.
Run: pytest tests/test_runner.py -q
"""

from __future__ import annotations

import threading
import time

import pytest
from support import lock_held_by_an_interrupted_process, tiny_dataset

import lossdemo.dataset_files as dataset_files
from lossdemo.checkpoints import checkpoint_path, load_checkpoint
from lossdemo.data import DatasetUnavailableError
from lossdemo.results import RUNS_SUBDIR, load_run, load_runs, run_path, save_run
from lossdemo.runner import execute, pending_runs, run_lock, shard, wants_checkpoints
from lossdemo.train import RunConfig, train_run


def plan(losses=("ce", "mae"), seeds=(0, 1), epochs=2) -> list[RunConfig]:
    return [RunConfig(loss=loss, seed=seed, epochs=epochs, batch_size=64) for loss in losses for seed in seeds]


def run_execute(configs, results_dir, **options):
    return execute(configs, results_dir, datasets={"mnist1d": tiny_dataset()}, **options)


def test_execute_stores_every_run_and_a_second_execute_trains_nothing(tmp_path):
    configs = plan()
    first = run_execute(configs, tmp_path)
    assert sorted(first.trained) == sorted(c.run_id for c in configs) and first.reused == []
    mtimes = {path: path.stat().st_mtime_ns for path in (tmp_path / RUNS_SUBDIR).glob("*.json")}
    second = run_execute(configs, tmp_path)
    assert second.trained == [] and sorted(second.reused) == sorted(first.trained)
    assert {path: path.stat().st_mtime_ns for path in mtimes} == mtimes, "stored runs are not rewritten"


def test_force_retrains_stored_runs(tmp_path):
    configs = plan(losses=("ce",), seeds=(0,))
    run_execute(configs, tmp_path)
    again = run_execute(configs, tmp_path, force=True)
    assert again.trained == [configs[0].run_id]


def test_duplicate_configs_are_trained_once(tmp_path):
    configs = plan(losses=("ce",), seeds=(0,)) * 3
    todo, _ = pending_runs(configs, tmp_path, force=False)
    assert len(todo) == 1
    assert run_execute(configs, tmp_path).trained == [configs[0].run_id]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_and_cover_the_plan(count):
    configs = plan(losses=("ce", "mae", "focal:2"), seeds=range(5))
    slices = [shard(configs, index, count) for index in range(1, count + 1)]
    ids = [config.run_id for part in slices for config in part]
    assert sorted(ids) == sorted(config.run_id for config in configs)
    assert len(ids) == len(set(ids))


def test_a_run_locked_elsewhere_is_waited_for_and_reused(tmp_path):
    """Another process trains run A (we hold its lock here); execute trains B meanwhile, then waits for A."""
    run_a, run_b = plan(losses=("ce",), seeds=(0, 1))
    holding, release = threading.Event(), threading.Event()

    def other_process():
        with run_lock(tmp_path, run_a.run_id) as acquired:
            assert acquired
            holding.set()
            release.wait(60)
            save_run(tmp_path, train_run(run_a, tiny_dataset()))

    other = threading.Thread(target=other_process)
    other.start()
    holding.wait(10)
    timer = threading.Timer(1.0, release.set)  # "the other process" finishes A a moment later
    timer.start()
    summary = run_execute([run_a, run_b], tmp_path)
    other.join()
    assert summary.trained == [run_b.run_id]
    assert summary.by_other_process == [run_a.run_id]
    runs, problems = load_runs(tmp_path)
    assert set(runs) == {run_a.run_id, run_b.run_id} and problems == []


def test_a_run_whose_lock_holder_gave_up_is_trained_here(tmp_path):
    """The other process was interrupted: it released the lock without storing the run."""
    (config,) = plan(losses=("ce",), seeds=(0,))
    with lock_held_by_an_interrupted_process(tmp_path, config.run_id, release_after_s=0.5):
        summary = run_execute([config], tmp_path)
    assert summary.trained == [config.run_id] and summary.by_other_process == []
    assert load_run(run_path(tmp_path, config)).status == "complete"


def test_locks_exclude_each_other_and_are_released(tmp_path):
    with run_lock(tmp_path, "abc") as first, run_lock(tmp_path, "abc") as second:
        assert first and not second
    with run_lock(tmp_path, "abc") as again:
        assert again


def test_checkpoints_are_automatic_only_for_the_real_datasets():
    assert not wants_checkpoints(RunConfig(dataset="mnist1d"), None)
    assert not wants_checkpoints(RunConfig(dataset="mnist5k"), None)
    assert wants_checkpoints(RunConfig(dataset="cifar10"), None)
    assert wants_checkpoints(RunConfig(dataset="mnist1d"), True)
    assert not wants_checkpoints(RunConfig(dataset="cifar10"), False)


def test_execute_resumes_from_a_checkpoint_and_removes_it(tmp_path):
    (config,) = plan(losses=("ce",), seeds=(0,), epochs=4)
    uninterrupted = train_run(config, tiny_dataset())

    def interrupt_at_epoch_3(run_config, epoch):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_execute([config], tmp_path, checkpoint=True, on_epoch=interrupt_at_epoch_3)
    checkpoint = checkpoint_path(tmp_path, config.run_id)
    assert load_checkpoint(checkpoint)["epoch"] == 2
    assert not run_path(tmp_path, config).exists(), "the run in flight is not recorded"
    epochs_seen = []
    summary = run_execute([config], tmp_path, checkpoint=True, on_epoch=lambda c, epoch: epochs_seen.append(epoch))
    assert summary.trained == [config.run_id] and epochs_seen == [3, 4]
    assert summary.resumed == [config.run_id], "the CLI says it resumed"
    assert load_run(run_path(tmp_path, config)).history == uninterrupted.history
    assert not checkpoint.exists(), "a finished run's checkpoint is removed"


def test_execute_removes_temp_files_of_dead_writers(tmp_path):
    import lossdemo.atomic_files as atomic_files

    runs_dir = tmp_path / RUNS_SUBDIR
    runs_dir.mkdir()
    stale = runs_dir / f".x.json.{atomic_files._host_tag()}-999999999.abcdef.tmp"  # no such pid
    stale.write_text("{")
    summary = run_execute(plan(losses=("ce",), seeds=(0,)), tmp_path)
    assert not stale.exists() and summary.removed_temp_files == [str(stale)]


def test_a_missing_dataset_fails_before_any_run_is_trained(tmp_path, monkeypatch):
    def offline(url, directory, filename, md5):
        raise OSError("network is unreachable")

    monkeypatch.setattr(dataset_files, "_download", offline)
    configs = plan(losses=("ce",), seeds=(0,)) + [RunConfig(dataset="cifar10", epochs=1)]
    started = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="cifar10"):
        execute(configs, tmp_path / "results", data_dir=tmp_path / "empty",
                datasets={"mnist1d": tiny_dataset()})
    assert time.perf_counter() - started < 30
    assert not list((tmp_path / "results").glob(f"{RUNS_SUBDIR}/*.json"))


def test_a_file_system_without_flock_is_a_one_line_error_that_says_what_to_do(tmp_path, monkeypatch):
    import errno

    import lossdemo.runner as runner_module

    def unsupported(handle, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(runner_module.fcntl, "flock", unsupported)
    expected = r"cannot lock .*mount it with -o flock, or give --results-dir on a local disk"
    with pytest.raises(OSError, match=expected), run_lock(tmp_path, "some-run"):
        pass
