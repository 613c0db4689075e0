"""The flags of ``python -m lossdemo.reproduce`` and the checks that need nothing but the flags.

Kept free of torch (2 s to import) so that a mistyped flag, a bad number or a results directory
that is a file fails at once: ``reproduce`` runs :func:`precheck` before its heavy imports, then
parses again with the full parser, whose help lists the allowed datasets, experiments and devices.
Both passes share these definitions, so a bad value gets the same one-line message either way.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import __version__

PROG = "python -m lossdemo.reproduce"
EXAMPLES = f"""examples:
  {PROG}
      the report's comparison on the embedded datasets, on the CPU
  {PROG} --quick
      a smoke test of every stage, in seconds
  {PROG} --full
      everything on the site, the claims experiments included
  {PROG} --losses ce focal:2 --seeds 3 --epochs 50
      a narrower or longer plan
  {PROG} --full --plots-only --results-dir results
      redraw the published site (docs/generated/) from the committed runs
  {PROG} --datasets cifar10 --device cuda --seeds 3 --stack 15
      the CIFAR-10 comparison on a GPU, runs stacked

Your runs go to --results-dir (default runs/) and their figures to docs/local/, which
`mkdocs serve` shows; the committed site, docs/generated/, is drawn from results/ only."""
EXIT_USAGE = 2
DEFAULT_RESULTS_DIR = Path("runs")
PUBLISHED_DIR = Path("results")
# The published site, drawn from PUBLISHED_DIR's runs only; a local reproduce draws into
# LOCAL_FIGURES_DIR (git-ignored), which `mkdocs serve` shows in its place (docs/hooks/local_results.py).
SITE_FIGURES_DIR = Path("docs", "generated")
LOCAL_FIGURES_DIR = Path("docs", "local")
# Seeds are planned run by run; a thousand seeds of the --full plan are already tens of thousands of
# runs, and a mistyped count (an extra zero or three) would otherwise plan for minutes in silence.
MAX_SEEDS = 1000


class UsageError(Exception):
    """Bad flags or values: reported in one line with exit code 2."""


class _HelpRequested(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + traceback-like noise
        if message.startswith("unrecognized arguments"):
            message += f"; allowed flags: see {self.prog} --help"
        raise UsageError(" ".join(message.split()))


class _HelpFromFullParser(argparse.Action):
    """In the torch-free pass, ``--help`` is left to the full parser, whose help names every choice."""

    def __call__(self, parser, namespace, values, option_string=None):
        raise _HelpRequested


@dataclass(frozen=True)
class Choices:
    """The allowed names, which live in modules that import torch."""

    experiments: tuple[str, ...]
    datasets: tuple[str, ...]
    devices: tuple[str, ...]
    engines: tuple[str, ...]


def _number_or_text(text: str) -> int | float | str:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def positive_int(name: str, maximum: int | None = None):
    """An argparse type for a count; the message is the one ``RunConfig`` gives for the same value."""

    def parse(text: str) -> int:
        value = _number_or_text(text)
        if not isinstance(value, int) or value <= 0:
            raise argparse.ArgumentTypeError(f"{name} {value!r} is invalid; allowed: an integer > 0")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{name} {value!r} is invalid; allowed: an integer from 1 to {maximum}")
        return value

    return parse


def _one_of(kind: str, names: tuple[str, ...], indexed: str | None = None):
    """A parser of one of ``names`` (or ``indexed:N``); its error is the one ``resolve_device`` /
    ``resolve_engine`` raise."""
    def parse(text: str) -> str:
        prefix, _, index = text.partition(":")
        if text not in names and not (indexed and prefix == indexed and index.isdigit()):
            more = f", or {indexed}:N for GPU N" if indexed else ""
            raise argparse.ArgumentTypeError(f"unknown {kind} {text!r}; allowed: {', '.join(names)}{more}")
        return text

    return parse


def directory_path(text: str) -> Path:
    """An argparse type for a directory flag: an empty value is an error, not the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: a directory path")
    return Path(text)


SHARD_ALLOWED = "K/N with integers 1 <= K <= N, or auto"


def shard_spec(text: str) -> tuple[int, int] | str:
    """``K/N``, or ``auto``: the slice from a Slurm array's or a Kubernetes indexed Job's environment."""
    if text == "auto":
        return text
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: {SHARD_ALLOWED}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; allowed: {SHARD_ALLOWED}")
    return index, count


def _environment_int(environment: Mapping[str, str], name: str) -> int:
    value = environment[name]
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--shard auto: {name}={value!r} is invalid; allowed: an integer") from None


def shard_from_environment(environment: Mapping[str, str], count: int | None) -> tuple[int, int]:
    """(K, N) for ``--shard auto``, from the job scheduler's variables.

    * Slurm job array: ``SLURM_ARRAY_TASK_ID`` minus ``SLURM_ARRAY_TASK_MIN`` plus 1 of
      ``SLURM_ARRAY_TASK_COUNT`` (``--array=1-8`` and ``--array=0-7`` both give K = 1..8 of 8);
      ``count`` (``--shard-count``) replaces the array's count when given.
    * Kubernetes indexed Job: ``JOB_COMPLETION_INDEX`` (0-based) plus 1 of ``count``, which the
      Job's ``completions`` must equal (Kubernetes does not tell a pod the count).

    Raises UsageError, in one line, for a missing or inconsistent environment.
    """
    if "SLURM_ARRAY_TASK_ID" in environment:
        task = _environment_int(environment, "SLURM_ARRAY_TASK_ID")
        first = _environment_int(environment, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in environment else 1
        if count is None:
            if "SLURM_ARRAY_TASK_COUNT" not in environment:
                raise UsageError("--shard auto: SLURM_ARRAY_TASK_COUNT is not set; allowed: a Slurm job array, "
                                 "or --shard-count N")
            count = _environment_int(environment, "SLURM_ARRAY_TASK_COUNT")
        index, source = task - first + 1, f"SLURM_ARRAY_TASK_ID={task} with SLURM_ARRAY_TASK_MIN={first}"
    elif "JOB_COMPLETION_INDEX" in environment:
        if count is None:
            raise UsageError("--shard auto in a Kubernetes indexed Job needs --shard-count N; allowed: N = the Job's "
                             "completions")
        index = _environment_int(environment, "JOB_COMPLETION_INDEX") + 1
        source = f"JOB_COMPLETION_INDEX={index - 1}"
    else:
        raise UsageError("--shard auto found neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX; allowed: "
                         "--shard K/N, or --shard auto inside a Slurm job array or a Kubernetes indexed Job")
    if not (count >= 1 and 1 <= index <= count):
        raise UsageError(f"--shard auto: {source} gives shard {index} of {count}; allowed: 1 <= K <= N "
                         f"(array indices contiguous, --shard-count equal to the number of tasks)")
    return index, count


def build_parser(choices: Choices | None, description: str = "") -> argparse.ArgumentParser:
    """The parser; with ``choices`` None (the torch-free pass) names are checked later and help is deferred."""
    def allowed(names: tuple[str, ...] | None) -> str:
        return f"; allowed: {', '.join(names)}" if names else ""

    parser = _Parser(prog=PROG, description=description, epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter, add_help=choices is not None)
    parser.add_argument("--version", action="version", version=f"lossdemo {__version__}")
    if choices is None:
        parser.add_argument("-h", "--help", action=_HelpFromFullParser, nargs=0)
    parser.add_argument("--experiments", nargs="+", metavar="NAME",
                        help="experiments to run (default: compare; with --full: all)" + allowed(choices and choices.experiments))
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="datasets (default: the profile's)" + allowed(choices and choices.datasets))
    parser.add_argument("--losses", nargs="+", metavar="SPEC",
                        help="loss specs (default: the experiment's), e.g. mae l1-logits ce focal:0.5 focal:2")
    parser.add_argument("--seeds", type=positive_int("seeds", MAX_SEEDS), metavar="N",
                        help="number of seeds, 0..N-1 (half of them in the label-noise conditions no verdict "
                             "reads; the tune experiment's own seeds start at 1000) (default: the profile's)")
    parser.add_argument("--epochs", type=positive_int("epochs"), metavar="N", help="epochs per run (default: the experiment's)")
    parser.add_argument("--device", default="cpu", metavar="DEVICE",
                        type=_one_of("device", choices.devices, "cuda") if choices else str,
                        help="where to train; cuda:N for one GPU of several, and cuda with --workers N spreads "
                             "the workers over the visible GPUs, one each (default: cpu)"
                             + allowed(choices and choices.devices))
    parser.add_argument("--workers", type=positive_int("workers"), metavar="N",
                        help="train N runs at once in separate processes, one thread each "
                             "(default: one per CPU core on cpu, one per visible GPU with cuda, 1 on cuda:N)")
    parser.add_argument("--stack", type=positive_int("stack"), default=None, metavar="N",
                        help="train up to N compatible runs (same recipe; loss, seed, label noise and the "
                             "learning rate may differ) at once as one stacked model, to fill a GPU that one small "
                             "run leaves idle; 1 trains every run alone; stacked runs are not checkpointed "
                             "(default: on a CPU, the 1-D CNN's runs in stacks of up to 8, computed as matrix products, "
                             "and every other run alone; on a GPU, every run alone)")
    parser.add_argument("--engine", default="auto", type=_one_of("engine", choices.engines) if choices else str, metavar="ENGINE",
                        help="how training steps are computed: 'reference' is plain PyTorch (nn.Module, torch.optim), "
                             "'fast' the same numbers up to float rounding, sooner (stacked matrix products, fused "
                             "kernels); runs are the same runs either way, so stored ones are reused; the time "
                             "estimate assumes 'fast' (default: auto, which is fast on a CPU or CUDA GPU)"
                             + allowed(choices and choices.engines))
    parser.add_argument("--results-dir", type=directory_path, default=DEFAULT_RESULTS_DIR, metavar="DIR",
                        help=f"working results directory (default: {DEFAULT_RESULTS_DIR})")
    parser.add_argument("--published-dir", type=directory_path, default=PUBLISHED_DIR, metavar="DIR",
                        help=f"committed results to compare with and --publish into (default: {PUBLISHED_DIR})")
    parser.add_argument("--figures-dir", type=directory_path, metavar="DIR",
                        help=f"where figures and tables go (default: {LOCAL_FIGURES_DIR}, which mkdocs serve shows; "
                             f"{SITE_FIGURES_DIR}, the published site, when drawing the whole --full plan from "
                             f"--published-dir; with --quick: RESULTS_DIR/figures)")
    parser.add_argument("--data-dir", type=directory_path, metavar="DIR",
                        help="cache for downloaded datasets (default: ~/.cache/lossdemo)")
    parser.add_argument("--shard", type=shard_spec, metavar="K/N",
                        help="train only the K-th of N slices of the plan (round-robin over its sorted runs, sizes "
                             "differ by at most one); auto: K and N from a Slurm job array's or a Kubernetes indexed "
                             "Job's environment")
    parser.add_argument("--shard-count", type=positive_int("shard count"), metavar="N",
                        help="N for --shard auto: required in a Kubernetes indexed Job (its completions), "
                             "replaces SLURM_ARRAY_TASK_COUNT in a Slurm array")
    parser.add_argument("--quick", action="store_true", help="tiny profile for tests and CI (seconds)")
    parser.add_argument("--full", action="store_true",
                        help="everything on the site: compare on both embedded datasets plus every claims "
                             "experiment on mnist1d, 10 seeds per condition (the time estimate is printed before "
                             "training)")
    parser.add_argument("--plots-only", action="store_true", help="redraw figures from stored results; never train")
    parser.add_argument("--force", action="store_true", help="retrain runs even if stored")
    parser.add_argument("--publish", action="store_true", help="copy the finished runs into --published-dir")
    parser.add_argument("--checkpoint", action=argparse.BooleanOptionalAction, default=None,
                        help="save each run's state after every epoch into RESULTS_DIR/checkpoints and resume "
                             "from it after an interruption (default: only for the non-embedded datasets, "
                             "whose runs take minutes; the embedded ones take seconds)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    return parser


def check_directory(path: Path, flag: str, writable: bool = True) -> None:
    """Fail now, in one line, rather than after training: ``path`` must be (or become) a writable directory."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a file; allowed: a directory (it is created if missing)")
    if not writable:
        return
    existing = next((p for p in [path, *path.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is inside the file {str(existing)!r}; allowed: a directory path")
    try:  # a real write, not os.access: root passes access checks that the file system then refuses
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {str(path)!r} is not writable ({error.strerror or error}); "
                         f"allowed: a directory you can write to") from None


def check_flags(args: argparse.Namespace) -> None:
    """Conflicting flags and unusable directories (a default figures directory is checked once chosen)."""
    if args.quick and args.full:
        raise UsageError("--quick and --full conflict: pick one profile")
    if args.plots_only and args.force:
        raise UsageError("--plots-only and --force conflict: --plots-only never trains, --force retrains")
    if args.plots_only and args.publish:
        raise UsageError("--plots-only and --publish conflict: publish after a run that trained or reused results")
    if args.plots_only and args.checkpoint:
        raise UsageError("--plots-only and --checkpoint conflict: --plots-only never trains")
    if args.stack is not None and args.stack > 1 and args.checkpoint:
        raise UsageError(f"--stack {args.stack} and --checkpoint conflict: stacked runs are not checkpointed")
    if args.plots_only and args.shard:
        raise UsageError("--plots-only and --shard conflict: shards only train; draw once, unsharded, after the last "
                         "shard (the merge)")
    if args.shard_count is not None and args.shard != "auto":
        raise UsageError(f"--shard-count {args.shard_count} is only for --shard auto; allowed: --shard K/N alone, "
                         f"or --shard auto --shard-count N")
    check_directory(args.results_dir, "--results-dir", writable=not args.plots_only)
    if args.plots_only and not any(Path(args.results_dir, "runs").glob("*.json")):
        # Checked before torch is imported: an empty directory fails at once, not after seconds of loading.
        raise UsageError(f"no stored runs in {str(args.results_dir)!r}; run without --plots-only to train them")
    if args.figures_dir is not None:
        check_directory(args.figures_dir, "--figures-dir")
    if args.data_dir is not None:
        check_directory(args.data_dir, "--data-dir", writable=False)
    if args.publish:
        check_directory(args.published_dir, "--published-dir")


def choose_figures_dir(args: argparse.Namespace, draws_the_published_site: bool) -> Path:
    """Where generated files go: the flag if given, else RESULTS_DIR/figures with --quick, the
    published site when drawing the whole published plan, and the local folder otherwise.

    Raises UsageError when ``--figures-dir`` names the published site for any other plan: the
    committed site must always agree with the committed results (``tests/test_generated.py``).
    """
    if args.figures_dir is not None:
        if args.figures_dir.resolve() == SITE_FIGURES_DIR.resolve() and not draws_the_published_site:
            raise UsageError(f"--figures-dir {str(args.figures_dir)!r} is the published site, drawn only from the "
                             f"whole published plan; allowed: --full --plots-only --results-dir {PUBLISHED_DIR} "
                             f"(after --publish), or another directory such as {LOCAL_FIGURES_DIR}")
        return args.figures_dir
    if args.quick:
        return args.results_dir / "figures"
    figures_dir = SITE_FIGURES_DIR if draws_the_published_site else LOCAL_FIGURES_DIR
    check_directory(figures_dir, "--figures-dir")
    return figures_dir


@dataclass(frozen=True)
class Options:
    """The CLI's flags, checked and resolved once; every stage of ``reproduce`` reads this, never argparse.

    Attributes:
        profile: "quick", "default" or "full" (``lossdemo.experiments.PROFILES``).
        experiments: the experiments to plan, in order, each once.
        datasets, losses, seeds, epochs: overrides of the profile and the experiments (None: theirs).
        device: the device asked for; device_type: what it resolves to ("cpu" with --plots-only).
        workers: processes training at once; stack: runs per stacked model (None: automatic, see
            ``lossdemo.engines.default_stack_size``); engine: ``auto``, ``fast`` or ``reference``.
        figures_dir: where generated files go (resolved from the profile when not given).
        shard: (K, N) or None.
    """

    profile: str
    experiments: tuple[str, ...]
    datasets: tuple[str, ...] | None
    losses: tuple[str, ...] | None
    seeds: int | None
    epochs: int | None
    device: str
    device_type: str
    workers: int
    stack: int | None
    engine: str
    results_dir: Path
    published_dir: Path
    figures_dir: Path
    data_dir: Path | None
    shard: tuple[int, int] | None
    plots_only: bool
    force: bool
    publish: bool
    checkpoint: bool | None
    no_progress: bool

    @property
    def same_results_and_published(self) -> bool:
        return self.results_dir.resolve() == self.published_dir.resolve()

    @property
    def writes_the_site(self) -> bool:
        """Whether generated files go to the committed site (``docs/generated``)."""
        return self.figures_dir.resolve() == SITE_FIGURES_DIR.resolve()


def resolve_shard(args: argparse.Namespace, environment: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``--shard`` as (K, N), reading the scheduler's environment for ``auto``; None without ``--shard``."""
    if args.shard == "auto":
        return shard_from_environment(os.environ if environment is None else environment, args.shard_count)
    return args.shard


def options_from_args(args: argparse.Namespace, all_experiments: tuple[str, ...], device_type: str,
                      cpu_count: int, figures_dir: Path, gpu_count: int = 1) -> Options:
    """Resolve the parsed flags (already through :func:`check_flags`) into :class:`Options`."""
    profile = "quick" if args.quick else "full" if args.full else "default"
    experiments = tuple(dict.fromkeys(args.experiments or (all_experiments if args.full else ("compare",))))
    workers = args.workers
    if workers is None:  # runs train on one thread each, so one process per core fills the CPU
        workers = cpu_count if device_type == "cpu" else gpu_count if args.device == "cuda" else 1
    return Options(
        profile=profile, experiments=experiments, datasets=tuple(args.datasets) if args.datasets else None,
        losses=tuple(args.losses) if args.losses else None, seeds=args.seeds, epochs=args.epochs,
        device=args.device, device_type=device_type, workers=workers, stack=args.stack, engine=args.engine,
        results_dir=args.results_dir, published_dir=args.published_dir, figures_dir=figures_dir,
        data_dir=args.data_dir, shard=resolve_shard(args), plots_only=args.plots_only, force=args.force,
        publish=args.publish, checkpoint=args.checkpoint, no_progress=args.no_progress,
    )


def precheck(argv: list[str]) -> None:
    """Exit with code 2 and one line if the flags alone are wrong; return otherwise (also for ``--help``)."""
    try:
        check_flags(build_parser(None).parse_args(argv))
    except _HelpRequested:
        return
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
