"""Execute a plan of runs: skip what is stored, train the rest (serially or in worker processes), save each.

Each run is saved the moment it finishes, atomically, so an interruption (Ctrl-C, SIGTERM, even
``kill -9``) loses at most the runs in flight, and the next invocation resumes from what is stored.
"""

from __future__ import annotations

import concurrent.futures as futures
import datetime as _dt
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .data import load_dataset
from .results import load_runs, save_run
from .train import RunConfig, train_run


@dataclass
class ExecutionSummary:
    """What an execution did, for the closing summary."""

    trained: list[str] = field(default_factory=list)  # run ids
    reused: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # corrupt or foreign files, one line each


def shard(configs: list[RunConfig], index: int, count: int) -> list[RunConfig]:
    """Deterministic K/N split by run id, so N machines together do every run exactly once."""
    return [config for config in configs if int(config.run_id, 16) % count == index - 1]


def pending_runs(configs: list[RunConfig], results_dir: Path, force: bool) -> tuple[list[RunConfig], ExecutionSummary]:
    """Configs that still need training, de-duplicated by run id, in plan order."""
    stored, problems = load_runs(results_dir)
    summary = ExecutionSummary(skipped_files=problems)
    todo, seen = [], set()
    for config in configs:
        if config.run_id in seen:
            continue
        seen.add(config.run_id)
        if config.run_id in stored and not force:
            summary.reused.append(config.run_id)
        else:
            todo.append(config)
    return todo, summary


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _train_and_save(config: RunConfig, results_dir: str, device: str, data_dir) -> tuple[str, str]:
    started_at = _now()
    outcome = train_run(config, load_dataset(config.dataset, data_dir=data_dir), device=device)
    save_run(results_dir, outcome, started_at=started_at)
    return config.run_id, outcome.status


def _init_worker(threads: int) -> None:
    # Each worker gets its own slice of the cores; oversubscription costs more than it gains.
    torch.set_num_threads(threads)


def execute(
    configs: list[RunConfig],
    results_dir: Path,
    device: str = "cpu",
    workers: int = 1,
    force: bool = False,
    data_dir=None,
    on_epoch: Callable[[RunConfig, int], None] | None = None,
    on_run_done: Callable[[RunConfig, str], None] | None = None,
) -> ExecutionSummary:
    """Train every config not yet stored in ``results_dir``; return what was trained and reused."""
    todo, summary = pending_runs(configs, results_dir, force)

    def record(config: RunConfig, status: str) -> None:
        summary.trained.append(config.run_id)
        if status == "diverged":
            summary.diverged.append(config.run_id)
        if on_run_done is not None:
            on_run_done(config, status)

    if workers <= 1 or len(todo) <= 1:
        for config in todo:
            started_at = _now()
            dataset = load_dataset(config.dataset, data_dir=data_dir)
            callback = (lambda epoch, metrics, c=config: on_epoch(c, epoch)) if on_epoch else None
            outcome = train_run(config, dataset, device=device, on_epoch=callback)
            save_run(results_dir, outcome, started_at=started_at)
            record(config, outcome.status)
        return summary

    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
    with futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        pending = {pool.submit(_train_and_save, config, str(results_dir), device, data_dir): config for config in todo}
        try:
            for done in futures.as_completed(pending):
                _, status = done.result()
                record(pending[done], status)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return summary
