"""Regenerate every result, figure and table of the site with one command.

    python -m lossdemo.reproduce                 # default profile: the report's comparison, CPU
    python -m lossdemo.reproduce --quick         # seconds: a smoke test of every stage
    python -m lossdemo.reproduce --plots-only --results-dir results   # redraw from committed results
    python -m lossdemo.reproduce --datasets cifar10 --device cuda --seeds 3

Training writes one JSON per run into ``--results-dir`` (resumable: stored runs are reused), then
figures and tables are drawn from those files into ``--figures-dir``, and the numbers are compared
with the published (committed) results. ``--publish`` copies the finished run set there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from .data import DATASETS, DatasetUnavailableError
from .experiments import EXPERIMENTS, PROFILES, plan_runs, validate_names
from .plots import group_runs
from .render import render_compare, update_manifest
from .results import RUNS_SUBDIR, ResultsFileError, load_run, load_runs
from .runner import execute, pending_runs, shard
from .tables import compare_with_published
from .train import DEVICES, RunConfig, resolve_device

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_RESULTS_DIR = Path("runs")
PUBLISHED_DIR = Path("results")
DEFAULT_FIGURES_DIR = Path("docs", "generated")
# Seconds per training epoch (incl. full-set evaluation) on a 2-core laptop-class CPU, measured by
# benchmarks/; a GPU is assumed ~10x faster. Only used for the estimate printed before training.
CPU_SECONDS_PER_EPOCH = {"mnist1d": 0.1, "mnist5k": 0.5, "mnist": 8.0, "fashion-mnist": 8.0, "cifar10": 120.0}


class UsageError(Exception):
    """Bad flags or values: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + traceback-like noise
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; allowed: an integer > 0") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: an integer > 0")
    return value


def _shard_spec(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: K/N with integers 1 <= K <= N") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: K/N with integers 1 <= K <= N")
    return index, count


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lossdemo.reproduce", description=__doc__.split("\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=["compare"], metavar="NAME",
                        help=f"experiments to run (default: compare); allowed: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help=f"datasets (default: the profile's); allowed: {', '.join(DATASETS)}")
    parser.add_argument("--losses", nargs="+", metavar="SPEC",
                        help="loss specs (default: the experiment's), e.g. mae l1-logits ce focal:0.5 focal:2")
    parser.add_argument("--seeds", type=_positive_int, metavar="N", help="number of seeds, 0..N-1 (default: the profile's)")
    parser.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs per run (default: the experiment's)")
    parser.add_argument("--device", default="cpu", choices=DEVICES, metavar="DEVICE",
                        help=f"where to train (default: cpu); allowed: {', '.join(DEVICES)}")
    parser.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                        help="train N runs at once in separate processes (default: 1)")
    parser.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, metavar="DIR",
                        help=f"working results directory (default: {DEFAULT_RESULTS_DIR})")
    parser.add_argument("--published-dir", type=Path, default=PUBLISHED_DIR, metavar="DIR",
                        help=f"committed results to compare with and --publish into (default: {PUBLISHED_DIR})")
    parser.add_argument("--figures-dir", type=Path, metavar="DIR",
                        help=f"where figures and tables go (default: {DEFAULT_FIGURES_DIR}; with --quick: RESULTS_DIR/figures)")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="cache for downloaded datasets (default: ~/.cache/lossdemo)")
    parser.add_argument("--shard", type=_shard_spec, metavar="K/N", help="run only the K-th of N deterministic slices of the plan")
    parser.add_argument("--quick", action="store_true", help="tiny profile for tests and CI (seconds)")
    parser.add_argument("--plots-only", action="store_true", help="redraw figures from stored results; never train")
    parser.add_argument("--force", action="store_true", help="retrain runs even if stored")
    parser.add_argument("--publish", action="store_true", help="copy the finished runs into --published-dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    return parser


def _check_directory(path: Path, flag: str) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a file; allowed: a directory (it is created if missing)")
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    if not os.access(existing, os.W_OK):
        raise UsageError(f"{flag} {str(path)!r} is not writable; allowed: a directory you can write to")


def plan(args) -> list[RunConfig]:
    """The run configs the flags ask for, in a stable order."""
    profile = PROFILES["quick" if args.quick else "default"]
    datasets = tuple(args.datasets or profile.datasets)
    validate_names(args.experiments, datasets, args.losses or ())
    seeds = args.seeds or profile.seeds
    configs = []
    for name in args.experiments:
        configs += plan_runs(EXPERIMENTS[name], datasets, tuple(args.losses or ()), seeds, args.epochs or profile.epochs)
    if args.shard:
        configs = shard(configs, *args.shard)
    return configs


def estimate_seconds(configs: list[RunConfig], device: str, workers: int) -> float:
    per_epoch = sum(CPU_SECONDS_PER_EPOCH.get(c.dataset, 1.0) * c.epochs for c in configs)
    speedup = 10.0 if device in ("cuda", "mps") else min(workers, os.cpu_count() or 1) ** 0.5
    return per_epoch / speedup


def _format_duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _collect(configs: list[RunConfig], results_dir: Path) -> tuple[list, list[str]]:
    stored, problems = load_runs(results_dir)
    wanted = list(dict.fromkeys(config.run_id for config in configs))
    return [stored[run_id] for run_id in wanted if run_id in stored], problems


def _train(configs, args, log) -> int:
    todo, _ = pending_runs(configs, args.results_dir, args.force)
    epochs = sum(config.epochs for config in todo)
    log(f"plan: {len(configs)} runs, {len(configs) - len(todo)} already stored in {args.results_dir}, "
        f"{len(todo)} to train; estimated {_format_duration(estimate_seconds(todo, args.device, args.workers))}")
    bar = tqdm(total=epochs, unit="epoch", disable=args.no_progress or not todo, dynamic_ncols=True)

    def on_epoch(config, epoch):
        bar.set_postfix_str(f"{config.dataset} {config.loss} seed {config.seed} epoch {epoch}/{config.epochs}", refresh=False)
        bar.update(1)

    def on_run_done(config, status):
        if args.workers > 1:
            bar.update(config.epochs)
        if status == "diverged":
            bar.write(f"diverged: {config.dataset} {config.loss} seed {config.seed} (recorded as diverged)")

    try:
        summary = execute(configs, args.results_dir, device=args.device, workers=args.workers, force=args.force,
                          data_dir=args.data_dir, on_epoch=on_epoch, on_run_done=on_run_done)
    finally:
        bar.close()
    for problem in summary.skipped_files:
        log(f"skipped unreadable results file (left in place; --force retrains it): {problem}")
    log(f"trained {len(summary.trained)} runs ({len(summary.diverged)} diverged), reused {len(summary.reused)}")
    return len(summary.trained)


def _render(configs, args, figures_dir: Path, log) -> list[Path]:
    runs, problems = _collect(configs, args.results_dir)
    for problem in problems:
        log(f"skipped unreadable results file (not plotted): {problem}")
    missing = len(set(c.run_id for c in configs)) - len(runs)
    if not runs:
        raise UsageError(f"no stored runs for this plan in {str(args.results_dir)!r}; run without --plots-only to train them")
    if missing:
        log(f"warning: {missing} planned runs are not stored yet; figures show the {len(runs)} that are")
    figures_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    compare_ids = {c.run_id for name in args.experiments if name == "compare" for c in configs}
    if compare_ids:
        written.update(render_compare([r for r in runs if r.config.run_id in compare_ids], figures_dir))
    update_manifest(figures_dir, written)
    return [figures_dir / name for name in written]


def _compare_published(configs, args, log) -> None:
    if args.published_dir.resolve() == args.results_dir.resolve() or not (args.published_dir / RUNS_SUBDIR).is_dir():
        return
    mine, _ = _collect(configs, args.results_dir)
    published, _ = load_runs(args.published_dir)
    published_by_key = group_runs(published.values())
    log(f"compared with the published results in {args.published_dir} (final test accuracy, mean ± 95 % CI):")
    for (dataset, loss), runs in group_runs(mine).items():
        for line in compare_with_published({loss: runs}, {loss: published_by_key.get((dataset, loss), [])}):
            log(f"  {dataset} {line}")


def _publish(configs, args, log) -> None:
    target = args.published_dir / RUNS_SUBDIR
    target.mkdir(parents=True, exist_ok=True)
    runs, _ = _collect(configs, args.results_dir)
    for run in runs:
        load_run(run.path)  # re-validate right before copying
        temp = target / f".{run.path.name}.tmp"
        shutil.copyfile(run.path, temp)
        os.replace(temp, target / run.path.name)
    log(f"published {len(runs)} runs into {target}")


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    started = time.perf_counter()
    log = lambda message: print(message, file=sys.stderr)  # noqa: E731  (stdout stays free for tools)
    try:
        args = build_parser().parse_args(argv)
        if args.plots_only and args.force:
            raise UsageError("--plots-only and --force conflict: --plots-only never trains, --force retrains")
        if args.plots_only and args.publish:
            raise UsageError("--plots-only and --publish conflict: publish after a run that trained or reused results")
        _check_directory(args.results_dir, "--results-dir")
        figures_dir = args.figures_dir or (args.results_dir / "figures" if args.quick else DEFAULT_FIGURES_DIR)
        _check_directory(figures_dir, "--figures-dir")
        if not args.plots_only:
            resolve_device(args.device)
        configs = plan(args)
        if not configs:
            raise UsageError(f"shard {args.shard[0]}/{args.shard[1]} of this plan is empty; allowed: fewer shards")
        if not args.plots_only:
            _train(configs, args, log)
        written = _render(configs, args, figures_dir, log) if not args.shard else []
        _compare_published(configs, args, log)
        if args.publish:
            _publish(configs, args, log)
    except UsageError as error:
        log(f"error: {error}")
        return EXIT_USAGE
    except (ValueError, TypeError, ResultsFileError) as error:
        log(f"error: {error}")
        return EXIT_USAGE
    except DatasetUnavailableError as error:
        log(f"error: {error}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        log("interrupted: finished runs are stored; run the same command again to resume where it stopped")
        return EXIT_INTERRUPTED
    log(f"wrote {len(written)} files into {figures_dir}; results in {args.results_dir}; took {_format_duration(time.perf_counter() - started)}")
    return EXIT_OK


def main() -> None:
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # a polite kill resumes like Ctrl-C
    sys.exit(run())


if __name__ == "__main__":
    main()
