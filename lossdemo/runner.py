"""Execute a plan of runs: skip what is stored, train the rest (serially or in worker processes), save each.

Each run is saved the moment it finishes, atomically, so an interruption (Ctrl-C, SIGTERM, even
``kill -9``) loses at most the runs in flight, and the next invocation resumes from what is stored.

Several processes may work on one results directory at once (two terminals, shards of a cluster
job): a run is trained only while its lock ``<results_dir>/locks/<run_id>.lock`` is held
(``fcntl.flock``, released by the kernel when a process dies). A process that finds a run locked
moves on to the next one and comes back to it at the end, so the processes split the work and
every run is stored exactly once.

Long runs also checkpoint after every epoch (``lossdemo.checkpoints``) and resume from there.

With ``stack`` > 1, compatible runs (:func:`lossdemo.engines.plan_stacks`) train together as one
stacked model, which fills a GPU that one small run leaves mostly idle; with ``stack=None`` the
size comes from :func:`lossdemo.engines.default_stack_size` (on a CPU, the 1-D CNN's runs stack,
which shares a step's operator calls among them). Stacks train in this process or, with
``workers`` > 1, one stack per worker. A stack holds the locks of all its runs while it trains and
stores each run when the stack finishes; it does not checkpoint, so an interruption loses the whole
stack in flight.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import datetime as _dt
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .atomic_files import clean_stale_temp_files
from .checkpoints import CHECKPOINTS_SUBDIR, checkpoint_path
from .data import EMBEDDED_DATASETS, Dataset, load_dataset
from .devices import device_for_worker, resolve_device
from .engines import ENGINES, default_stack_size, plan_stacks
from .models import resolve_model_name
from .results import RUNS_SUBDIR, ResultsFileError, load_run, load_runs, run_path, save_run
from .run_config import RunConfig, RunStatus
from .train import train_runs

try:
    import fcntl
except ImportError:  # Windows: no flock; one reproduce per results directory there
    fcntl = None

LOCKS_SUBDIR = "locks"


@dataclass
class ExecutionSummary:
    """What an execution did, for the closing summary."""

    trained: list[str] = field(default_factory=list)  # run ids
    reused: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # corrupt or foreign files, one line each
    by_other_process: list[str] = field(default_factory=list)  # stored meanwhile by a concurrent reproduce
    removed_temp_files: list[str] = field(default_factory=list)  # leftovers of killed writers
    resumed: list[str] = field(default_factory=list)  # runs that continue from a checkpoint an earlier process saved


def shard(configs: list[RunConfig], index: int, count: int) -> list[RunConfig]:
    """Slice ``index`` (1-based) of ``count``: round-robin over the plan's distinct runs sorted by run id.

    Every run is in exactly one slice, the slices' sizes differ by at most one run, and the slice
    depends only on the set of runs, not on the order the plan lists them in. A run that the plan
    lists twice (experiments share runs) stays in one slice; the slice keeps the plan's order.
    """
    ranked = sorted({config.run_id for config in configs})
    mine = {run_id for position, run_id in enumerate(ranked) if position % count == index - 1}
    return [config for config in configs if config.run_id in mine]


def pending_runs(configs: list[RunConfig], results_dir: Path, force: bool,
                 stored: dict | None = None) -> tuple[list[RunConfig], ExecutionSummary]:
    """Configs that still need training, de-duplicated by run id, in plan order.

    ``stored`` is ``results_dir``'s runs when the caller has just read them (they are read here otherwise).
    """
    problems: list[str] = []
    if stored is None:
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


def wants_checkpoints(config: RunConfig, checkpoint: bool | None) -> bool:
    """``checkpoint`` None means automatic: on for the real (non-embedded) datasets, whose runs take minutes
    to hours; off for the embedded ones, where a run takes seconds and saving state would cost more
    than it could ever save."""
    return config.dataset not in EMBEDDED_DATASETS if checkpoint is None else checkpoint


@contextlib.contextmanager
def run_lock(results_dir: Path, run_id: str, blocking: bool = False) -> Iterator[bool]:
    """Hold ``<results_dir>/locks/<run_id>.lock``; yields False (without waiting) if another process holds it.

    The lock files stay: deleting one while a second process waits on it would let a third take a
    different lock on a new file of the same name.
    """
    if fcntl is None:
        yield True
        return
    path = Path(results_dir) / LOCKS_SUBDIR / f"{run_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        except OSError as error:  # e.g. Lustre or NFS mounted without lock support
            raise OSError(error.errno, f"cannot lock {path} ({error.strerror}): this file system does not support "
                                       f"flock; mount it with -o flock, or give --results-dir on a local disk") from None
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stored_since(config: RunConfig, results_dir: Path, since: float | None) -> bool:
    """Whether a valid result exists (written after ``since``, a ``time.time()``, when given)."""
    path = run_path(results_dir, config)
    try:
        if since is not None and path.stat().st_mtime < since:
            return False
        load_run(path)
    except (OSError, ResultsFileError):
        return False
    return True


def load_datasets(configs: list[RunConfig], data_dir=None) -> dict[str, Dataset]:
    """Each dataset the configs use, loaded once (raises DatasetUnavailableError for a missing one)."""
    return {name: load_dataset(name, data_dir=data_dir) for name in dict.fromkeys(config.dataset for config in configs)}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Job:
    """What every unit of work of one execution shares (plain data: worker processes receive it)."""

    results_dir: Path
    device: str = "cpu"
    engine: str = "auto"
    data_dir: str | None = None
    checkpoint: bool | None = None
    force_since: float | None = None  # with --force, only a result stored after this time.time() counts


@dataclass(frozen=True)
class Unit:
    """Runs that train together: a stack of compatible runs, or one run alone (``stacked`` False)."""

    runs: tuple[RunConfig, ...]
    stacked: bool


def train_unit(job: Job, unit: Unit, dataset: Dataset | None, on_epoch=None,
               blocking: bool = False) -> list[tuple[RunConfig, RunStatus]]:
    """Train the runs of ``unit`` that this process can claim, together; ``(config, status)`` for each run.

    A run whose lock is held elsewhere comes back as LOCKED (unless ``blocking``, which waits for it)
    and one stored meanwhile as STORED_ELSEWHERE; the others train in one call (fewer runs than
    planned, if some were taken), each stored as soon as the call returns. A run alone resumes its
    checkpoint, if any, and drops it once stored.
    """
    statuses: dict[str, RunStatus] = {}
    with contextlib.ExitStack() as held:
        claimed = []
        for config in unit.runs:
            if not held.enter_context(run_lock(job.results_dir, config.run_id, blocking=blocking)):
                statuses[config.run_id] = RunStatus.LOCKED
            elif _stored_since(config, job.results_dir, job.force_since):
                statuses[config.run_id] = RunStatus.STORED_ELSEWHERE
            else:
                claimed.append(config)
        if claimed:
            started_at = _now()
            checkpoint_file = None
            if not unit.stacked and wants_checkpoints(claimed[0], job.checkpoint):
                checkpoint_file = checkpoint_path(job.results_dir, claimed[0].run_id)
            for outcome in train_runs(claimed, dataset, job.device, on_epoch, job.data_dir, engine=job.engine,
                                      stacked=unit.stacked, checkpoint_path=checkpoint_file):
                save_run(job.results_dir, outcome, started_at=started_at)
                statuses[outcome.config.run_id] = outcome.status
            if checkpoint_file is not None:
                checkpoint_file.unlink(missing_ok=True)  # the result file now holds everything
    return [(config, statuses[config.run_id]) for config in unit.runs]


_worker_device: str | None = None  # set in each worker process by _start_worker


def _start_worker(devices: list[str], taken) -> None:
    """A pool worker's start: take the next device of ``devices`` (one GPU each, in turn)."""
    global _worker_device
    with taken.get_lock():
        _worker_device = devices[taken.value % len(devices)]
        taken.value += 1


def _train_unit_in_worker(job: Job, unit: Unit) -> list[tuple[RunConfig, RunStatus]]:
    if _worker_device is not None:
        job = dataclasses.replace(job, device=_worker_device)
    return train_unit(job, unit, None)


def work_units(todo: list[RunConfig], datasets: dict[str, Dataset], device: str, stack: int | None,
               engine: str = "auto") -> list[Unit]:
    """The plan as units of work: stacks of compatible runs (stacked even when a stack holds one run,
    so a run is computed the same way whichever runs share its stack), or single runs. ``stack``: the
    largest stack, or None for :func:`lossdemo.engines.default_stack_size` of each run's model."""
    sizes = {}
    torch_device = resolve_device(device) if stack is None else None
    for config in todo:
        if stack is None:
            dataset = datasets.get(config.dataset)
            model = resolve_model_name(config.model, dataset.input_shape) if dataset is not None else config.model
            sizes[config.run_id] = default_stack_size(engine, model, torch_device)
        else:
            sizes[config.run_id] = stack
    units: list[Unit] = []
    for size in sorted(set(sizes.values())):
        group = [config for config in todo if sizes[config.run_id] == size]
        if size == 1:
            units += [Unit((config,), False) for config in group]
        else:
            units += [Unit(tuple(planned), True) for planned in plan_stacks(group, size)]
    units.sort(key=lambda unit: todo.index(unit.runs[0]))  # plan order
    return units


def longest_first(units: list[Unit], cost: Callable[[RunConfig], float]) -> list[Unit]:
    """``units`` ordered by their estimated time (the sum of ``cost`` over their runs), longest first;
    units of equal cost keep their order. Workers that take units in this order finish close together."""
    return sorted(units, key=lambda unit: -sum(cost(config) for config in unit.runs))


def _stop_workers(other_children: set) -> None:
    # A polite kill of the parent reaches only the parent; without this the pool would wait for every
    # run in flight to finish. A worker killed mid-write leaves at most a temp file (cleaned up later).
    for child in set(multiprocessing.active_children()) - other_children:
        child.terminate()


@dataclass
class Progress:
    """What has happened to the plan's runs so far: the summary, plus the runs locked elsewhere that
    are retried at the end."""

    summary: ExecutionSummary
    on_run_done: Callable[[RunConfig, str], None] | None = None
    deferred: list[RunConfig] = field(default_factory=list)

    def record(self, config: RunConfig, status: RunStatus) -> None:
        """A run's final status in this process."""
        if status == RunStatus.STORED_ELSEWHERE:
            self.summary.by_other_process.append(config.run_id)
            return
        self.summary.trained.append(config.run_id)
        if status == RunStatus.DIVERGED:
            self.summary.diverged.append(config.run_id)
        if self.on_run_done is not None:
            self.on_run_done(config, status)

    def settle(self, config: RunConfig, status: RunStatus) -> None:
        """A status from a first attempt: a run locked elsewhere waits for the retry."""
        if status == RunStatus.LOCKED:
            self.deferred.append(config)
        else:
            self.record(config, status)


def _run_serially(job: Job, units: list[Unit], datasets: dict[str, Dataset], progress: Progress, on_epoch) -> None:
    for unit in units:
        for config, status in train_unit(job, unit, datasets[unit.runs[0].dataset], on_epoch):
            progress.settle(config, status)


def _run_in_workers(job: Job, units: list[Unit], workers: int, progress: Progress) -> None:
    context = multiprocessing.get_context("spawn")  # fork + torch threads can deadlock
    other_children = set(multiprocessing.active_children())  # the caller's own, left alone
    # No per-worker thread setting: every run and stack trains on CPU_THREADS_PER_RUN threads. With
    # --device cuda and several GPUs, each worker takes one (device_for_worker).
    gpu_count = torch.cuda.device_count() if job.device == "cuda" else 0
    devices = [device_for_worker(job.device, worker, gpu_count) for worker in range(workers)]
    with futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                     initargs=(devices, context.Value("i", 0))) as pool:
        pending = [pool.submit(_train_unit_in_worker, job, unit) for unit in units]
        try:
            for done in futures.as_completed(pending):
                for config, status in done.result():
                    progress.settle(config, status)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_workers(other_children)
            raise


def _retry_deferred(job: Job, units: list[Unit], datasets: dict[str, Dataset], progress: Progress,
                    todo: list[RunConfig], on_epoch) -> None:
    """Runs another process was training: wait for its lock, then reuse its result (or train it here, if
    that process was interrupted before storing it), the way its unit would have."""
    stacked = {config.run_id for unit in units if unit.stacked for config in unit.runs}
    for config in sorted(progress.deferred, key=todo.index):  # plan order, whatever order units finished in
        unit = Unit((config,), config.run_id in stacked)
        for _, status in train_unit(job, unit, datasets[config.dataset], on_epoch, blocking=True):
            progress.record(config, status)


def _check_execution(stack: int | None, checkpoint: bool | None, engine: str) -> None:
    if stack is not None and not (isinstance(stack, int) and stack >= 1):
        raise ValueError(f"stack {stack!r} is invalid; allowed: an integer >= 1, or None (automatic)")
    if stack is not None and stack > 1 and checkpoint:
        raise ValueError(f"stack {stack} with checkpoint=True is not supported; allowed: checkpoint None or False")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")


def execute(
    configs: list[RunConfig],
    results_dir: Path,
    device: str = "cpu",
    workers: int = 1,
    force: bool = False,
    data_dir=None,
    on_epoch: Callable[[RunConfig, int], None] | None = None,
    on_run_done: Callable[[RunConfig, str], None] | None = None,
    checkpoint: bool | None = None,
    datasets: dict[str, Dataset] | None = None,
    stack: int | None = 1,
    stored: dict | None = None,
    cost: Callable[[RunConfig], float] | None = None,
    engine: str = "auto",
) -> ExecutionSummary:
    """Train every config not yet stored in ``results_dir``; return what was trained and reused.

    Args:
        configs: the plan; duplicates (same run id) are trained once.
        results_dir: where ``runs/``, ``checkpoints/`` and ``locks/`` live.
        device: ``auto|cpu|cuda|mps``.
        workers: runs trained at once in separate processes.
        force: retrain runs that are already stored.
        data_dir: cache of the torchvision datasets.
        on_epoch: ``on_epoch(config, epoch)`` after each epoch of each run (serial execution; not
            from worker processes).
        on_run_done: ``on_run_done(config, status)`` after each run this process trained.
        checkpoint: save and resume per-epoch checkpoints; None: only for non-embedded datasets.
        datasets: already loaded datasets by name (see :func:`load_datasets`); the others are loaded here.
        stack: train up to this many compatible runs at once as one stacked model; None: as many as
            :func:`lossdemo.engines.default_stack_size` says for each run's model, device and engine.
            Stacked runs are never checkpointed: with ``checkpoint=True`` every run trains alone.
        stored: the runs stored in ``results_dir`` when the caller has just read them (read here otherwise).
        cost: an estimate of each run's training time; with several workers, the units of work then
            start longest first, so the last to finish is a short one and no core waits long at the end.
        engine: ``auto``, ``fast`` or ``reference`` (:mod:`lossdemo.engines`).

    Raises:
        DatasetUnavailableError: before anything is trained, if a dataset of the plan is missing.
    """
    _check_execution(stack, checkpoint, engine)
    job = Job(Path(results_dir), device, engine, data_dir, checkpoint, time.time() if force else None)
    removed = [path for subdir in (RUNS_SUBDIR, CHECKPOINTS_SUBDIR)
               for path in clean_stale_temp_files(job.results_dir / subdir)]
    todo, summary = pending_runs(configs, job.results_dir, force, stored)
    summary.removed_temp_files = [str(path) for path in removed]
    # Load every dataset once, up front: a missing one fails now, not after an hour of other runs.
    datasets = dict(datasets or {})
    datasets.update(load_datasets([c for c in todo if c.dataset not in datasets], data_dir))
    summary.resumed = [config.run_id for config in todo if wants_checkpoints(config, checkpoint)
                       and checkpoint_path(job.results_dir, config.run_id).is_file()]
    units = work_units(todo, datasets, device, 1 if checkpoint else stack, engine)  # checkpointed runs train alone
    if cost is not None and workers > 1:
        units = longest_first(units, cost)
    progress = Progress(summary, on_run_done)
    epoch_callback = (lambda config, epoch, metrics: on_epoch(config, epoch)) if on_epoch else None
    if workers <= 1 or len(units) <= 1:
        _run_serially(job, units, datasets, progress, epoch_callback)
    else:
        datasets.clear()  # workers load their own copy; don't hold this one meanwhile
        _run_in_workers(job, units, workers, progress)
        datasets = load_datasets(progress.deferred, data_dir)
    _retry_deferred(job, units, datasets, progress, todo, epoch_callback)
    return summary
