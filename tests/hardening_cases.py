"""The hardening cases, as data: the tests run them and the Reproduce page lists them.

One table drives both, so the page cannot claim a case that no test checks:

* ``BAD_INPUT_CASES`` — flags run through the real CLI (``tests/test_reproduce_cli.py``); each must
  exit with code 2 and print one line naming the bad value and what is allowed.
* ``LIBRARY_CASES`` — the same kind of mistake made through the Python API; each must raise
  ``ValueError``/``TypeError`` with a one-line message.
* ``GUARANTEES`` — the other promises (interruptions, concurrency, checkpoints, numerics, hygiene),
  each naming the test that proves it; ``tests/test_hardening_cases.py`` checks those tests exist.

Regenerate the page's tally after editing this file:

    python tests/hardening_cases.py      # writes docs/generated/hardening.md
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from support import REPO_ROOT

TALLY_PATH = REPO_ROOT / "docs" / "generated" / "hardening.md"
# Every CLI case runs on a throw-away results and figures directory, so a case that wrongly
# succeeded could never write into the repository.
BASE_ARGS = ("--quick", "--results-dir", "{results}", "--figures-dir", "{figures}")


@dataclass(frozen=True)
class BadInput:
    """One mistaken command line.

    Attributes:
        id: test id.
        what: the mistake, in words, for the docs.
        argv: flags after ``BASE_ARGS``; ``{file}`` is a regular file, ``{empty}`` an empty directory,
            ``{readonly}`` a directory without write permission, ``{results}`` the results directory.
        says: fragments the one-line message must contain (the bad value, what is allowed).
        library: a call that must raise ValueError/TypeError whose message appears in the CLI's line.
        needs: ``""``, or a condition under which the case cannot be set up (checked by the test).
    """

    id: str
    what: str
    argv: tuple[str, ...]
    says: tuple[str, ...]
    library: Callable[[], object] | None = None
    needs: str = ""


def _parse_loss(spec):
    from lossdemo.losses import parse_loss_spec
    return lambda: parse_loss_spec(spec)


def _run_config(**fields):
    from lossdemo.train import RunConfig
    return lambda: RunConfig(**fields)


def _device(name):
    from lossdemo.devices import resolve_device
    return lambda: resolve_device(name)


def _dataset(name):
    from lossdemo.data import load_dataset
    return lambda: load_dataset(name)


def _execute(**options):
    from lossdemo.runner import execute
    return lambda: execute([], "unused-results-dir", **options)


def _experiment(name):
    from lossdemo.experiments import validate_names
    return lambda: validate_names([name], [], [])


LOSS_FORMS = "allowed: mae, l1-logits, ce, focal:<gamma>"
POSITIVE = "allowed: an integer > 0"

BAD_INPUT_CASES: tuple[BadInput, ...] = (
    BadInput("unknown-loss", "an unknown loss name", ("--losses", "foo"), ("'foo'", LOSS_FORMS), _parse_loss("foo")),
    BadInput("focal-missing-gamma", "`focal:` without a γ", ("--losses", "focal:"), ("'focal:'", LOSS_FORMS),
             _parse_loss("focal:")),
    BadInput("focal-without-colon", "`focal` with no γ at all", ("--losses", "focal"),
             ("'focal' needs a gamma", "focal:2", LOSS_FORMS), _parse_loss("focal")),
    BadInput("focal-negative-gamma", "a negative focal γ", ("--losses", "focal:-1"), ("'-1'", ">= 0", LOSS_FORMS),
             _parse_loss("focal:-1")),
    BadInput("focal-non-numeric-gamma", "a non-numeric focal γ", ("--losses", "focal:abc"), ("'abc'", LOSS_FORMS),
             _parse_loss("focal:abc")),
    BadInput("focal-infinite-gamma", "an infinite focal γ", ("--losses", "focal:inf"), ("'inf'", "finite"),
             _parse_loss("focal:inf")),
    BadInput("focal-nan-gamma", "a NaN focal γ", ("--losses", "focal:nan"), ("'nan'", "finite"),
             _parse_loss("focal:nan")),
    BadInput("unknown-dataset", "an unknown dataset", ("--datasets", "imagenet"),
             ("'imagenet'", "allowed: mnist1d, mnist1d-40k, mnist5k, mnist, fashion-mnist, cifar10"), _dataset("imagenet")),
    BadInput("unknown-experiment", "an unknown experiment", ("--experiments", "nope"), ("'nope'", "allowed: compare"),
             _experiment("nope")),
    BadInput("unknown-device", "an unknown device", ("--device", "tpu"), ("'tpu'", "allowed: auto, cpu, cuda, mps"),
             _device("tpu")),
    BadInput("cuda-without-gpu", "`--device cuda` on a machine without a CUDA GPU", ("--device", "cuda"),
             ("'cuda'", "allowed here: auto, cpu"), _device("cuda"), needs="no CUDA GPU"),
    BadInput("mps-without-mps", "`--device mps` where Apple's MPS is absent", ("--device", "mps"),
             ("'mps'", "allowed here: auto, cpu"), _device("mps"), needs="no MPS"),
    BadInput("seeds-zero", "zero seeds", ("--seeds", "0"), ("seeds 0", POSITIVE)),
    BadInput("seeds-negative", "a negative number of seeds", ("--seeds", "-2"), ("seeds -2", POSITIVE)),
    BadInput("seeds-fraction", "a fractional number of seeds", ("--seeds", "1.5"), ("seeds 1.5", POSITIVE)),
    BadInput("seeds-huge", "a number of seeds no plan could hold (planning alone would take minutes)",
             ("--seeds", "1000000000"), ("seeds 1000000000", "allowed: an integer from 1 to 1000")),
    BadInput("epochs-zero", "zero epochs", ("--epochs", "0"), ("epochs 0", POSITIVE), _run_config(epochs=0)),
    BadInput("epochs-negative", "negative epochs", ("--epochs", "-1"), ("epochs -1", POSITIVE), _run_config(epochs=-1)),
    BadInput("epochs-fraction", "fractional epochs", ("--epochs", "2.5"), ("epochs 2.5", POSITIVE),
             _run_config(epochs=2.5)),
    BadInput("epochs-text", "epochs that are not a number", ("--epochs", "many"), ("epochs 'many'", POSITIVE),
             _run_config(epochs="many")),
    BadInput("workers-zero", "zero worker processes", ("--workers", "0"), ("workers 0", POSITIVE)),
    BadInput("stack-zero", "a stack of zero runs", ("--stack", "0"), ("stack 0", POSITIVE)),
    BadInput("stack-with-checkpoint", "`--stack` above 1 with `--checkpoint` (stacks are not checkpointed)",
             ("--stack", "4", "--checkpoint"), ("--stack 4 and --checkpoint conflict",)),
    BadInput("shard-out-of-range", "a shard index above the shard count", ("--shard", "3/2"),
             ("'3/2'", "allowed: K/N with integers 1 <= K <= N, or auto")),
    BadInput("shard-malformed", "a shard that is not K/N", ("--shard", "half"),
             ("'half'", "allowed: K/N with integers 1 <= K <= N, or auto")),
    BadInput("shard-auto-outside-a-scheduler", "`--shard auto` where no Slurm array or Kubernetes indexed Job set "
             "its variables", ("--shard", "auto"), ("--shard auto found neither SLURM_ARRAY_TASK_ID",
                                                   "allowed: --shard K/N")),
    BadInput("shard-count-without-auto", "`--shard-count` with an explicit `--shard K/N`",
             ("--shard", "1/2", "--shard-count", "2"), ("--shard-count 2 is only for --shard auto",)),
    BadInput("plots-only-with-shard", "`--plots-only` with `--shard` (shards train; drawing is the merge's job)",
             ("--plots-only", "--shard", "1/2"), ("--plots-only and --shard conflict",)),
    BadInput("plots-only-with-force", "`--plots-only` with `--force` (never trains vs. retrain)",
             ("--plots-only", "--force"), ("--plots-only and --force conflict",)),
    BadInput("plots-only-with-publish", "`--plots-only` with `--publish`", ("--plots-only", "--publish"),
             ("--plots-only and --publish conflict",)),
    BadInput("results-dir-is-a-file", "a results directory that is a file", ("--results-dir", "{file}"),
             ("--results-dir", "is a file", "allowed: a directory")),
    BadInput("figures-dir-is-a-file", "a figures directory that is a file", ("--figures-dir", "{file}"),
             ("--figures-dir", "is a file", "allowed: a directory")),
    BadInput("results-dir-empty", "an empty results directory (`--results-dir=`), which would mean the current one",
             ("--results-dir=",), ("--results-dir", "'' is invalid", "allowed: a directory path")),
    BadInput("figures-dir-is-the-site", "the published site as figures directory for a plan other than the "
             "published one (it must always agree with `results/`)", ("--figures-dir", "docs/generated"),
             ("'docs/generated' is the published site", "allowed: --full --plots-only")),
    BadInput("loss-outside-the-experiment", "a loss the experiment's grid cannot hold (MAE in the γ sweep)",
             ("--experiments", "gamma-sweep", "--losses", "mae"),
             ("loss 'mae' is invalid for experiment 'gamma-sweep'", "allowed: ce (γ = 0) or focal:<γ>")),
    BadInput("data-dir-is-a-file", "a data directory that is a file", ("--data-dir", "{file}"),
             ("--data-dir", "is a file", "allowed: a directory")),
    BadInput("results-dir-unwritable-fs", "a results directory on a file system that refuses writes (`/proc`)",
             ("--results-dir", "/proc/lossdemo-test/results"), ("'/proc/lossdemo-test/results'", "not writable",
                                                                  "allowed: a directory you can write to"),
             needs="Linux /proc"),
    BadInput("results-dir-no-permission", "a results directory without write permission (`chmod 500`)",
             ("--results-dir", "{readonly}"), ("not writable", "allowed: a directory you can write to"),
             needs="not root"),
    BadInput("unknown-flag", "a misspelt flag", ("--frobnicate",), ("--frobnicate", "--help")),
    BadInput("flag-without-value", "a flag missing its value", ("--losses",), ("--losses", "expected at least one")),
    BadInput("plots-only-nothing-stored", "`--plots-only` on a results directory with no runs", ("--plots-only",),
             ("no stored runs", "run without --plots-only")),
    BadInput("dataset-offline-not-cached",
             "a real dataset that is neither on disk nor downloadable (checked before any run trains)",
             ("--datasets", "mnist1d", "cifar10", "--data-dir", "{empty}"),
             ("'cifar10' is not available", "data_batch_1.bin", "cifar-10-batches-bin")),
)


@dataclass(frozen=True)
class LibraryCase:
    id: str
    what: str
    call: Callable[[], object]
    says: tuple[str, ...]


LIBRARY_CASES: tuple[LibraryCase, ...] = (
    LibraryCase("noise-rate-one", "a label-noise rate of 1 (outside [0, 1))", _run_config(label_noise=1.0),
                ("1.0", "allowed: a number in [0, 1)")),
    LibraryCase("noise-rate-negative", "a negative label-noise rate", _run_config(label_noise=-0.1),
                ("-0.1", "allowed: a number in [0, 1)")),
    LibraryCase("noise-rate-nan", "a NaN label-noise rate", _run_config(label_noise=float("nan")),
                ("nan", "allowed: a number in [0, 1)")),
    LibraryCase("unknown-noise-kind", "an unknown label-noise kind", _run_config(label_noise_kind="pairwise"),
                ("'pairwise'", "allowed: symmetric, asymmetric")),
    LibraryCase("imbalance-below-one", "an imbalance ratio below 1", _run_config(imbalance_ratio=0.5),
                ("0.5", "allowed: a finite number >= 1")),
    LibraryCase("imbalance-infinite", "an infinite imbalance ratio", _run_config(imbalance_ratio=float("inf")),
                ("inf", "allowed: a finite number >= 1")),
    LibraryCase("seed-negative", "a negative seed", _run_config(seed=-1), ("seed -1", "allowed: an integer >= 0")),
    LibraryCase("batch-size-zero", "a batch size of 0", _run_config(batch_size=0), ("batch_size 0", POSITIVE)),
    LibraryCase("lr-zero", "a learning rate of 0", _run_config(lr=0.0), ("lr 0.0", "> 0")),
    LibraryCase("unknown-optimizer", "an unknown optimizer", _run_config(optimizer="rmsprop"),
                ("'rmsprop'", "allowed: sgd, adam")),
    LibraryCase("stack-zero", "a stack of zero runs", _execute(stack=0), ("stack 0", "allowed: an integer >= 1")),
    LibraryCase("stack-with-checkpoint", "checkpoints requested for stacked runs", _execute(stack=2, checkpoint=True),
                ("stack 2 with checkpoint=True", "allowed:")),
    LibraryCase("loss-not-a-string", "a loss spec that is not a string", _parse_loss(2), ("2", "str")),
    LibraryCase("dataset-not-a-string", "a dataset name that is not a string", _dataset(None), ("str", "allowed:")),
)


@dataclass(frozen=True)
class Guarantee:
    topic: str
    statement: str
    test: str  # "tests/<file>.py::<test function>"


GUARANTEES: tuple[Guarantee, ...] = (
    Guarantee("Damaged results", "A truncated results file is reported, not plotted, and left in place",
              "tests/test_reproduce_cli.py::test_truncated_results_file_is_reported_not_plotted_and_kept"),
    Guarantee("Damaged results", "A results file of another schema version is reported and skipped",
              "tests/test_reproduce_cli.py::test_results_file_of_another_schema_version_is_reported_and_skipped"),
    Guarantee("Damaged results", "A damaged file of a planned run is retrained; the old file is kept as `*.corrupt-*`",
              "tests/test_reproduce_cli.py::test_damaged_file_of_a_planned_run_is_retrained_and_the_old_one_kept"),
    Guarantee("Damaged results", "Any JSON whatsoever loads as a valid run or raises `ResultsFileError`, nothing else",
              "tests/test_results.py::test_any_json_is_a_valid_run_or_a_results_file_error"),
    Guarantee("Interruptions", "SIGINT and SIGTERM mid-run: exit 130 with the command to resume; finished runs kept, "
              "the run in flight not recorded; the next invocation recomputes nothing finished",
              "tests/test_interrupts.py::test_signal_mid_run_keeps_finished_runs_and_resumes"),
    Guarantee("Interruptions", "`kill -9` mid-run: no partial or corrupt JSON visible; leftovers of the dead process "
              "are ignored and then removed", "tests/test_interrupts.py::test_kill_9_leaves_no_visible_partial_result"),
    Guarantee("Interruptions", "A write that fails half-way leaves the previous file intact and no temp file",
              "tests/test_results.py::test_a_failed_write_leaves_the_old_file_and_no_temp_file"),
    Guarantee("Concurrency", "Two reproduces on one results directory split the work; every run stored exactly once",
              "tests/test_interrupts.py::test_two_reproduces_on_one_results_dir_store_every_run_once"),
    Guarantee("Concurrency", "A run locked by another process is waited for and reused, not trained twice",
              "tests/test_runner.py::test_a_run_locked_elsewhere_is_waited_for_and_reused"),
    Guarantee("Checkpoints", "A run resumed from its last per-epoch checkpoint has the same history, bit for bit",
              "tests/test_train.py::test_resuming_from_a_checkpoint_gives_the_uninterrupted_history"),
    Guarantee("Checkpoints", "Checkpoints load with `weights_only=True`: a pickle that runs code is refused",
              "tests/test_train.py::test_a_checkpoint_that_would_run_code_is_refused"),
    Guarantee("Checkpoints", "A finished run's checkpoint is removed; an interrupted one's is resumed",
              "tests/test_runner.py::test_execute_resumes_from_a_checkpoint_and_removes_it"),
    Guarantee("Numerics", "Every loss finite with finite gradients over random logits up to ±1e4, ties, "
              "batches of 1–512, float32 and bfloat16, γ ∈ [0, 5], random α",
              "tests/test_numerics.py::test_every_loss_is_finite_with_finite_gradients"),
    Guarantee("Numerics", "γ = 0 focal equals cross-entropy; focal ≤ cross-entropy; MAE ∈ [0, 2] (same inputs)",
              "tests/test_numerics.py::test_focal_and_mae_bounds_hold_at_extreme_logits"),
    Guarantee("Numerics", "A diverging run is stopped and marked `diverged` with its epoch",
              "tests/test_train.py::test_a_diverging_run_is_stopped_and_marked_with_its_epoch"),
    Guarantee("Numerics", "Diverged runs are counted in tables, never averaged in",
              "tests/test_train.py::test_diverged_runs_are_counted_not_averaged_in_tables"),
    Guarantee("Determinism", "Same config and seed give a bitwise-identical history on CPU, for every loss",
              "tests/test_train.py::test_same_config_and_seed_give_a_bitwise_identical_history"),
    Guarantee("Hygiene", "No pickle: the package never unpickles (`weights_only=True`, JSON for results)",
              "tests/test_hygiene.py::test_the_package_never_unpickles"),
    Guarantee("Hygiene", "Notebooks are committed without outputs",
              "tests/test_notebooks_meta.py::test_committed_without_outputs"),
    Guarantee("Hygiene", "Notebooks hold no local paths", "tests/test_notebooks_meta.py::test_no_local_paths"),
    Guarantee("Hygiene", "Dependencies pinned to compatible ranges, `mkdocs<2`",
              "tests/test_hygiene.py::test_dependencies_have_compatible_ranges"),
    Guarantee("Hygiene", "Workflows: actions pinned to a commit, with its release beside it",
              "tests/test_workflows.py::test_actions_are_pinned_to_a_commit_with_its_version_beside_it"),
    Guarantee("Hygiene", "Workflows: least-privilege permissions, no secrets needed",
              "tests/test_workflows.py::test_workflows_only_read_the_repository_by_default"),
    Guarantee("Hygiene", "CI runs the README's test command",
              "tests/test_readme.py::test_ci_extracts_exactly_the_readme_test_command"),
)


def render_tally() -> str:
    """The Markdown included by docs/reproduce.md."""
    lines = [
        "<!-- Generated by `python tests/hardening_cases.py` from the tables the tests run; do not edit. -->",
        "",
        f"**Bad input through the command line** ({len(BAD_INPUT_CASES)} cases). Each exits with code 2 and one "
        "line on stderr naming the bad value and what is allowed, with no traceback and no result written:",
        "",
        "| case | example |",
        "|---|---|",
    ]
    for case in BAD_INPUT_CASES:
        example = " ".join(case.argv).replace("{file}", "FILE").replace("{empty}", "EMPTY_DIR") \
            .replace("{readonly}", "READ_ONLY_DIR").replace("|", "\\|")
        lines.append(f"| {case.what} | `{example}` |")
    lines += [
        "",
        f"**Bad input through the Python API** ({len(LIBRARY_CASES)} cases, plus every CLI case above that has a "
        f"library equivalent: {sum(case.library is not None for case in BAD_INPUT_CASES)}). Each raises "
        "`ValueError` or `TypeError` with the same one-line message:",
        "",
    ]
    lines += [f"- {case.what}" for case in LIBRARY_CASES]
    lines += ["", f"**Interruptions, concurrency, checkpoints, numerics and hygiene** ({len(GUARANTEES)} checks):", "",
              "| topic | guarantee | test |", "|---|---|---|"]
    for guarantee in GUARANTEES:
        lines.append(f"| {guarantee.topic} | {guarantee.statement} | `{guarantee.test.split('::')[1]}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    TALLY_PATH.parent.mkdir(parents=True, exist_ok=True)
    TALLY_PATH.write_text(render_tally(), encoding="utf-8")
    print(f"wrote {TALLY_PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
