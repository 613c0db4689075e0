"""The GPU path: CIFAR-10-sized runs, float32 vs bf16, one run at a time vs many stacked at once.

    python benchmarks/gpu.py [--epochs 2] [--stack 12]
    python benchmarks/gpu.py --device cpu --train-size 256 --test-size 128 --image-size 8   # smoke test

Without a CUDA GPU it records why it was skipped and exits. With one, on CIFAR-10-shaped data
(the real CIFAR-10 when it is in the data directory, otherwise random tensors of its shape —
speed does not depend on pixel values) and the ``resnet`` model, it measures the time of the
last of ``--epochs`` epochs of:

* one run in float32 (``precision="fp32"``; cuDNN may still use TF32 for convolutions);
* one run under bf16 autocast (the default on CUDA);
* ``--stack`` runs trained together by :func:`lossdemo.train.train_runs` under bf16;

and counts the host synchronisations of one bf16 epoch (``torch.cuda.set_sync_debug_mode``): the
design has one per epoch (the metrics), none per step. It then projects the goal: CIFAR-10 with
four losses × 3 seeds × 25 epochs (12 runs) in ≤ 3 min, one run at a time and stacked.
"""

from __future__ import annotations

import argparse
import time
import warnings

import _common
import torch

from lossdemo.data import Dataset, DatasetUnavailableError, load_dataset
from lossdemo.train import RunConfig, train_run, train_runs

GOAL_S = 180
GOAL_RUNS, GOAL_EPOCHS = 12, 25
LOSSES = ("mae", "ce", "focal:0.5", "focal:2")


def cifar_shaped(train_size: int, test_size: int, image_size: int) -> tuple[Dataset, str]:
    if (train_size, test_size, image_size) == (50_000, 10_000, 32):
        try:
            return load_dataset("cifar10", download=False), "CIFAR-10"
        except DatasetUnavailableError:
            pass
    generator = torch.Generator().manual_seed(0)
    dataset = Dataset(
        "cifar10",
        torch.randn(train_size, 3, image_size, image_size, generator=generator),
        torch.randint(0, 10, (train_size,), generator=generator),
        torch.randn(test_size, 3, image_size, image_size, generator=generator),
        torch.randint(0, 10, (test_size,), generator=generator),
        10, tuple(str(c) for c in range(10)),
    )
    return dataset, f"random tensors of shape ({train_size}, 3, {image_size}, {image_size})"


def last_epoch_seconds(train, device: torch.device) -> float:
    stamps = []

    def on_epoch(*_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    train(on_epoch)
    if len(stamps) < 2:
        raise ValueError("need --epochs >= 2: the first epoch includes cuDNN's autotuning")
    return stamps[-1] - stamps[-2]


def syncs_per_epoch(config: RunConfig, dataset: Dataset) -> int:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train_run(config, dataset, device="cuda")
        finally:
            torch.cuda.set_sync_debug_mode(0)
    return sum("synchroniz" in str(warning.message) for warning in caught)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only as a smoke test, not recorded")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement; the last is timed (default 2)")
    parser.add_argument("--stack", type=int, default=GOAL_RUNS, help=f"runs per stack (default {GOAL_RUNS})")
    parser.add_argument("--train-size", type=int, default=50_000)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=32)
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header("GPU path: CIFAR-10-sized resnet runs", info)
    record = args.device == "cuda"
    if record and not torch.cuda.is_available():
        reason = "no CUDA device here (torch.cuda.is_available() is False); GPU timing is pending"
        print(f"   skipped: {reason}")
        _common.write_results("gpu", {"title": "GPU path (goal 5)", "machine": info, "skipped": reason})
        return
    device = torch.device(args.device)
    dataset, source = cifar_shaped(args.train_size, args.test_size, args.image_size)
    base = RunConfig(dataset="cifar10", model="resnet", epochs=args.epochs)
    configs = [RunConfig(dataset="cifar10", model="resnet", epochs=args.epochs, loss=loss, seed=seed)
               for seed in range(3) for loss in LOSSES][: args.stack]
    fp32_s = last_epoch_seconds(lambda cb: train_run(base, dataset, device=args.device, precision="fp32", on_epoch=cb), device)
    bf16_s = last_epoch_seconds(lambda cb: train_run(base, dataset, device=args.device, precision="bf16", on_epoch=cb), device)
    def stacked(cb):
        epochs_seen = set()

        def once_per_epoch(config, epoch, metrics):  # called per run; the first call ends the epoch
            if epoch not in epochs_seen:
                epochs_seen.add(epoch)
                cb()

        train_runs(configs, dataset, device=args.device, precision="bf16", on_epoch=once_per_epoch)

    stacked_s = last_epoch_seconds(stacked, device)
    syncs = syncs_per_epoch(RunConfig(dataset="cifar10", model="resnet", epochs=1), dataset) if record else None
    one_at_a_time_s = GOAL_RUNS * GOAL_EPOCHS * bf16_s
    stacked_goal_s = GOAL_EPOCHS * stacked_s * GOAL_RUNS / len(configs)
    rows = [
        _common.row("data", source),
        _common.row("one epoch, one run, float32", f"{fp32_s:.2f} s"),
        _common.row("one epoch, one run, bf16 autocast", f"{bf16_s:.2f} s ({fp32_s / bf16_s:.2f}× faster than float32)"),
        _common.row(f"one epoch, {len(configs)} runs stacked, bf16", f"{stacked_s:.2f} s "
                    f"({len(configs) * bf16_s / stacked_s:.2f}× the throughput of one run at a time)"),
        _common.row("host synchronisations in one bf16 epoch", "not measured" if syncs is None else
                    f"{syncs} (steps per epoch: {args.train_size // base.batch_size})"),
        _common.row(f"projected: {GOAL_RUNS} runs × {GOAL_EPOCHS} epochs, one at a time (bf16)", f"{one_at_a_time_s:.0f} s",
                    f"≤ {GOAL_S} s", one_at_a_time_s <= GOAL_S),
        _common.row(f"projected: {GOAL_RUNS} runs × {GOAL_EPOCHS} epochs, stacked (bf16)", f"{stacked_goal_s:.0f} s",
                    f"≤ {GOAL_S} s", stacked_goal_s <= GOAL_S),
    ]
    _common.print_rows(rows)
    if not record:
        print(f"   smoke test on {args.device}: not recorded")
        return
    path = _common.write_results("gpu", {
        "title": "GPU path (goal 5)", "machine": info, "epochs": args.epochs, "stack": len(configs),
        "fp32_epoch_s": fp32_s, "bf16_epoch_s": bf16_s, "stacked_epoch_s": stacked_s, "syncs_per_epoch": syncs,
        "rows": rows,
        "note": "Projections multiply one measured epoch; evaluation of the full train and test sets is included.",
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
