"""Small networks, one per input kind, shared by every loss so only the loss differs.

* ``cnn1d``  — MNIST-1D signals ``(N, 1, 40)``: the three strided 1-D convolutions of Greydanus'
  MNIST-1D baseline (Greydanus 2020), no normalisation layers — a plain small network like the
  report's, where a loss's gradient reaches the weights without batch norm rescaling it.
* ``cnn2d-stem`` — 28×28 greyscale digits ``(N, 1, 28, 28)``, the default for images: the same plan
  in 2-D, with the first downsampling in its first layer — a 4×4 stride-2 convolution (a "stem")
  takes 28×28 to 14×14, a 3×3 convolution works at 14×14, a strided 3×3 one takes it to 7×7.
  Strided convolutions instead of max-pooling (pooling was a third of a CPU epoch in profiling).
* ``cnn2d``  — the earlier image default: the same three layers with the stride in the last two,
  so its first layer writes 16 channels at the full 28×28. That activation made a CPU epoch
  memory-bound: ``cnn2d-stem`` does about the same FLOPs per epoch in less time
  (``benchmarks/compute_efficiency.py`` times both). Kept so results trained with it stay valid.
* ``resnet`` — CIFAR-10 ``(N, 3, 32, 32)``: a ResNet-style net with three stages of one residual
  block each, sized so 4 losses × 3 seeds × 25 epochs stays cheap on one GPU.

How they run, not what they compute: the 2-D models train in channels-last layout
(:func:`memory_format_for`), and on a CPU the two ``cnn2d`` models run each convolution and its ReLU
as one oneDNN call (:class:`ConvNet`). Both change speed only; the layers and their parameters are the ones above.
"""

from __future__ import annotations

import torch
from torch import nn

MODELS = ("cnn1d", "cnn2d-stem", "cnn2d", "resnet")
_DEFAULT_MODEL = {"mnist1d": "cnn1d", "mnist5k": "cnn2d-stem", "mnist": "cnn2d-stem", "fashion-mnist": "cnn2d-stem",
                  "cifar10": "resnet"}
# Models whose convolutions are 2-D: channels-last layout, image inputs.
_IMAGE_MODELS = ("cnn2d-stem", "cnn2d", "resnet")


def default_model_for(dataset_name: str) -> str:
    """Model used for a dataset when the run config leaves ``model`` empty."""
    try:
        return _DEFAULT_MODEL[dataset_name]
    except KeyError:
        # User datasets (tensors passed in directly) pick by input rank in build_model.
        return ""


def _conv_bn_relu(conv: type[nn.Module], norm: type[nn.Module], c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(conv(c_in, c_out, 3, stride=stride, padding=1, bias=False), norm(c_out), nn.ReLU(inplace=True))


def cnn1d(in_channels: int, num_classes: int, width: int = 25) -> nn.Sequential:
    """1-D CNN: (N, C, 40) -> (N, num_classes). Length 40 -> 19 -> 10 -> 5, then one linear layer."""
    return nn.Sequential(
        nn.Conv1d(in_channels, width, 5, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 25, 19)
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 25, 10)
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 25, 5)
        nn.Flatten(),
        nn.LazyLinear(num_classes),
    )


# oneDNN's convolution with a fused ReLU (what torch.compile emits on CPU); absent from some builds.
_CONVOLUTION_RELU = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)


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
        grad_output = torch.ops.aten.threshold_backward(grad_output, output, 0)  # as ReLU's backward
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
            grad_output, x, weight, [weight.shape[0]] if ctx.has_bias else None, ctx.stride, ctx.padding,
            [1, 1], False, [0, 0], 1, wanted)
        return grad_x, grad_weight, grad_bias, None, None


class ConvNet(nn.Sequential):
    """``nn.Sequential`` that runs each Conv2d → ReLU pair as one fused oneDNN call on a CPU.

    Same layers, same parameters, same numbers (the fused call adds the same products and then
    clamps at 0); it only saves the ReLU's pass over the activations, the largest of which hold
    128×16×28×28 floats. Anywhere else (GPU, bf16 autocast, NCHW layout, ``torch.func`` transforms:
    set ``fuse_conv_relu = False``) the layers run one by one as in ``nn.Sequential``.
    """

    fuse_conv_relu = True

    def _fusable(self, conv: nn.Module, x: torch.Tensor) -> bool:
        return (self.fuse_conv_relu and _CONVOLUTION_RELU is not None and type(conv) is nn.Conv2d
                and x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
                and conv.groups == 1 and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
                and not isinstance(conv.padding, str) and conv.weight.is_contiguous(memory_format=torch.channels_last))

    def forward(self, x):
        layers = list(self)
        index = 0
        while index < len(layers):
            layer, following = layers[index], layers[index + 1] if index + 1 < len(layers) else None
            if type(following) is nn.ReLU and self._fusable(layer, x):
                x = _ConvolutionReLU.apply(x, layer.weight, layer.bias, list(layer.stride), list(layer.padding))
                index += 2
            else:
                x = layer(x)
                index += 1
        return x


def cnn2d(in_channels: int, num_classes: int, width: int = 16, image_size: tuple[int, int] = (28, 28)) -> nn.Sequential:
    """2-D CNN: (N, C, H, W) -> (N, num_classes). 28 -> 14 -> 7 by strided convs, then one linear layer.

    ``image_size`` sizes the linear layer, so user datasets with other image sizes (e.g. 8×8 digits)
    work too; 28×28 builds exactly the same layers, hence the same seeded initial weights, as before.
    """
    # Each stride-2, 3×3, padding-1 convolution maps a side of n pixels to ceil(n / 2).
    feature_rows, feature_columns = (-(-side // 4) for side in image_size)
    return ConvNet(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True),  # (N, 16, 28, 28)
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 32, 14, 14)
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 32, 7, 7)
        nn.Flatten(),
        nn.Linear(2 * width * feature_rows * feature_columns, num_classes),  # (N, 32, 7, 7) flattened for 28×28
    )


def cnn2d_stem(in_channels: int, num_classes: int, width: int = 16, image_size: tuple[int, int] = (28, 28)) -> nn.Sequential:
    """2-D CNN: (N, C, H, W) -> (N, num_classes). 28 -> 14 by a 4×4 stride-2 stem, 14 -> 7, then one linear layer.

    Same widths and about the same FLOPs as :func:`cnn2d`, but no layer writes a full-resolution
    activation: 16×28×28 floats per image were most of a CPU epoch's memory traffic for a few
    percent of its arithmetic. A 4×4 kernel at stride 2 puts every input pixel in the same number
    of windows (four); a 3×3 one would cover pixels once, twice or four times in a checkerboard.
    """
    if min(image_size) < 2:
        raise ValueError(f"model 'cnn2d-stem' needs images of at least 2×2 pixels, got {tuple(image_size)}")
    # The stem maps a side of n pixels to n // 2; the last stride-2, 3×3, padding-1 convolution to ceil(m / 2).
    feature_rows, feature_columns = (-(-(side // 2) // 2) for side in image_size)
    return ConvNet(
        nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 16, 14, 14)
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True),  # (N, 32, 14, 14)
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU(inplace=True),  # (N, 32, 7, 7)
        nn.Flatten(),
        nn.Linear(2 * width * feature_rows * feature_columns, num_classes),  # (N, 32, 7, 7) flattened for 28×28
    )


class _ResidualBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, channels, channels, 1),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activation(x + self.body(x))


def resnet(in_channels: int, num_classes: int, width: int = 64) -> nn.Sequential:
    """ResNet-style CIFAR net: (N, 3, 32, 32) -> (N, num_classes); 32 -> 16 -> 8 -> 4 spatially."""
    return nn.Sequential(
        _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, in_channels, width, 1),
        _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, width, 2 * width, 2),
        _ResidualBlock(2 * width),
        _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, 2 * width, 4 * width, 2),
        _ResidualBlock(4 * width),
        _conv_bn_relu(nn.Conv2d, nn.BatchNorm2d, 4 * width, 8 * width, 2),
        _ResidualBlock(8 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8 * width, num_classes),
    )


_BUILDERS = {"cnn1d": cnn1d, "cnn2d-stem": cnn2d_stem, "cnn2d": cnn2d, "resnet": resnet}


def memory_format_for(model_name: str, device: torch.device | str) -> torch.memory_format:
    """The tensor layout a model's weights and image inputs should use on ``device``.

    Channels-last (NHWC) for the 2-D models on CPU and CUDA: oneDNN's and cuDNN's fastest
    convolutions are NHWC, and with NCHW every convolution and ReLU pays for layout conversions
    (an mnist5k epoch on one CPU core took 1.5x as long in NCHW in benchmarks/compute_efficiency.py).
    The layout changes only the order of float additions inside a convolution, not the network.
    Everything else (1-D models, Apple's MPS) keeps PyTorch's default contiguous layout.
    """
    device_type = torch.device(device).type
    if model_name in _IMAGE_MODELS and device_type in ("cpu", "cuda"):
        return torch.channels_last
    return torch.contiguous_format


def cpu_micro_batch_for(model_name: str, device: torch.device | str) -> int | None:
    """Samples per forward/backward pass within one SGD step, or None for the whole batch at once.

    On a CPU ``cnn2d`` runs each step of 128 samples as two passes of 64 whose gradients add up:
    its full-resolution first layer writes 16×28×28 floats per sample, and the step ran 1.2x as
    fast in halves that stay in cache. The gradient is the same batch mean, summed in another order.
    ``cnn2d-stem`` has no such layer and ran 10 % slower when split, so it takes whole batches.
    Models with batch norm are never split (their batch statistics would change), nor are the
    small 1-D models (their steps are dominated by per-call overhead, which splitting doubles).
    """
    return 64 if model_name == "cnn2d" and torch.device(device).type == "cpu" else None


def resolve_model_name(model_name: str, input_shape: tuple[int, ...]) -> str:
    """``model_name``, or for ``""`` the model that fits the input rank (1-D signal or image)."""
    if model_name:
        return model_name
    return "cnn1d" if len(input_shape) == 2 else "cnn2d-stem"


def build_model(model_name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Build a fresh, randomly initialised model (seed torch before calling for a reproducible init).

    Args:
        model_name: one of ``MODELS``, or ``""`` to choose by input rank (1-D signal or image).
        input_shape: one sample's shape without the batch axis, e.g. ``(1, 40)`` or ``(3, 32, 32)``.
        num_classes: width of the output layer.
    """
    model_name = resolve_model_name(model_name, input_shape)
    if model_name not in _BUILDERS:
        raise ValueError(f"unknown model {model_name!r}; allowed: {', '.join(MODELS)}")
    expected_rank = 2 if model_name == "cnn1d" else 3
    if len(input_shape) != expected_rank:
        raise ValueError(
            f"model {model_name!r} needs inputs of rank {expected_rank} per sample, got shape {tuple(input_shape)}"
        )
    sized_by_image = {"image_size": tuple(input_shape[1:])} if model_name in ("cnn2d", "cnn2d-stem") else {}
    model = _BUILDERS[model_name](input_shape[0], num_classes, **sized_by_image)
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        # Build lazy layers now, on the CPU: their initial weights then come from the same CPU random
        # stream (right after the other layers') whichever device the model is trained on.
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape))  # eval: no batch-norm statistics are updated
        model.train()
    return model
