"""The fast engine's CPU pieces; none changes what a model computes.

* :func:`fast_forward` — runs each ``Conv2d`` → ``ReLU`` pair of an ``nn.Sequential`` as one oneDNN
  call (what ``torch.compile`` emits on a CPU), saving the ReLU's extra pass over the activations;
* :func:`cpu_micro_batch_for` — splits an SGD step into passes that stay in cache, for the one model
  whose full-resolution first layer needs it;
* :func:`flush_denormals` — MAE's vanishing gradients pass through denormal floats, which x86 cores
  process many times slower than normal ones;
* :func:`eval_batch_size` — the chunk size of the no-gradient evaluation passes;
* :func:`stack_size_for` — how many runs of a model train together as one stack
  (:mod:`lossdemo.engines.stacks`; for the 1-D CNN, as matrix products by
  :mod:`lossdemo.engines.cnn1d_gemm`).

The fused call's backward uses two private ATen operators; :func:`conv_relu_backward` has the
public formula as its fallback, and ``tests/test_engines.py`` checks that the two agree.
``benchmarks/compute_efficiency.py`` measures what each piece buys; ``tests/test_speed_paths.py``
checks that each leaves the numbers as they were (bit for bit, or up to float reassociation where said).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

# Evaluation needs no gradients: on a GPU one large chunk means few kernel launches; on a CPU a
# chunk that stays in cache is faster. At one thread, chunks of 64 images or more give the same
# logits bit for bit (tests/test_speed_paths.py), so retuning this keeps stored histories reproducible.
EVAL_BATCH_SIZE = {"cpu": 256}
EVAL_BATCH_SIZE_ACCELERATOR = 8192

# oneDNN's convolution with a fused ReLU; absent from some builds (then nothing is fused).
_CONVOLUTION_RELU = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)
# ATen's backward operators for it, private too; without them the public formula runs.
_PRIVATE_BACKWARD = all(hasattr(torch.ops.aten, name) for name in ("threshold_backward", "convolution_backward"))


def eval_batch_size(device: torch.device) -> int:
    """Samples per evaluation chunk on ``device``."""
    return EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE_ACCELERATOR)


class _ConvolutionReLU(torch.autograd.Function):
    """``relu(conv2d(x))`` as one oneDNN call; the backward is autograd's own for the two layers."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride: list[int], padding: list[int]):
        output = _CONVOLUTION_RELU(x, weight, bias, padding, stride, [1, 1], 1, "relu", [], "")
        ctx.save_for_backward(x, weight, output)
        ctx.stride, ctx.padding, ctx.has_bias = stride, padding, bias is not None
        return output

    @staticmethod
    def backward(ctx, grad_output):
        x, weight, output = ctx.saved_tensors
        wanted = (ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2])
        grads = conv_relu_backward(grad_output, x, weight, output, ctx.stride, ctx.padding, ctx.has_bias, wanted)
        return *grads, None, None


def conv_relu_backward(grad_output, x, weight, output, stride: list[int], padding: list[int], has_bias: bool,
                       wanted: tuple[bool, bool, bool], use_private: bool = _PRIVATE_BACKWARD):
    """Gradients ``(x, weight, bias)`` of ``relu(conv2d(x, weight, bias))`` from its ``output`` (None
    where not ``wanted``): ATen's convolution backward when ``use_private``, else the public
    ``torch.nn.grad`` functions, which compute the same products."""
    if use_private:
        grad_output = torch.ops.aten.threshold_backward(grad_output, output, 0)  # as ReLU's backward
        return torch.ops.aten.convolution_backward(
            grad_output, x, weight, [weight.shape[0]] if has_bias else None, stride, padding,
            [1, 1], False, [0, 0], 1, list(wanted))
    grad_output = torch.where(output > 0, grad_output, torch.zeros_like(grad_output))
    grad_x = torch.nn.grad.conv2d_input(x.shape, weight, grad_output, stride, padding) if wanted[0] else None
    grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad_output, stride, padding) if wanted[1] else None
    grad_bias = grad_output.sum((0, 2, 3)) if wanted[2] else None
    return grad_x, grad_weight, grad_bias


def _fusable(conv: nn.Module, x: torch.Tensor) -> bool:
    """Whether oneDNN's fused kernel computes exactly ``relu(conv(x))`` for this layer and input."""
    return (_CONVOLUTION_RELU is not None and type(conv) is nn.Conv2d
            and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
            and conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str) and conv.weight.is_contiguous(memory_format=torch.channels_last))


def _fused_sequential_forward(layers: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    index = 0
    while index < len(layers):
        layer, following = layers[index], layers[index + 1] if index + 1 < len(layers) else None
        if type(following) is nn.ReLU and _fusable(layer, x):
            x = _ConvolutionReLU.apply(x, layer.weight, layer.bias, list(layer.stride), list(layer.padding))
            index += 2
        else:
            x = layer(x)
            index += 1
    return x


def fast_forward(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model``'s forward, with each fusable ``Conv2d`` → ``ReLU`` pair of a plain ``nn.Sequential`` run
    as one oneDNN call on a CPU.

    Same layers, same parameters, same numbers (the fused call adds the same products and then
    clamps at 0). Anything else (other module types, a GPU, bf16 autocast, NCHW weights) runs as
    ``model(x)``; so does every ``torch.func`` transform, which should call the model directly.
    """
    if type(model) is not nn.Sequential or _CONVOLUTION_RELU is None:
        return model
    layers = list(model)
    if not any(type(a) is nn.Conv2d and type(b) is nn.ReLU for a, b in zip(layers, layers[1:])):
        return model
    return lambda x: _fused_sequential_forward(layers, x)


# Runs of the 1-D CNN per CPU stack: enough that a step's operator calls are shared, few enough that
# a stack's activations stay near the core's cache (benchmarks/compute_efficiency.py times the choice).
CPU_STACK_SIZE = 8


def stack_size_for(model_name: str, device: torch.device | str) -> int:
    """Runs of ``model_name`` that ``reproduce`` trains together as one stack on ``device`` by default.

    On a CPU the 1-D CNN stacks (its steps are mostly operator calls, which a stack shares); every
    other model trains one run at a time, as do all models on a GPU unless ``--stack`` says otherwise.
    """
    return CPU_STACK_SIZE if model_name == "cnn1d" and torch.device(device).type == "cpu" else 1


def cpu_micro_batch_for(model_name: str, device: torch.device | str) -> int | None:
    """Samples per forward/backward pass within one SGD step, or None for the whole batch at once.

    On a CPU ``cnn2d`` runs each step as passes of 64 samples whose gradients add up: its
    full-resolution first layer writes 16×28×28 floats per sample, and halves stay in cache. The
    gradient is the same batch mean, summed in another order. Models with batch norm are never
    split (their batch statistics would change), nor are the small 1-D models (their steps are
    dominated by per-call overhead, which splitting doubles), nor ``cnn2d-stem`` (no such layer).
    """
    return 64 if model_name == "cnn2d" and torch.device(device).type == "cpu" else None


@contextlib.contextmanager
def flush_denormals():
    """Compute with float32 numbers below 1.2e-38 ("denormals") as zero on the CPU; off again afterwards.

    Vanishing gradients — MAE's on confidently wrong samples, the very effect the report is about —
    pass through denormals, which x86 cores process many times slower than normal numbers. A
    denormal lies far below the rounding unit of every weight, activation and sum it meets, so
    flushing leaves the recorded numbers as they were (``tests/test_speed_paths.py`` checks a run).
    """
    supported = torch.set_flush_denormal(True)  # False on CPUs without the SSE3 flags; nothing changes then
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)
