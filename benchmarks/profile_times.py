"""Wall time of ``python -m lossdemo.reproduce`` profiles, each run as a subprocess into a temp dir.

    python benchmarks/profile_times.py                      # --quick and --plots-only (about a minute)
    python benchmarks/profile_times.py --profiles           # + the default profile (minutes)
    python benchmarks/profile_times.py --full               # + the --full profile (about half an hour)

Measures, from start to exit of the command, with the CLI's own estimate (printed before it
trains) next to each training profile:

* ``--quick`` (goal ≤ 60 s), twice, each into a fresh results directory;
* ``--plots-only`` (goal ≤ 15 s), twice: on the committed ``results/`` when it holds runs, else on
  the quick profile's runs; figures go to a temp dir, never into ``docs/``;
* with ``--profiles``: the default profile (the comparison on mnist1d and mnist5k, 5 seeds,
  goal ≤ 10 min) with ``--workers`` set to ``--workers`` (default: every core);
* with ``--full``: ``reproduce --full``, every experiment with the fair protocol's tuning
  (goal ≤ 45 min); ``--keep-full DIR`` keeps its run files (to publish them, say). A full profile
  made in several invocations, as the protocol makes it (the tuning first, its picks written, then
  the rest), is recorded from their logs instead: ``--full-logs LOG ...`` adds up each log's "took"
  time and the estimates printed for the runs it trained, and ``--full-runs DIR`` names its runs.

For each training profile the CLI's estimate is compared with the measured time (goal: within
±25 %; the estimate covers training, the measured time also start-up, loading and drawing).

Also derives the CPU seconds per epoch of each dataset from the run files' ``wall_time_s``, the
numbers behind each dataset's ``cpu_seconds_per_epoch`` in ``lossdemo/data.py`` (``DATASET_INFO``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _common

from lossdemo.results import load_runs

GOALS_S = {"quick": 60, "plots-only": 15, "default": 600, "full": 2700}
ESTIMATE_TOLERANCE = 0.25  # the CLI's estimate within ±25 % of the measured time
ESTIMATE = re.compile(r"estimated ([\d.]+) (s|min)")
TOOK = re.compile(r"took ([\d.]+) (s|min)")


def _seconds(match) -> float:
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def from_logs(paths: list[Path]) -> tuple[float, float]:
    """(wall seconds, the CLI's estimates in seconds) added up over the logs of one profile's invocations."""
    seconds = estimate = 0.0
    for path in paths:
        text = path.read_text()
        took, estimated = TOOK.findall(text), ESTIMATE.search(text)
        if not took or estimated is None:
            raise ValueError(f"log {str(path)!r} is invalid; allowed: the output of one finished reproduce command")
        seconds += _seconds(TOOK.search(text))
        estimate += _seconds(estimated)
    return seconds, estimate


def run_reproduce(arguments: list[str], timeout_s: float) -> tuple[float, float | None]:
    """(wall seconds, the CLI's own estimate in seconds or None); raises if the command fails."""
    command = [sys.executable, "-m", "lossdemo.reproduce", "--no-progress", *arguments]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=_common.REPO, capture_output=True, text=True, timeout=timeout_s)
    seconds = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {finished.returncode}: {finished.stderr.strip()[-400:]}")
    match = ESTIMATE.search(finished.stderr)
    estimate = None if match is None else float(match.group(1)) * (60 if match.group(2) == "min" else 1)
    return seconds, estimate


def seconds_per_epoch(results_dirs: list[Path]) -> dict[str, float]:
    """Median wall time per epoch of the stored runs, by dataset."""
    per_dataset = defaultdict(list)
    for directory in results_dirs:
        runs, _ = load_runs(directory)
        for run in runs.values():
            epochs = len(run.record["history"]["train_loss"])
            per_dataset[run.config.dataset].append(run.record["metadata"]["wall_time_s"] / epochs)
    return {dataset: _common.median(values) for dataset, values in sorted(per_dataset.items())}


def verdict(name: str, seconds: float, estimate: float | None = None) -> dict:
    # The CLI estimates training only; start-up, data loading and drawing come on top of it.
    estimate_text = f" (the CLI's training estimate: {estimate:.0f} s)" if estimate is not None else ""
    return _common.row(f"`{name}`", f"{seconds:.1f} s{estimate_text}", f"≤ {GOALS_S[name]} s", seconds <= GOALS_S[name])


def estimate_row(name: str, seconds: float, estimate: float | None) -> dict:
    ratio = None if not estimate else estimate / seconds
    value = "no estimate printed" if ratio is None else f"{ratio:.2f} ({estimate:.0f} s estimated, {seconds:.0f} s measured)"
    return _common.row(f"`{name}`: the CLI's estimate / measured time", value,
                       f"{1 - ESTIMATE_TOLERANCE:.2f} to {1 + ESTIMATE_TOLERANCE:.2f}",
                       ratio is not None and abs(ratio - 1) <= ESTIMATE_TOLERANCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", action="store_true", help="also run the default profile (minutes)")
    parser.add_argument("--full", action="store_true", help="also reproduce --full (about half an hour)")
    parser.add_argument("--keep-full", type=Path, metavar="DIR",
                        help="with --full: train into DIR (new or empty) and keep its run files")
    parser.add_argument("--full-logs", type=Path, nargs="+", metavar="LOG",
                        help="record the full profile from these logs of its invocations instead of running it")
    parser.add_argument("--full-runs", type=Path, metavar="DIR", help="with --full-logs: the results directory they wrote")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="--workers for the long profiles (default: every core)")
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header("wall time of the reproduce profiles", info)
    rows, raw = [], {}
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        quick_dirs = [temp / f"quick-{index}" for index in range(2)]
        quick = [run_reproduce(["--quick", "--results-dir", str(d)], 300) for d in quick_dirs]
        raw["quick_seconds"] = [seconds for seconds, _ in quick]
        rows.append(verdict("quick", _common.median(raw["quick_seconds"]), quick[0][1]))
        published = _common.REPO / "results"
        has_published = published.is_dir() and any((published / "runs").glob("*.json"))
        plots_arguments = (["--results-dir", str(published)] if has_published else
                           ["--quick", "--results-dir", str(quick_dirs[0])])
        raw["plots_only_source"] = "results/ (committed)" if has_published else "the --quick runs"
        raw["plots_only_seconds"] = [
            run_reproduce(["--plots-only", *plots_arguments, "--figures-dir", str(temp / f"figures-{i}")], 120)[0]
            for i in range(2)]
        rows.append(verdict("plots-only", _common.median(raw["plots_only_seconds"])))
        rows[-1]["measure"] += f" on {raw['plots_only_source']}"
        print(f"   quick {raw['quick_seconds']}, plots-only {raw['plots_only_seconds']}", flush=True)
        timed_dirs = list(quick_dirs)
        if args.profiles:
            default_dir = temp / "default"
            seconds, estimate = run_reproduce(["--results-dir", str(default_dir), "--figures-dir", str(temp / "fig-default"),
                                               "--workers", str(args.workers)], 3600)
            raw["default_seconds"], raw["default_estimate_seconds"] = seconds, estimate
            rows.append(verdict("default", seconds, estimate))
            rows[-1]["measure"] += f" with --workers {args.workers}"
            timed_dirs.append(default_dir)
            print(f"   default {seconds:.0f} s", flush=True)
            rows.append(estimate_row("default", seconds, estimate))
        if args.full:
            full_dir = args.keep_full or temp / "full"
            seconds, estimate = run_reproduce(["--full", "--results-dir", str(full_dir), "--figures-dir",
                                               str(temp / "fig-full"), "--workers", str(args.workers)], 7200)
            raw["full_seconds"], raw["full_estimate_seconds"] = seconds, estimate
            rows.append(verdict("full", seconds, estimate))
            rows[-1]["measure"] += f": every experiment with the fair protocol's tuning, --workers {args.workers}"
            rows.append(estimate_row("full", seconds, estimate))
            timed_dirs.append(full_dir)
            print(f"   full {seconds:.0f} s", flush=True)
        elif args.full_logs:
            seconds, estimate = from_logs(args.full_logs)
            raw["full_seconds"], raw["full_estimate_seconds"] = seconds, estimate
            rows.append(verdict("full", seconds, estimate))
            rows[-1]["measure"] += f": in {len(args.full_logs)} invocations (the tuning first), from their logs"
            rows.append(estimate_row("full", seconds, estimate))
            if args.full_runs:
                timed_dirs.append(args.full_runs)
        raw["cpu_seconds_per_epoch"] = seconds_per_epoch(timed_dirs)
    previous_path = _common.RESULTS_DIR / "profile_times.json"
    previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
    for name in ("default", "full"):  # a long profile not run this time keeps its last measurement
        if f"{name}_seconds" not in raw and f"{name}_seconds" in previous:
            raw[f"{name}_seconds"] = previous[f"{name}_seconds"]
            raw[f"{name}_estimate_seconds"] = previous.get(f"{name}_estimate_seconds")
            raw[f"{name}_measured_at"] = previous.get(f"{name}_measured_at", previous["machine"]["measured_at"])
            rows.append(verdict(name, raw[f"{name}_seconds"], raw[f"{name}_estimate_seconds"]))
            rows[-1]["measure"] += f" (measured {raw[f'{name}_measured_at']}, not rerun this time)"
            rows.append(estimate_row(name, raw[f"{name}_seconds"], raw[f"{name}_estimate_seconds"]))
        elif f"{name}_seconds" in raw:
            raw[f"{name}_measured_at"] = info["measured_at"]
    for dataset, seconds in raw["cpu_seconds_per_epoch"].items():
        rows.append(_common.row(f"seconds per epoch on {dataset} (median over the runs, one thread)", f"{seconds:.2f} s"))
    _common.print_rows(rows)
    path = _common.write_results("profile_times", {
        "title": "Wall time of the reproduce profiles (goal 4)", "machine": info, "workers": args.workers,
        **raw, "rows": rows,
        "note": "The default and full profiles take minutes; they run only with `--profiles` (`--full`)."
                if "default_seconds" not in raw else "",
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
