"""Where a run computes and at which precision: device names, autocast, and CPU threads."""

from __future__ import annotations

import contextlib

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
# One intra-op thread per run on CPU: ATen and oneDNN split reductions by thread count, so the
# numbers of a run would otherwise depend on the machine's core count. Parallelism comes from
# training runs side by side (``--workers``; benchmarks/workers_scaling.py measures it).
CPU_THREADS_PER_RUN = 1


def resolve_device(device: str) -> torch.device:
    """Map ``auto|cpu|cuda|cuda:N|mps`` to an available device; asking for an absent GPU is an error,
    never a silent run on the CPU."""
    kind, _, index = device.partition(":") if isinstance(device, str) else ("", "", "")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}, or cuda:N for GPU N")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but no CUDA GPU works here (none is visible, or its driver is "
                         f"too old for this torch); allowed here: auto, cpu")
    if index and int(index) >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device {device!r} requested but {count} CUDA GPU(s) are visible; allowed: cuda:0 to "
                         f"cuda:{count - 1}")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but Apple's MPS backend is not available; allowed here: auto, cpu")
    return torch.device(device)


def device_for_worker(device: str, worker: int, gpu_count: int) -> str:
    """The device worker ``worker`` (0-based) of a pool trains on: with ``cuda`` and several visible
    GPUs, one GPU each in turn; any other device (``cuda:N`` included) as given."""
    if device == "cuda" and gpu_count > 1:
        return f"cuda:{worker % gpu_count}"
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` means bf16 autocast on a CUDA GPU that supports it, float32 everywhere else.

    bf16 only changes the forward pass's matrix products (the losses upcast logits to float32),
    so every loss still gets the same recipe; on a CPU it would change the published numbers.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def autocast_for(device: torch.device, precision: str):
    """A context in which forward passes run at ``precision`` (from :func:`resolve_precision`)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def cpu_threads(count: int | None):
    """Run the block with ``count`` intra-op threads (None: leave torch's setting), then restore it."""
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def place_model(model: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> torch.nn.Module:
    """``model`` on ``device`` with its 4-D weights in ``memory_format``."""
    if memory_format == torch.contiguous_format:  # also the only choice before a lazy layer is built
        return model.to(device)
    return model.to(device, memory_format=memory_format)


def place_inputs(x: torch.Tensor, device: torch.device, memory_format: torch.memory_format) -> torch.Tensor:
    """``x`` on ``device`` in the model's layout (4-D image batches only; other ranks as they are)."""
    x = x.to(device)
    return x.contiguous(memory_format=memory_format) if x.dim() == 4 else x
