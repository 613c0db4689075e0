"""``cnn1d`` for K runs at once as batched matrix products, with a hand-written backward pass.

An mnist1d training step of ``cnn1d`` is tiny (three convolutions of 25 channels over 40 samples):
on a CPU, one run's step spends most of its time dispatching operators and converting layouts, not
multiplying. This module runs a *stack* of K such networks (one flat parameter row per run) as a
short, fixed list of operators whatever K is, so the dispatch cost is shared by K runs and the time
goes into ``torch.bmm``:

* activations are kept as (K, B·L, C) matrices (positions of a signal in rows, channels in
  columns) in zero-padded buffers; a 1-D convolution gathers each output position's window (in
  this layout ``kernel`` consecutive rows, one contiguous stretch, so the gather copies whole
  stretches) with a last column of ones, and multiplies it by the weights with the bias appended
  as one more row, in one ``bmm``;
* the backward pass is written out (:class:`_StackForward`): the weight gradient of a layer is
  (its output gradient)ᵀ × (its input windows), the input gradient is (output gradient) × weights,
  summed back onto the signal one tap at a time; autograd records one node per step, not dozens;
* the parameters of all runs live in one (K, P) tensor, so the optimizer updates them in a few
  operators (:class:`lossdemo.stacked.StackedSGD`, :class:`~lossdemo.stacked.StackedAdam`).

It computes the same network as :func:`lossdemo.models.cnn1d` with ``nn.Conv1d`` (the products are
summed in another order, so numbers agree to float rounding; ``tests/test_speed_paths.py`` checks
values and gradients against autograd, and stacked runs against single runs).
``lossdemo.stacked`` uses it for every CPU stack of a model it :func:`supports`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# Samples per evaluation call: K runs' activations of a chunk this size stay in a CPU's cache.
EVAL_CHUNK = 128


@dataclass(frozen=True)
class ConvLayer:
    """One ``Conv1d`` → ``ReLU`` pair: its geometry and where its weight and bias sit in a flat parameter row."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    padding: int
    in_length: int
    out_length: int
    weight_at: int  # offset of the (out, in·kernel) weight in a flat row; the bias follows it

    @property
    def bias_at(self) -> int:
        return self.weight_at + self.out_channels * self.in_channels * self.kernel


@dataclass(frozen=True)
class Cnn1dLayout:
    """The geometry of a ``[Conv1d, ReLU]* + Flatten + Linear`` network and its flat parameter row.

    The row is ``torch.cat([p.reshape(-1) for p in model.parameters()])``: each layer's weight then
    bias, in the model's order, so a row is built from (and read back into) a plain model.
    """

    convs: tuple[ConvLayer, ...]
    classes: int
    linear_at: int  # offset of the (classes, channels·length) linear weight; its bias follows
    width: int  # numbers in one flat row

    @property
    def features(self) -> tuple[int, int]:
        """(channels, length) of the last convolution's output, which the linear layer reads."""
        return self.convs[-1].out_channels, self.convs[-1].out_length


def _conv_is_plain(layer: nn.Module) -> bool:
    return (type(layer) is nn.Conv1d and layer.groups == 1 and layer.dilation == (1,) and layer.bias is not None
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str))


def layout_of(model: nn.Module, input_shape: tuple[int, int]) -> Cnn1dLayout | None:
    """The layout of ``model`` for inputs of shape ``input_shape`` (channels, length), or None when this
    module cannot compute it (any other structure than plain ``Conv1d``/``ReLU`` pairs, ``Flatten``, ``Linear``)."""
    if type(model) is not nn.Sequential or len(input_shape) != 2:
        return None
    layers = list(model)
    if len(layers) < 4 or len(layers) % 2 or type(layers[-2]) is not nn.Flatten or type(layers[-1]) is not nn.Linear:
        return None
    channels, length = input_shape
    convs, offset = [], 0
    for conv, activation in zip(layers[:-2:2], layers[1:-2:2]):
        if not _conv_is_plain(conv) or type(activation) is not nn.ReLU or conv.in_channels != channels:
            return None
        (kernel,), (stride,), (padding,) = conv.kernel_size, conv.stride, conv.padding
        out_length = (length + 2 * padding - kernel) // stride + 1
        if out_length < 1:
            return None
        convs.append(ConvLayer(channels, conv.out_channels, kernel, stride, padding, length, out_length, offset))
        offset = convs[-1].bias_at + conv.out_channels
        channels, length = conv.out_channels, out_length
    linear = layers[-1]
    if linear.bias is None or isinstance(linear.weight, nn.parameter.UninitializedParameter) \
            or linear.in_features != channels * length:
        return None
    width = offset + linear.out_features * (linear.in_features + 1)
    return Cnn1dLayout(tuple(convs), linear.out_features, offset, width)


def supports(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> bool:
    """Whether stacks of ``model`` can train here: a plain 1-D CNN in float32 on a CPU."""
    return torch.device(device).type == "cpu" and layout_of(model, tuple(input_shape)) is not None \
        and all(p.dtype == torch.float32 for p in model.parameters())


def flat_parameters(models: list[nn.Module]) -> torch.Tensor:
    """(K, P): one row per model, each its parameters flattened in order (a new tensor, not views)."""
    return torch.stack([torch.cat([p.detach().reshape(-1) for p in model.parameters()]) for model in models])


def _weights(layout: Cnn1dLayout, flat: torch.Tensor):
    """Per convolution its weight (K, out, kernel·in), tap-major like the windows, and the same with the
    bias appended as one more input row (K, kernel·in + 1, out); then the linear layer's weight with its
    inputs reordered to (length, channels), and its bias (K, 1, classes). Small copies, once per step."""
    runs = flat.shape[0]
    convs = []
    for conv in layout.convs:
        weight = flat[:, conv.weight_at : conv.bias_at].view(runs, conv.out_channels, conv.in_channels, conv.kernel) \
            .transpose(2, 3).reshape(runs, conv.out_channels, -1)
        bias = flat[:, conv.bias_at : conv.bias_at + conv.out_channels].view(runs, 1, -1)
        convs.append((weight, torch.cat([weight.transpose(1, 2), bias], dim=1)))
    channels, length = layout.features
    end = layout.linear_at + layout.classes * channels * length
    # nn.Flatten reads (channels, length); the activations here are (length, channels).
    linear_weight = flat[:, layout.linear_at : end].view(runs, layout.classes, channels, length).transpose(2, 3) \
        .reshape(runs, layout.classes, length * channels)
    return convs, linear_weight, flat[:, end:].view(runs, 1, -1)


def _padded(runs: int, batch: int, conv: ConvLayer, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A (K, B, L + 2·padding, C) buffer for ``conv``'s input, zero outside the signal, and the view of
    the signal's positions (left for the caller to fill)."""
    padded = like.new_empty(runs, batch, conv.in_length + 2 * conv.padding, conv.in_channels)
    padded[:, :, : conv.padding] = 0
    padded[:, :, conv.padding + conv.in_length :] = 0
    return padded, padded[:, :, conv.padding : conv.padding + conv.in_length]


def _windows(padded: torch.Tensor, conv: ConvLayer) -> torch.Tensor:
    """(K, B, L + 2·padding, C) signals -> (K, B·L_out, kernel·C + 1) input windows, tap-major, with a
    last column of ones that multiplies the bias row of the weights.

    In (length, channels) order a window is ``kernel`` consecutive rows, one contiguous stretch of
    kernel·C numbers, so gathering the windows copies whole stretches."""
    runs, batch, _, channels = padded.shape
    width = conv.kernel * channels
    view = padded.as_strided((runs, batch, conv.out_length, width),
                             (padded.stride(0), padded.stride(1), conv.stride * padded.stride(2), 1))
    windows = padded.new_empty(runs, batch * conv.out_length, width + 1)
    windows[:, :, :width].view(runs, batch, conv.out_length, width).copy_(view)
    windows[:, :, width] = 1
    return windows


def _forward(layout: Cnn1dLayout, flat: torch.Tensor, x: torch.Tensor, saved: list | None) -> torch.Tensor:
    """Logits (K, B, classes) of K runs; ``x`` is (K, B, C, L), or (B, C, L) shared by all runs."""
    runs = flat.shape[0]
    convs, linear_weight, linear_bias = _weights(layout, flat)
    shared = x.dim() == 3
    signals = x.unsqueeze(0) if shared else x  # (K or 1, B, C, L)
    batch = signals.shape[1]
    padded, inside = _padded(signals.shape[0], batch, layout.convs[0], x)
    inside.copy_(signals.transpose(2, 3))
    for index, (conv, (_, weight_and_bias)) in enumerate(zip(layout.convs, convs)):
        windows = _windows(padded, conv)
        if shared:  # the first layer's windows are the same for every run
            windows, shared = windows.expand(runs, -1, -1), False
        output = torch.bmm(windows, weight_and_bias).view(runs, batch, conv.out_length, conv.out_channels)
        if index + 1 < len(layout.convs):  # the ReLU writes straight into the next layer's padded input
            padded, activation = _padded(runs, batch, layout.convs[index + 1], x)
            torch.clamp_min(output, 0, out=activation)
        else:
            activation = output.clamp_min_(0)
        if saved is not None:
            saved += [windows, activation]
    features = activation.reshape(runs, batch, -1)  # (K, B, L·C)
    if saved is not None:  # the backward pass reuses the reordered weights of this step
        saved += [features, linear_weight, *(weight for weight, _ in convs)]
    return torch.baddbmm(linear_bias, features, linear_weight.transpose(1, 2))


def _backward(layout: Cnn1dLayout, saved: list, grad_logits: torch.Tensor) -> torch.Tensor:
    """The gradient (K, P) of the flat rows, from the logits' gradient (K, B, classes) and what
    :func:`_forward` saved: per layer its windows and activation, then the features, the linear
    weight and the convolutions' tap-major weights."""
    runs, batch = grad_logits.shape[:2]
    layers = len(layout.convs)
    features, linear_weight = saved[2 * layers : 2 * layers + 2]
    weights = saved[2 * layers + 2 :]
    channels, length = layout.features
    grad_linear_weight = torch.bmm(grad_logits.transpose(1, 2), features) \
        .view(runs, layout.classes, length, channels).transpose(2, 3).reshape(runs, -1)
    grads = [grad_logits.sum(1), grad_linear_weight]  # reversed at the end, like the rest
    grad_output = torch.bmm(grad_logits, linear_weight).view(runs, batch, length, channels)
    for index in range(len(layout.convs) - 1, -1, -1):
        conv, weight = layout.convs[index], weights[index]
        windows, activation = saved[2 * index], saved[2 * index + 1]
        grad_output = torch.ops.aten.threshold_backward(grad_output, activation, 0) \
            .view(runs, batch * conv.out_length, conv.out_channels)  # through the ReLU
        # One product gives the weight's gradient and, from the column of ones, the bias's.
        grad_weight_and_bias = torch.bmm(grad_output.transpose(1, 2), windows)  # (K, out, kernel·in + 1)
        grad_weight = grad_weight_and_bias[:, :, :-1].reshape(runs, conv.out_channels, conv.kernel, conv.in_channels) \
            .transpose(2, 3).reshape(runs, -1)
        grads += [grad_weight_and_bias[:, :, -1], grad_weight]
        if index == 0:
            break
        # Each window's gradient goes back to the positions it read, one tap at a time.
        grad_windows = torch.bmm(grad_output, weight).view(runs, batch, conv.out_length, conv.kernel, conv.in_channels)
        grad_output = _scatter_taps(grad_windows, conv)
    return torch.cat(grads[::-1], dim=1)  # the row's order: first layer's weight, bias, ..., linear bias


def _scatter_taps(grad_windows: torch.Tensor, conv: ConvLayer) -> torch.Tensor:
    """The gradient (K, B, L, C) of a convolution's input from its windows' gradient (K, B, L_out,
    kernel, C): each tap's part goes back to the positions that tap read.

    The first ``stride`` taps together cover every position up to ``stride · L_out`` once, so they
    are copied in (no zero-filled buffer to add onto); the later taps are added."""
    runs, batch, out_length, kernel, channels = grad_windows.shape
    length = conv.in_length + 2 * conv.padding
    reach = conv.stride * (out_length - 1) + 1
    if kernel < conv.stride:  # some positions are read by no tap: add every tap onto zeros
        copied = 0
        grad_padded = grad_windows.new_zeros(runs, batch, length, channels)
    else:
        copied = conv.stride
        grad_padded = grad_windows.new_empty(runs, batch, length, channels)
        grad_padded[:, :, conv.stride * out_length :] = 0
    for tap in range(kernel):
        target = grad_padded[:, :, tap : tap + reach : conv.stride]
        if tap < copied:
            target.copy_(grad_windows[:, :, :, tap])
        else:
            target += grad_windows[:, :, :, tap]
    return grad_padded[:, :, conv.padding : conv.padding + conv.in_length]


class _StackForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, flat, x, layout):
        saved: list = []
        logits = _forward(layout, flat, x, saved)
        ctx.layout = layout
        ctx.save_for_backward(*saved)
        return logits

    @staticmethod
    def backward(ctx, grad_logits):
        return _backward(ctx.layout, list(ctx.saved_tensors), grad_logits.contiguous()), None, None


def stack_forward(layout: Cnn1dLayout, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Logits (K, B, classes) of the K runs whose parameters are the rows of ``flat`` (K, P).

    ``x`` is (K, B, C, L), each run's own batch, or (B, C, L), one batch for all. Differentiable in
    ``flat``; under ``torch.no_grad`` it records nothing.
    """
    if torch.is_grad_enabled() and flat.requires_grad:
        return _StackForward.apply(flat, x, layout)
    return _forward(layout, flat, x, None)
