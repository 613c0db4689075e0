"""Small networks, one per input kind, shared by every loss so only the loss differs.

* ``cnn1d``  — MNIST-1D signals ``(N, 1, 40)``: the three strided 1-D convolutions of Greydanus'
  MNIST-1D baseline (Greydanus 2020), no normalisation layers — a plain small network like the
  report's, where a loss's gradient reaches the weights without batch norm rescaling it.
* ``cnn2d-stem`` — 28×28 greyscale digits ``(N, 1, 28, 28)``, the default for images: the same plan
  in 2-D, with the first downsampling in its first layer — a 4×4 stride-2 convolution (a "stem")
  takes 28×28 to 14×14, a 3×3 convolution works at 14×14, a strided 3×3 one takes it to 7×7.
  Strided convolutions instead of max-pooling, which costs a CPU epoch more than it computes.
* ``cnn2d``  — the earlier image default: the same three layers with the stride in the last two,
  so its first layer writes 16 channels at the full 28×28, which makes a CPU epoch memory-bound
  (``benchmarks/compute_efficiency.py`` times both). Kept so results trained with it stay valid.
* ``resnet`` — CIFAR-10 ``(N, 3, 32, 32)``: a ResNet-style net with three stages of one residual
  block each, sized so 4 losses × 3 seeds × 25 epochs stays cheap on one GPU.

How they run, not what they compute: the 2-D models train in channels-last layout
(:func:`memory_format_for`); on a CPU the fast engine (``lossdemo.engines``) runs their convolutions faster. Every
model here is a plain ``nn.Module``; the speed paths change how fast it runs, never what it computes.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import DATASET_INFO

MODELS = ("cnn1d", "cnn2d-stem", "cnn2d", "resnet")
# Models whose convolutions are 2-D: channels-last layout, image inputs.
_IMAGE_MODELS = ("cnn2d-stem", "cnn2d", "resnet")


def default_model_for(dataset_name: str) -> str:
    """Model used for a dataset when the run config leaves ``model`` empty."""
    info = DATASET_INFO.get(dataset_name)
    # User datasets (tensors passed in directly) pick by input rank in build_model.
    return info.default_model if info is not None else ""


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


def cnn2d(in_channels: int, num_classes: int, width: int = 16, image_size: tuple[int, int] = (28, 28)) -> nn.Sequential:
    """2-D CNN: (N, C, H, W) -> (N, num_classes). 28 -> 14 -> 7 by strided convs, then one linear layer.

    ``image_size`` sizes the linear layer, so user datasets with other image sizes (e.g. 8×8 digits)
    work too; 28×28 builds exactly the same layers, hence the same seeded initial weights, as before.
    """
    # Each stride-2, 3×3, padding-1 convolution maps a side of n pixels to ceil(n / 2).
    feature_rows, feature_columns = (-(-side // 4) for side in image_size)
    return nn.Sequential(
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
    return nn.Sequential(
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
    convolutions are NHWC, and with NCHW every convolution and ReLU pays for layout conversions.
    The layout changes only the order of float additions inside a convolution, not the network.
    Everything else (1-D models, Apple's MPS) keeps PyTorch's default contiguous layout.
    """
    device_type = torch.device(device).type
    if model_name in _IMAGE_MODELS and device_type in ("cpu", "cuda"):
        return torch.channels_last
    return torch.contiguous_format


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
