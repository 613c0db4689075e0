"""How close one training epoch gets to the CPU's compute bound, for the image model and the 1-D CNN.

    python benchmarks/compute_efficiency.py [--repeats 5] [--threads 1]

Measures, in one process and in alternation (median of ``--repeats`` rounds):

* an epoch of the default image model ``cnn2d-stem`` on ``mnist5k`` as ``reproduce`` trains it —
  31 SGD steps of 128 of the 4,000 training images, then the full train and test sets evaluated —
  timed between the epoch callbacks of :func:`lossdemo.train.train_run`, so it includes evaluation
  and metrics;
* the epoch's FLOPs, counted by ``torch.utils.flop_counter.FlopCounterMode`` over one training
  step (times the steps) and over the evaluation of both splits;
* a GEMM-class rate on the same cores at the same thread count: the faster of a 1024³ sgemm and a
  large 1×1 convolution (256→256 channels, 28×28, channels-last), median of five calls per round.

The same for ``cnn1d`` on ``mnist1d`` (31 steps of 128 of the 4,000 training signals, then both
splits evaluated), two ways: one run alone through the ``nn.Module`` layers (``train_run``), and a
run's share of a stack of ``CPU_STACK_SIZE`` runs computed as matrix products
(``lossdemo.engines.cnn1d_gemm``), which is how ``reproduce`` trains mnist1d on a CPU; and the part of that
stacked epoch spent in its matrix products, read from the profiler: the path's floor.

The compute bound is FLOPs / GEMM rate; the goal is an epoch within 2.5× of it. Timed alongside,
to show what the model's structure and two of the training loop's settings buy: an epoch of the
earlier default ``cnn2d`` (same widths and about the same FLOPs, but its first layer writes 16
channels at the full 28×28), the same epoch in NCHW (contiguous) layout instead of channels-last,
and an MAE epoch with denormal floats computed as such instead of flushed to zero (MAE's vanishing
gradients pass through denormals).
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace

import _common
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lossdemo.data import load_dataset
from lossdemo.devices import CPU_THREADS_PER_RUN, cpu_threads, place_inputs, place_model
from lossdemo.engines import modules as modules_engine
from lossdemo.engines.cpu import CPU_STACK_SIZE, eval_batch_size
from lossdemo.losses import get_loss
from lossdemo.models import build_model, memory_format_for
from lossdemo.train import RunConfig, train_run, train_runs

GOAL_RATIO = 2.5
CONFIG = RunConfig(dataset="mnist5k", epochs=4)  # epochs 2..4 are timed; epoch 1 warms the caches
EARLIER_MODEL = "cnn2d"
SIGNAL_CONFIG = RunConfig(dataset="mnist1d", epochs=4)  # the report's recipe on the 1-D signals
STACK_LOSSES = ("ce", "focal:0.5", "focal:2", "mae")  # a stack mixes losses, as the experiments' stacks do


def epoch_flops(dataset, config: RunConfig = CONFIG) -> tuple[int, int]:
    """(training FLOPs per epoch, evaluation FLOPs per epoch) of ``config`` on ``dataset``."""
    device = torch.device("cpu")
    memory_format = memory_format_for(config.model, device)
    model = place_model(build_model(config.model, dataset.input_shape, dataset.num_classes), device, memory_format)
    x_train = place_inputs(dataset.x_train, device, memory_format)
    loss_fn = get_loss(config.loss)
    steps = len(dataset.y_train) // config.batch_size
    with FlopCounterMode(display=False) as step_counter:
        loss_fn(model(x_train[: config.batch_size]), dataset.y_train[: config.batch_size]).backward()
    # FlopCounterMode counts aten's convolutions, not oneDNN's fused one (the same FLOPs): count the
    # plain model's evaluation, chunk by chunk as predict_logits runs it.
    with FlopCounterMode(display=False) as eval_counter, torch.no_grad():
        for x in (x_train, place_inputs(dataset.x_test, device, memory_format)):
            for chunk in torch.split(x, eval_batch_size(device)):
                model.eval()(chunk)
    return step_counter.get_total_flops() * steps, eval_counter.get_total_flops()


def gemm_rate(calls: int = 5) -> tuple[float, float]:
    """(sgemm GFLOP/s, 1×1 convolution GFLOP/s), median of ``calls`` calls each (as the epochs)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    x = torch.randn(32, 256, 28, 28).contiguous(memory_format=torch.channels_last)
    w = torch.randn(256, 256, 1, 1).contiguous(memory_format=torch.channels_last)
    rates = []
    for flops, op in ((2 * 1024**3, lambda: torch.mm(a, b)), (2 * 32 * 28 * 28 * 256 * 256, lambda: F.conv2d(x, w))):
        op()
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            op()
            seconds.append(time.perf_counter() - started)
        rates.append(flops / _common.median(seconds) / 1e9)
    return rates[0], rates[1]


@contextmanager
def contiguous_layout():
    """Train as before channels-last: every model in PyTorch's default NCHW layout."""
    original = modules_engine.memory_format_for
    modules_engine.memory_format_for = lambda *args: torch.contiguous_format
    try:
        yield
    finally:
        modules_engine.memory_format_for = original


@contextmanager
def denormals_kept():
    """Train as before flushing denormals: ``torch.set_flush_denormal`` does nothing."""
    original = torch.set_flush_denormal
    torch.set_flush_denormal = lambda mode: False
    try:
        yield
    finally:
        torch.set_flush_denormal = original


def median_signal_epoch_seconds(dataset, threads: int) -> float:
    """An mnist1d epoch of one run alone (``train_run``, nn.Module layers)."""
    stamps = []
    train_run(SIGNAL_CONFIG, dataset, on_epoch=lambda epoch, metrics: stamps.append(time.perf_counter()), threads=threads)
    return _common.median([later - earlier for earlier, later in zip(stamps, stamps[1:])])


def median_epoch_seconds(dataset, threads: int, setting=None, loss: str = CONFIG.loss, model: str = CONFIG.model) -> float:
    stamps = []

    def callback(epoch, metrics):
        stamps.append(time.perf_counter())

    with setting() if setting is not None else nullcontext():
        train_run(replace(CONFIG, loss=loss, model=model), dataset, on_epoch=callback, threads=threads)
    return _common.median([later - earlier for earlier, later in zip(stamps, stamps[1:])])


def median_stacked_epoch_seconds(dataset, threads: int, runs: int = CPU_STACK_SIZE) -> float:
    """A run's share of a stacked epoch: the stack's epoch time (between the last run's callbacks) / runs."""
    configs = [replace(SIGNAL_CONFIG, loss=STACK_LOSSES[k % len(STACK_LOSSES)], seed=k) for k in range(runs)]
    stamps = []

    def callback(config, epoch, metrics):
        if config is configs[-1]:
            stamps.append(time.perf_counter())

    train_runs(configs, dataset, threads=threads, on_epoch=callback)
    return _common.median([later - earlier for earlier, later in zip(stamps, stamps[1:])]) / runs


MATRIX_PRODUCTS = ("aten::bmm", "aten::baddbmm")


def stacked_matmul_seconds(dataset, threads: int, runs: int = CPU_STACK_SIZE) -> float:
    """A run's share of the time a stacked epoch spends inside its matrix products alone: the
    profiler's self time of ``MATRIX_PRODUCTS`` over a stack's epochs, divided by epochs and runs.
    What the matrix-product path could reach if every other operator took no time."""
    configs = [replace(SIGNAL_CONFIG, loss=STACK_LOSSES[k % len(STACK_LOSSES)], seed=k) for k in range(runs)]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        train_runs(configs, dataset, threads=threads)
    micros = sum(event.self_cpu_time_total for event in profiler.key_averages() if event.key in MATRIX_PRODUCTS)
    return micros / 1e6 / SIGNAL_CONFIG.epochs / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--threads", type=int, default=CPU_THREADS_PER_RUN,
                        help=f"intra-op threads for both the epoch and the GEMM "
                             f"(default {CPU_THREADS_PER_RUN}, as reproduce trains)")
    args = parser.parse_args()
    info = _common.machine_info()
    _common.print_header(f"compute efficiency: {CONFIG.model} on mnist5k and cnn1d on mnist1d vs FLOPs / GEMM rate", info)
    dataset = load_dataset("mnist5k")
    signals = load_dataset("mnist1d")
    with cpu_threads(args.threads):
        train_flops, eval_flops = epoch_flops(dataset)
        earlier_flops = sum(epoch_flops(dataset, replace(CONFIG, model=EARLIER_MODEL)))
        signal_train_flops, signal_eval_flops = epoch_flops(signals, SIGNAL_CONFIG)
        gemm_rates: list[tuple[float, float]] = []

        def measure_gemm():
            gemm_rates.append(gemm_rate())
            return None

        times = _common.interleaved({
            "epoch": lambda: median_epoch_seconds(dataset, args.threads),
            "gemm": measure_gemm,
            "epoch_earlier_model": lambda: median_epoch_seconds(dataset, args.threads, model=EARLIER_MODEL),
            "epoch_nchw": lambda: median_epoch_seconds(dataset, args.threads, contiguous_layout),
            "epoch_mae": lambda: median_epoch_seconds(dataset, args.threads, loss="mae"),
            "epoch_mae_denormals": lambda: median_epoch_seconds(dataset, args.threads, denormals_kept, loss="mae"),
            "signal_epoch_alone": lambda: median_signal_epoch_seconds(signals, args.threads),
            "signal_epoch_stacked": lambda: median_stacked_epoch_seconds(signals, args.threads),
            "signal_stack_matmuls": lambda: stacked_matmul_seconds(signals, args.threads),
        }, repeats=args.repeats)
    flops = train_flops + eval_flops
    epoch_s, nchw_s = _common.median(times["epoch"]), _common.median(times["epoch_nchw"])
    sgemm = _common.median([rates[0] for rates in gemm_rates[1:]])  # [0] is the warm-up round
    conv1x1 = _common.median([rates[1] for rates in gemm_rates[1:]])
    reference = max(sgemm, conv1x1)
    bound_s = flops / (reference * 1e9)
    ratio = epoch_s / bound_s
    signal_flops = signal_train_flops + signal_eval_flops
    signal_bound_s = signal_flops / (reference * 1e9)
    alone_s, stacked_s = _common.median(times["signal_epoch_alone"]), _common.median(times["signal_epoch_stacked"])
    matmul_s = _common.median(times["signal_stack_matmuls"])
    earlier_s = _common.median(times["epoch_earlier_model"])
    earlier_ratio = earlier_s / (earlier_flops / (reference * 1e9))
    rows = [
        _common.row("FLOPs per epoch (31 training steps + evaluation of 5,000 images)",
                    f"{flops / 1e9:.1f} GFLOP ({train_flops / 1e9:.1f} training + {eval_flops / 1e9:.1f} evaluation)"),
        _common.row("epoch time (median)", f"{epoch_s:.3f} s at {args.threads} thread(s)"),
        _common.row("achieved rate", f"{flops / epoch_s / 1e9:.1f} GFLOP/s"),
        _common.row("GEMM-class rate (faster of sgemm / 1×1 convolution)",
                    f"{reference:.1f} GFLOP/s (sgemm {sgemm:.1f}, 1×1 conv {conv1x1:.1f})"),
        _common.row("epoch / compute bound", f"{ratio:.2f}×", f"≤ {GOAL_RATIO}×", ratio <= GOAL_RATIO),
        _common.row(f"earlier model {EARLIER_MODEL} (full-resolution first layer): epoch, and its epoch / compute bound",
                    f"{earlier_s:.3f} s ({earlier_s / epoch_s:.2f}× as long, {earlier_flops / 1e9:.1f} GFLOP), "
                    f"{earlier_ratio:.2f}×"),
        _common.row("NCHW epoch / channels-last epoch", f"{nchw_s / epoch_s:.2f}×"),
        _common.row("MAE epoch with denormals / flushed (same numbers either way)",
                    f"{_common.median(times['epoch_mae_denormals']) / _common.median(times['epoch_mae']):.2f}× "
                    f"({_common.median(times['epoch_mae_denormals']):.2f} s / {_common.median(times['epoch_mae']):.2f} s)"),
        _common.row("cnn1d on mnist1d: FLOPs per epoch (31 training steps + evaluation of 5,000 signals)",
                    f"{signal_flops / 1e9:.2f} GFLOP ({signal_train_flops / 1e9:.2f} training + "
                    f"{signal_eval_flops / 1e9:.2f} evaluation), compute bound {signal_bound_s * 1e3:.1f} ms"),
        _common.row("cnn1d epoch, one run alone through nn.Module layers: time, and epoch / compute bound",
                    f"{alone_s * 1e3:.1f} ms, {alone_s / signal_bound_s:.2f}×"),
        _common.row(f"cnn1d epoch, a run's share of a stack of {CPU_STACK_SIZE} as matrix products (how reproduce "
                    f"trains mnist1d): epoch / compute bound",
                    f"{stacked_s * 1e3:.1f} ms, {stacked_s / signal_bound_s:.2f}× "
                    f"({alone_s / stacked_s:.2f}× faster than alone)", f"≤ {GOAL_RATIO}×",
                    stacked_s / signal_bound_s <= GOAL_RATIO),
        _common.row("the same stack's matrix products alone (bmm, from the profiler): a run's share, and that / compute "
                    "bound (the floor of this path: what is left if every other operator took no time)",
                    f"{matmul_s * 1e3:.1f} ms, {matmul_s / signal_bound_s:.2f}× ({signal_flops / matmul_s / 1e9:.0f} "
                    f"GFLOP/s on matrices 25 or 10 columns wide), {matmul_s / stacked_s:.0%} of the stacked epoch"),
    ]
    _common.print_rows(rows)
    path = _common.write_results("compute_efficiency", {
        "title": "Compute efficiency of a CPU training epoch (goal 1)",
        "machine": info, "threads": args.threads, "repeats": args.repeats,
        "flops_per_epoch": flops, "train_flops_per_epoch": train_flops, "eval_flops_per_epoch": eval_flops,
        "model": CONFIG.model, "epoch_seconds": times["epoch"], "epoch_nchw_seconds": times["epoch_nchw"],
        "earlier_model": EARLIER_MODEL, "earlier_model_flops_per_epoch": earlier_flops,
        "earlier_model_epoch_seconds": times["epoch_earlier_model"], "earlier_model_ratio_to_bound": earlier_ratio,
        "epoch_mae_seconds": times["epoch_mae"], "epoch_mae_denormals_seconds": times["epoch_mae_denormals"],
        "sgemm_gflops": [rates[0] for rates in gemm_rates], "conv1x1_gflops": [rates[1] for rates in gemm_rates],
        "ratio_to_bound": ratio, "goal_ratio": GOAL_RATIO,
        "signal_flops_per_epoch": signal_flops, "signal_epoch_alone_seconds": times["signal_epoch_alone"],
        "signal_epoch_stacked_seconds": times["signal_epoch_stacked"], "signal_stack_size": CPU_STACK_SIZE,
        "signal_stacked_ratio_to_bound": stacked_s / signal_bound_s,
        "signal_stack_matmul_seconds": times["signal_stack_matmuls"], "rows": rows,
    })
    print(f"   wrote {path.relative_to(_common.REPO)} and {_common.SUMMARY_PATH.relative_to(_common.REPO)}")


if __name__ == "__main__":
    main()
