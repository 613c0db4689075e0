"""Throughput of ``--workers N`` (runs side by side in processes) and whether results stay identical.

    python benchmarks/workers_scaling.py [--workers 1 2] [--repeats 2] [--epochs 10]

Executes one small plan — ``ce`` and ``mae`` on ``mnist5k``, 2 seeds, ``--epochs`` epochs — with
:func:`lossdemo.runner.execute` into a fresh temporary results directory for each worker count,
in alternation (1, 2, 1, 2, ...), and reports the median wall time, the speed-up over one worker,
and whether every execution stored bit-identical histories. For comparison it also times the same
plan as one ``--stack`` of all its runs (one process, one thread; :mod:`lossdemo.engines.stacks`), whose
numbers match up to float reassociation rather than bit for bit. Each run trains on one intra-op
thread (``CPU_THREADS_PER_RUN``), so its numbers do not depend on how many runs share the machine.
The times include starting the worker processes, which a longer plan amortises.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import _common

from lossdemo.results import load_runs
from lossdemo.runner import execute
from lossdemo.train import RunConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to compare (default 1 2)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs per run (default 10: long enough that starting the worker processes, "
                             "a few seconds, does not dominate)")
    parser.add_argument("--dataset", default="mnist5k", help="dataset of the plan (default mnist5k)")
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header(f"--workers scaling on {args.dataset}", info)
    configs = [RunConfig(dataset=args.dataset, loss=loss, seed=seed, epochs=args.epochs)
               for loss in ("ce", "mae") for seed in (0, 1)]
    histories: list[dict] = []

    def execution(workers: int, stack: int = 1):
        def run():
            with tempfile.TemporaryDirectory() as directory:
                execute(configs, Path(directory), workers=workers, stack=stack)
                runs, problems = load_runs(directory)
                assert not problems and len(runs) == len(configs), problems
                if stack == 1:
                    histories.append({run_id: run.record["history"] for run_id, run in runs.items()})
        return run

    variants = {f"{workers} worker(s)": execution(workers) for workers in args.workers}
    stacked_name = f"one stack of {len(configs)} runs"
    variants[stacked_name] = execution(1, stack=len(configs))
    times = _common.interleaved(variants, repeats=args.repeats, warmup=False)
    identical = all(history == histories[0] for history in histories)
    serial_s = _common.median(times[f"{args.workers[0]} worker(s)"])
    rows = [_common.row("plan", f"{len(configs)} runs × {args.epochs} epochs on {args.dataset}, "
                                f"{os.cpu_count()} logical cores")]
    for workers in args.workers:
        seconds = _common.median(times[f"{workers} worker(s)"])
        rows.append(_common.row(f"{workers} worker(s)", f"{seconds:.1f} s, speed-up {serial_s / seconds:.2f}× "
                                                        f"(efficiency {serial_s / seconds / workers:.0%})"))
    stacked_s = _common.median(times[stacked_name])
    rows.append(_common.row(f"{stacked_name} (--stack {len(configs)}: one process, one thread)",
                            f"{stacked_s:.1f} s, speed-up {serial_s / stacked_s:.2f}×"))
    rows.append(_common.row("histories identical across the worker executions", "yes" if identical else "NO",
                            "identical", identical))
    _common.print_rows(rows)
    path = _common.write_results("workers_scaling", {
        "title": "Independent runs in parallel: --workers (goal 3), and --stack on a CPU",
        "machine": info, "epochs": args.epochs, "dataset": args.dataset, "repeats": args.repeats,
        "seconds": times, "identical": identical, "rows": rows,
        "note": "Workers only help with idle cores: when other processes keep the load average near or above "
                "the core count, two runs side by side each get a time-shared core and lose their cache on "
                "every switch, and one worker is faster. Compare the load average under the table.",
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
