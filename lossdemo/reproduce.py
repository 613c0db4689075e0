"""Regenerate every result, figure and table of the site with one command.

    python -m lossdemo.reproduce                 # default profile: the report's comparison, CPU
    python -m lossdemo.reproduce --quick         # seconds: a smoke test of every stage
    python -m lossdemo.reproduce --plots-only --results-dir results   # redraw from committed results
    python -m lossdemo.reproduce --datasets cifar10 --device cuda --seeds 3 --stack 15

Training writes one JSON per run into ``--results-dir`` (resumable: stored runs are reused), then
figures and tables are drawn from those files into ``--figures-dir``, and the numbers are compared
with the published (committed) results. ``--publish`` copies the finished run set there.

Bad flags or values exit with code 2 and one line on stderr naming the value and what is allowed.
Ctrl-C or SIGTERM exits with code 130 after saying how to resume: finished runs are stored, the run
in flight is not (runs on the real datasets resume from their last per-epoch checkpoint; see
``--checkpoint``). Two reproduces may share a results directory: per-run locks split the work.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import cli_args
from .cli_args import DEFAULT_RESULTS_DIR, PUBLISHED_DIR, Choices, Options, UsageError  # noqa: F401 (re-exported)

if __name__ == "__main__":  # a mistyped flag fails now, before torch is imported (seconds)
    cli_args.precheck(sys.argv[1:])

import torch
from tqdm.auto import tqdm

from .atomic_files import write_atomic
from .data import DATASET_INFO, DATASETS, DatasetUnavailableError, training_class_counts
from .devices import DEVICES, resolve_device
from .engines import ENGINES
from .experiments import EXPERIMENTS, PROFILES, datasets_for, long_tail_fraction, plan_runs, validate_names
from .models import resolve_model_name
from .protocol import ADAM_DEFAULT_LR, SHARED_RECIPE, converged_epochs, untuned, write_picks
from .results import RUNS_SUBDIR, ResultsFileError, StoredRun, load_run, load_runs
from .run_config import RunConfig, RunStatus
from .runner import execute, load_datasets, pending_runs, shard, wants_checkpoints

# Drawing (matplotlib, scipy) is imported where it is used: half of the start-up time, which a
# mistyped flag should not have to wait for.

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# Seconds a dataset download may stall before it fails (per network operation, not per download):
# an offline machine whose firewall drops packets would otherwise wait minutes per mirror.
NETWORK_TIMEOUT_S = 30
HEADLINE_TABLE = "compare_mnist1d_table.md"  # also copied into README.md between its markers
# Per dataset, the seconds of a full-data training epoch and the training split's size (a run whose
# train metrics read a subset is estimated with its smaller evaluation): lossdemo.data.DATASET_INFO.
CPU_SECONDS_PER_EPOCH = {name: info.cpu_seconds_per_epoch for name, info in DATASET_INFO.items()}
TRAINING_SPLIT_SIZES = {name: info.training_samples for name, info in DATASET_INFO.items()}


@dataclass(frozen=True)
class Plan:
    """What one invocation works on, computed once from the options."""

    by_experiment: dict[str, list[RunConfig]]  # each requested experiment's configs (shared runs repeat)
    configs: list[RunConfig]  # all of them in a stable order; this shard's only, with --shard

    def runs_of(self, stored: dict[str, StoredRun]) -> list[StoredRun]:
        """The stored runs of this plan, in plan order, each once."""
        wanted = dict.fromkeys(config.run_id for config in self.configs)
        return [stored[run_id] for run_id in wanted if run_id in stored]


def build_parser() -> argparse.ArgumentParser:
    """The full parser, whose help lists the allowed experiments, datasets and devices."""
    choices = Choices(experiments=tuple(EXPERIMENTS), datasets=tuple(DATASETS), devices=tuple(DEVICES),
                      engines=ENGINES)
    return cli_args.build_parser(choices, description=__doc__.split("\n")[0])


def make_plan(options: Options) -> Plan:
    """Each requested experiment's run configs, as the flags and the profile size them."""
    profile = PROFILES[options.profile]
    validate_names(options.experiments, options.datasets or (), options.losses or ())
    by_experiment = {
        name: plan_runs(EXPERIMENTS[name], datasets_for(EXPERIMENTS[name], options.datasets, profile),
                        options.losses, options.seeds or EXPERIMENTS[name].seeds or profile.seeds,
                        options.epochs or profile.epochs)
        for name in options.experiments
    }
    configs = [config for configs in by_experiment.values() for config in configs]
    return Plan(by_experiment, shard(configs, *options.shard) if options.shard else configs)


def estimate_seconds(configs: list[RunConfig], device: str, workers: int) -> float | None:
    """Training time of ``configs`` on a CPU: their epochs at the measured one-thread rate, shared by
    the workers; None on a GPU, where nothing has been measured yet (a guess would mislead).

    ``CPU_SECONDS_PER_EPOCH`` was measured with every core busy, so runs on separate cores add up
    linearly; more workers than cores (or than runs) gain nothing.
    """
    if device != "cpu":
        return None
    one_after_another = sum(_run_cost(config) for config in configs)
    return one_after_another / max(1, min(workers, os.cpu_count() or 1, len(configs)))


# How a full-data CPU epoch splits between the training steps and the evaluation of the train and
# test splits (../shared/reference/cnn1d-cpu-profile.md: 57 and 22 ms of an 80 ms mnist1d epoch), and
# the test split's size as a share of the training split's (1,000 of 4,000 on both embedded datasets).
TRAINING_PART, EVALUATION_PART, TEST_SHARE = 0.72, 0.28, 0.25


def _run_cost(config: RunConfig) -> float:
    """A run's estimated training seconds on one CPU core (what :func:`estimate_seconds` adds up)."""
    return CPU_SECONDS_PER_EPOCH.get(config.dataset, 1.0) * config.epochs * _epoch_share(config)


def _epoch_share(config: RunConfig) -> float:
    """A run's epoch time as a share of a full-data epoch: a validation split and a long tail shorten
    the training steps, and a subset for the train metrics their evaluation, while every epoch still
    evaluates the test split (and the validation split)."""
    tail = 1.0 if config.imbalance_ratio == 1 else long_tail_fraction(config.imbalance_ratio, 10)
    trained = (1 - config.validation_fraction) * tail
    measured = trained
    if config.train_metrics_samples and config.dataset in TRAINING_SPLIT_SIZES:
        measured = min(trained, config.train_metrics_samples / TRAINING_SPLIT_SIZES[config.dataset])
    evaluated = (measured + config.validation_fraction + TEST_SHARE) / (1 + TEST_SHARE)
    return TRAINING_PART * trained + EVALUATION_PART * evaluated


def _format_duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _train(plan: Plan, options: Options, log) -> int:
    stored, _ = load_runs(options.results_dir)  # read once before training; the runner reuses it
    todo, _ = pending_runs(plan.configs, options.results_dir, options.force, stored=stored)
    datasets = load_datasets(todo, options.data_dir)  # a missing dataset fails here, before any training
    epochs = sum(config.epochs for config in todo)
    unique = len({config.run_id for config in plan.configs})  # experiments share runs: count each once
    estimate = estimate_seconds(todo, options.device_type, options.workers)
    estimate_text = (f"training estimated {_format_duration(estimate)}" if estimate is not None
                     else f"no time estimate on {options.device_type} (only CPU times have been measured)")
    what = "; ".join(f"{name} on {', '.join(sorted({c.dataset for c in configs}))}"
                     for name, configs in plan.by_experiment.items())
    log(f"plan: {unique} runs ({what}), {unique - len(todo)} already stored in {options.results_dir}, "
        f"{len(todo)} to train; {estimate_text} (with every core free; a busy machine takes longer; drawing the "
        f"figures comes after, and with workers each first loads torch and the data)")
    fallback = untuned([config for name, configs in plan.by_experiment.items() if name != "tune" for config in configs])
    if fallback:
        names = ", ".join(f"{loss} on {dataset}" + (f" (imbalance ratio {ratio:g})" if ratio != 1 else "")
                          for dataset, ratio, loss in fallback)
        log(f"note: no tuned learning rate for {names} (never tuned, or no rate trained it); the fair protocol trains "
            f"them at the shared rate {SHARED_RECIPE.lr:g}"
            + (f" (Adam at its customary {ADAM_DEFAULT_LR:g})" if any(" with " in loss for _, _, loss in fallback) else ""))
    if options.stack is not None and options.stack > 1 and todo:
        vmapped = sorted({c.dataset for c in todo
                          if resolve_model_name(c.model, datasets[c.dataset].input_shape) != "cnn1d"})
        if options.device_type == "cpu" and vmapped:
            log(f"note: --stack {options.stack} stacks the runs on {', '.join(vmapped)} with torch.func.vmap, which on "
                f"a CPU is slower than training them one at a time, one per core; it is meant for a GPU")
        if options.checkpoint is None and any(wants_checkpoints(config, None) for config in todo):
            log(f"note: with --stack {options.stack} runs are not checkpointed; an interruption loses the stacks in flight")
    bar = tqdm(total=epochs, unit="epoch", disable=options.no_progress or not todo, dynamic_ncols=True)
    if options.workers > 1:  # workers report whole runs, so the bar says why it waits before the first one
        bar.set_postfix_str(f"{options.workers} workers loading torch and the data; the bar moves as runs finish")

    def on_epoch(config, epoch):
        bar.set_postfix_str(f"{config.dataset} {config.loss} seed {config.seed} epoch {epoch}/{config.epochs}", refresh=False)
        bar.update(1)

    def on_run_done(config, status):
        if options.workers > 1:
            bar.set_postfix_str(f"last finished: {config.dataset} {config.loss} seed {config.seed}", refresh=False)
            bar.update(config.epochs)
        if status == RunStatus.DIVERGED:
            bar.write(f"diverged: {config.dataset} {config.loss} seed {config.seed} (recorded as diverged)")

    try:
        summary = execute(plan.configs, options.results_dir, device=options.device, workers=options.workers,
                          force=options.force, data_dir=options.data_dir, on_epoch=on_epoch, on_run_done=on_run_done,
                          checkpoint=options.checkpoint, datasets=datasets, stack=options.stack, stored=stored,
                          cost=_run_cost, engine=options.engine)
    finally:
        bar.close()
    if summary.resumed:
        log(f"resumed {len(summary.resumed)} run(s) from the checkpoints an interrupted reproduce left in "
            f"{options.results_dir / 'checkpoints'}")
    for path in summary.removed_temp_files:
        log(f"removed a temp file left by a killed process: {path}")
    for problem in summary.skipped_files:
        log(f"skipped unreadable results file (kept; if its run is planned, it is retrained and the old file "
            f"renamed to *.corrupt-*): {problem}")
    others = f", {len(summary.by_other_process)} stored by another process" if summary.by_other_process else ""
    log(f"trained {len(summary.trained)} runs ({len(summary.diverged)} diverged), reused {len(summary.reused)}{others}")
    return len(summary.trained)


class _TrainClassCounts(Mapping):
    """Training-split class sizes per dataset, read on first use (only the imbalance page needs them)."""

    def __init__(self, datasets: list[str], data_dir):
        self._datasets, self._data_dir, self._counts = datasets, data_dir, {}

    def __getitem__(self, name: str) -> tuple[int, ...]:
        if name not in self._counts:
            self._counts[name] = training_class_counts(name, self._data_dir) if name in self._datasets else None
        if self._counts[name] is None:
            raise KeyError(name)
        return self._counts[name]

    def __iter__(self):
        return iter(name for name in self._datasets if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _render(plan: Plan, options: Options, stored: dict, published: dict, problems: list[str], log) -> list[Path]:
    from .report.claims_pages import render_claims
    from .report.experiment_report import RenderContext
    from .report.explorer_data import write_explorer_data
    from .report.family import site_family
    from .report.guide import GUIDE_FILE, guide_markdown
    from .report.output import runs_fingerprint, update_manifest
    from .report.render import render_experiment
    from .report.site_files import update_readme_links, update_readme_table, write_site_files
    from .report.tune import picks_by_condition

    runs = plan.runs_of(stored)
    for problem in problems:
        log(f"skipped unreadable results file (not plotted): {problem}")
    missing = len(set(c.run_id for c in plan.configs)) - len(runs)
    if not runs:
        raise UsageError(f"no stored runs for this plan in {str(options.results_dir)!r}; "
                         f"run without --plots-only to train them")
    if missing:
        log(f"warning: {missing} planned runs are not stored yet; figures show the {len(runs)} that are")
    options.figures_dir.mkdir(parents=True, exist_ok=True)
    # The claims table reads every stored run (published first, this run's results win): a verdict
    # whose experiment was not run in this invocation still shows, and says where its data came from.
    every_run = list({**published, **stored}.values())
    family = site_family(every_run)  # the one family of tests every page reads
    context = RenderContext(train_class_counts=_TrainClassCounts(list(DATASETS), options.data_dir), family=family)
    written = {}
    for name, experiment_configs in plan.by_experiment.items():
        wanted = {config.run_id for config in experiment_configs}
        experiment_runs = [run for run in runs if run.config.run_id in wanted]
        if experiment_runs:
            written.update(render_experiment(name, experiment_runs, options.figures_dir, context))
    # The explorer's measurements repeat the γ-sweep table, so they read the same runs (none: it says so).
    gamma_sweep_ids = {config.run_id for config in plan.by_experiment.get("gamma-sweep", [])}
    written.update(write_explorer_data(options.figures_dir, [run for run in runs if run.config.run_id in gamma_sweep_ids]))
    written.update(render_claims(every_run, options.figures_dir, family))
    (options.figures_dir / GUIDE_FILE).write_text(guide_markdown(every_run, family))
    written[GUIDE_FILE] = runs_fingerprint(every_run)
    if options.writes_the_site:  # the learning rates the next plan reads come from the published tuning runs
        write_picks(picks_by_condition([run for run in every_run if run.config.run_id in _tuning_ids()]))
    # The run-time table documents the published runs (the Reproduce page says so): a local
    # reproduce of the same runs must not rewrite it with this machine's wall times.
    written.update(write_site_files(options.figures_dir, build_parser(), timing_runs=list(published.values()) or runs))
    update_manifest(options.figures_dir, written)
    headline = options.figures_dir / HEADLINE_TABLE
    if options.writes_the_site and headline.is_file():
        update_readme_table(Path("README.md"), headline.read_text())
        update_readme_links(Path("README.md"), Path("mkdocs.yml"))
    return [options.figures_dir / name for name in written]


def _tuning_ids() -> set[str]:
    """Run ids of the full profile's tuning grid: the runs the published picks come from."""
    full = PROFILES["full"]
    tune = EXPERIMENTS["tune"]
    return {config.run_id for config in plan_runs(tune, datasets_for(tune, None, full), None, tune.seeds, None)}


def _compare_published(plan: Plan, options: Options, stored: dict, published: dict, log) -> None:
    if options.same_results_and_published or not published:
        return
    from .report.agreement import compare_with_published
    from .report.measures import group_runs, key

    # Seeds of one condition (the whole config but the seed) are compared with the same condition only.
    published_by_condition = group_runs(published.values(), key=lambda run: key(run.config))
    log(f"compared with the published results in {options.published_dir} (test accuracy at the epoch each run is "
        f"judged at, as in the tables: the best validation epoch, or the last without a validation split; "
        f"\"agrees\" when the mean here lies within the 95 % range that the published seeds' spread predicts for "
        f"the mean of this many new seeds):")
    unpublished = []
    for condition, runs in group_runs(plan.runs_of(stored), key=lambda run: key(run.config)).items():
        label = condition_label(condition)
        if not published_by_condition.get(condition):
            unpublished.append(f"{condition.dataset} {label}")
            continue
        for line in compare_with_published({label: runs}, {label: published_by_condition[condition]}):
            log(f"  {condition.dataset} {line}")
    if unpublished:  # e.g. --quick's short runs: one line, not one per condition
        shown = "; ".join(unpublished[:3]) + (f"; and {len(unpublished) - 3} more" if len(unpublished) > 3 else "")
        log(f"  {len(unpublished)} condition(s) here have no published runs to compare with: {shown}")


def condition_label(config: RunConfig) -> str:
    """Short name of a condition: the loss, its recipe, and whatever else differs from the default run."""
    if config.validation_fraction:
        recipe = "fair protocol" if config.epochs >= converged_epochs(config.dataset, config.loss) else "short budget"
    else:
        recipe = "shared recipe"
    defaults = RunConfig(dataset=config.dataset, loss=config.loss)
    changed = [f"{name}={getattr(config, name)}" for name in ("optimizer", "lr", "epochs", "label_noise",
               "label_noise_kind", "imbalance_ratio") if getattr(config, name) != getattr(defaults, name)]
    return " ".join([config.loss, f"({recipe})", *changed])


def _publish(plan: Plan, options: Options, stored: dict, log) -> None:
    target = options.published_dir / RUNS_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    runs = plan.runs_of(stored)
    for run in runs:
        content = run.path.read_bytes()
        load_run(run.path)  # re-validate right before copying
        write_atomic(target / run.path.name, lambda handle, content=content: handle.write(content))
    log(f"published {len(runs)} runs into {target}")


def _raise_keyboard_interrupt(signum, frame):
    """SIGTERM stops the run like Ctrl-C, once: a second signal while the first unwinds (a scheduler
    that repeats it, a process group's kill) would raise again inside clean-up code and print a
    traceback after the clean message."""
    _ignore_further_interrupts()
    raise KeyboardInterrupt


def _ignore_further_interrupts() -> None:
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)


def run(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    started = time.perf_counter()
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  (stdout stays free for tools)
    argv = sys.argv[1:] if argv is None else list(argv)
    written: list[Path] = []
    try:
        try:  # everything that can be checked before any work: bad input costs seconds, not an hour
            options, plan = _validated(argv)
        except (UsageError, ValueError, TypeError) as error:
            return _fail(log, error, EXIT_USAGE)
        if options.shard and not plan.configs:  # more shards than runs: nothing to do here, and that is fine
            log(f"shard {options.shard[0]}/{options.shard[1]} of this plan is empty (more shards than runs); "
                f"nothing to train")
            return EXIT_OK
        if socket.getdefaulttimeout() is None:
            socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
        if not options.plots_only:
            _train(plan, options, log)
        stored, problems = load_runs(options.results_dir)  # each directory is read once from here on
        published = stored if options.same_results_and_published else load_runs(options.published_dir)[0]
        if not options.shard:
            written = _render(plan, options, stored, published, problems, log)
        _compare_published(plan, options, stored, published, log)
        if options.publish:
            _publish(plan, options, stored, log)
    except (UsageError, DatasetUnavailableError) as error:
        return _fail(log, error, EXIT_USAGE)
    except (OSError, ResultsFileError) as error:  # a full disk, a file that went bad mid-run: one line, no traceback
        return _fail(log, error, EXIT_FAILURE)
    except KeyboardInterrupt:
        _ignore_further_interrupts()  # Ctrl-C pressed twice: the second one must not interrupt this message
        command = shlex.join(["python", "-m", "lossdemo.reproduce", *argv])
        log(f"interrupted: finished runs are stored, runs in flight are not; to resume, run the same command "
            f"again: {command}")
        return EXIT_INTERRUPTED
    log(f"wrote {len(written)} files (and their manifest.json) into {options.figures_dir}; run files in "
        f"{options.results_dir / RUNS_SUBDIR} (one JSON per run); took {_format_duration(time.perf_counter() - started)}")
    headline = options.figures_dir / HEADLINE_TABLE.replace("_table.md", ".png")
    if headline in written:
        shown = options.writes_the_site or options.figures_dir.resolve() == cli_args.LOCAL_FIGURES_DIR.resolve()
        site = (" or see them on every page of the site with `mkdocs serve` (after pip install -e \".[docs]\")"
                if shown else "")
        log(f"next: open {headline} (the comparison's curves){site}")
    return EXIT_OK


def _validated(argv: list[str]) -> tuple[Options, Plan]:
    """Parse and check the flags; raise UsageError/ValueError/TypeError with a one-line message."""
    args = build_parser().parse_args(argv)
    cli_args.check_flags(args)
    # --device auto means the device it resolves to; --plots-only trains nothing, anywhere.
    device_type = "cpu" if args.plots_only else resolve_device(args.device).type
    # The plan does not depend on the figures directory; it is resolved once the plan is known.
    gpu_count = torch.cuda.device_count() if device_type == "cuda" else 0
    options = cli_args.options_from_args(args, tuple(EXPERIMENTS), device_type, os.cpu_count() or 1, Path("."),
                                         gpu_count=gpu_count)
    plan = make_plan(options)
    figures_dir = cli_args.choose_figures_dir(args, draws_the_published_site(options, plan))
    return dataclasses.replace(options, figures_dir=figures_dir), plan


def draws_the_published_site(options: Options, plan: Plan) -> bool:
    """Whether this invocation draws exactly the published plan from the published runs: the only
    case that may write the committed site (``docs/generated``) and the README's headline table."""
    if not options.same_results_and_published or options.shard:
        return False
    full = make_plan(dataclasses.replace(options, profile="full", experiments=tuple(EXPERIMENTS), datasets=None,
                                         losses=None, seeds=None, epochs=None, shard=None))
    return {config.run_id for config in plan.configs} == {config.run_id for config in full.configs}


def plan_for_flags(argv: list[str]) -> Plan:
    """The plan ``python -m lossdemo.reproduce ARGV`` would work on (raises UsageError for bad flags)."""
    return _validated(argv)[1]


def _fail(log, error: BaseException, code: int) -> int:
    message = " ".join(str(error).split()) or type(error).__name__  # one line, whatever the error held
    log(f"error: {message}")
    return code


def main() -> None:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # a polite kill resumes like Ctrl-C
    sys.exit(run())


if __name__ == "__main__":
    main()
