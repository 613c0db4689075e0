"""The fast engine's speed-up over the reference engine, per model, measured side by side.

Both engines train the same runs (same configs, same data, one thread, as ``reproduce`` trains);
the rounds alternate reference, fast, reference, fast, ... and each variant's median seconds per
run-epoch is taken. For ``cnn1d`` the fast engine trains a stack of runs as ``reproduce`` does on
a CPU, and its time is a run's share of the stack; the other models train one run at a time on
both engines. The reference engine is what a reader of ``lossdemo.train`` would write: an
``nn.Module``, ``torch.optim``, PyTorch's softmax.
"""

from __future__ import annotations

import argparse
import functools
import time
from dataclasses import replace

import _common
import torch

from lossdemo.data import Dataset, load_dataset
from lossdemo.devices import CPU_THREADS_PER_RUN, cpu_threads
from lossdemo.engines.cpu import CPU_STACK_SIZE
from lossdemo.protocol import VALIDATION_FRACTION
from lossdemo.run_config import RunConfig
from lossdemo.train import train_runs


def _subset(dataset: Dataset, train: int, test: int) -> Dataset:
    return Dataset(dataset.name, dataset.x_train[:train], dataset.y_train[:train], dataset.x_test[:test],
                   dataset.y_test[:test], dataset.num_classes, dataset.class_names)


def _cifar_shaped(train: int, test: int) -> Dataset:
    """Random 3×32×32 images with learnable labels: the shapes of CIFAR-10, which cannot be downloaded here."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (train + test,), generator=generator)
    images = torch.randn(train + test, 3, 32, 32, generator=generator) + labels.view(-1, 1, 1, 1) / 5
    return Dataset("cifar-shaped", images[:train], labels[:train], images[train:], labels[train:], 10,
                   tuple(str(k) for k in range(10)))


def cases() -> list[tuple[str, Dataset, int]]:
    """(model, dataset, runs trained together on the fast engine)."""
    mnist5k = _subset(load_dataset("mnist5k"), 2000, 1000)
    return [("cnn1d", load_dataset("mnist1d"), CPU_STACK_SIZE), ("cnn1d", load_dataset("mnist1d"), 1),
            ("cnn2d-stem", mnist5k, 1), ("cnn2d", mnist5k, 1), ("resnet", _cifar_shaped(512, 256), 1)]


def seconds_per_run_epoch(model: str, dataset: Dataset, runs: int, engine: str, epochs: int, threads: int) -> float:
    config = RunConfig(dataset=dataset.name, model=model, epochs=epochs, lr=0.05, validation_fraction=VALIDATION_FRACTION,
                       train_metrics_samples=1000)
    configs = [replace(config, seed=seed) for seed in range(runs)]
    started = time.perf_counter()
    with cpu_threads(threads):
        if engine == "reference":  # the reference engine trains runs one by one anyway
            for one in configs:
                train_runs([one], dataset, engine="reference", threads=threads)
        else:
            train_runs(configs, dataset, engine="fast", stacked=runs > 1 or model == "cnn1d", threads=threads)
    return (time.perf_counter() - started) / (runs * epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed call (default 2)")
    parser.add_argument("--threads", type=int, default=CPU_THREADS_PER_RUN,
                        help=f"intra-op threads (default {CPU_THREADS_PER_RUN}, as reproduce trains)")
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header("engines: the fast engine's speed-up over the reference engine, per model", info)
    rows, measured = [], {}
    for model, dataset, runs in cases():
        times = _common.interleaved({
            engine: functools.partial(seconds_per_run_epoch, model, dataset, runs, engine, args.epochs, args.threads)
            for engine in ("reference", "fast")}, repeats=args.repeats)
        reference_s, fast_s = _common.median(times["reference"]), _common.median(times["fast"])
        how = f"a run's share of a stack of {runs}" if runs > 1 else "one run"
        label = f"{model} on {dataset.name} ({len(dataset.y_train)} training samples), {how}"
        measured[label] = times
        rows.append(_common.row(f"{label}: reference / fast seconds per run-epoch",
                                f"{reference_s:.3f} / {fast_s:.3f} s: fast engine speed-up {reference_s / fast_s:.2f}×"))
        _common.print_rows(rows[-1:])
    path = _common.write_results("engines", {
        "title": "The fast engine against the reference engine, per model",
        "machine": info, "threads": args.threads, "repeats": args.repeats, "epochs": args.epochs,
        "seconds_per_run_epoch": measured, "rows": rows,
        "note": "Both engines train the same runs to float rounding (tests/test_engines.py); the times include "
                "each epoch's evaluation of the validation, test and train-metrics splits.",
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
