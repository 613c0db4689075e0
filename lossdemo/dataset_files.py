"""The real datasets' original files: MNIST and Fashion-MNIST as IDX files, CIFAR-10 as its binary
batches, read by our own numpy parsers (no file is ever unpickled, because pickle can run code),
and fetched from their mirrors when a download is allowed.

Every failure is a :class:`DatasetUnavailableError` whose one-line message says which files to
put where, or which file is damaged.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

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


def normalise(x_train: np.ndarray, x_test: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
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


def uint8_channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
               f" ({source}), or load it again where the network is reachable (the command line and"
               f" load_dataset download a missing dataset unless told not to)")
    return DatasetUnavailableError(" ".join(message.split()))  # one line, whatever the reason held


def _corrupt(path: Path, problem: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(" ".join(
        f"corrupt or truncated dataset file {path}: {problem}; delete it and load again to re-download".split()))


def load_idx_dataset(name: str, root: Path, download: bool) -> list[np.ndarray]:
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
    x_train, x_test = normalise(x_train, x_test, *uint8_channel_stats(x_train))
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


def load_cifar10(root: Path, download: bool) -> list[np.ndarray]:
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
    x_train, x_test = normalise(x_train, x_test, *uint8_channel_stats(x_train))
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


