"""Tests of tfgvae.data on tiny fixture datasets (plus one test on the real files)."""

import dataclasses
import gzip
import math
import os
import pathlib
import struct

import numpy as np
import pytest
import tensorflow as tf

import data_fixtures
from tfgvae.data import (DATASETS, DataError, bits_per_dim, load_split, make_dataset,
                         resolve_data_dir)
from tfgvae.data import (cache, checksums, cifar10, omniglot, omniglot_alphabets, splits,
                         tfds_fallback)
from tfgvae.data.info import known_sha256
from tfgvae.data.pipeline import FIXED_BINARIZATION_SEED, fixed_binarization

N_TRAIN, N_TEST = 120, 40
COUNTS = data_fixtures.tiny_counts(N_TRAIN, N_TEST)
OMNIGLOT_IDS = {"train": set(range(math.ceil(N_TRAIN / 20))),  # background characters
                "test": set(range(964, 964 + math.ceil(N_TEST / 20)))}  # evaluation characters
REPO = pathlib.Path(__file__).resolve().parents[1]
USER_CACHE_DIR = os.environ.get("TFGVAE_CACHE_DIR")
REAL_DATA_DIR = pathlib.Path(os.environ.get("TFGVAE_DATA_DIR") or REPO.parent / "shared" / "data")
SOURCE_FILES = {  # file -> a (dataset, split) that reads it
    "mnist/train-images-idx3-ubyte.gz": ("mnist", "train"),
    "mnist/train-labels-idx1-ubyte.gz": ("mnist", "valid"),
    "mnist/t10k-images-idx3-ubyte.gz": ("mnist", "test"),
    "mnist/t10k-labels-idx1-ubyte.gz": ("mnist", "test"),
    "binarized_mnist/binarized_mnist_uint8.npz": ("binarized_mnist", "valid"),
    "omniglot/images_background.npz": ("omniglot", "train"),
    "omniglot/images_evaluation.npz": ("omniglot_alphabets", "test"),
    "cifar10/cifar10_jpeg_q75.tar.gz": ("cifar10", "test"),
}
ALL_SPLITS = [(name, split) for name in DATASETS for split in ("train", "valid", "test")]


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache dir, no TFGVAE_DATA_DIR and an empty memo."""
    monkeypatch.setenv("TFGVAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TFGVAE_DATA_DIR", raising=False)
    cache.clear_memo()
    yield tmp_path / "cache"
    cache.clear_memo()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A shared tiny data dir: read it, never damage it."""
    return data_fixtures.write_tiny_data_dir(tmp_path_factory.mktemp("tiny"), N_TRAIN, N_TEST)


@pytest.fixture
def fresh(tmp_path):
    """A private tiny data dir that a test may damage."""
    return data_fixtures.write_tiny_data_dir(tmp_path / "data", N_TRAIN, N_TEST)


def epoch(ds):
    return np.concatenate(list(ds.as_numpy_iterator()))


def assert_one_line_error(excinfo, *needles):
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert str(needle) in message, (needle, message)


# ---------------------------------------------------------------- registry and splits

def test_registry_describes_five_datasets():
    assert set(DATASETS) == {"mnist", "binarized_mnist", "omniglot", "omniglot_alphabets",
                             "cifar10"}
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.input_dim == math.prod(info.image_shape)
        assert info.likelihood in ("bernoulli", "gaussian")
    assert DATASETS["cifar10"].likelihood == "gaussian" and DATASETS["cifar10"].binarization is None
    assert DATASETS["mnist"].binarization == DATASETS["omniglot"].binarization == "dynamic"
    assert DATASETS["omniglot_alphabets"].binarization == "dynamic"
    assert DATASETS["binarized_mnist"].binarization == "fixed"
    assert "not comparable" in DATASETS["cifar10"].note
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASETS["mnist"].num_train = 1


@pytest.mark.parametrize("name,source,valid", [("mnist", 60_000, 10_000),
                                               ("omniglot", 24_345, 2_434),
                                               ("omniglot_alphabets", 19_280, 1_928),
                                               ("cifar10", 50_000, 5_000)])
def test_holdout_sizes_match_registry(name, source, valid):
    assert splits.holdout_size(name, source) == valid == DATASETS[name].num_valid
    assert source - valid == DATASETS[name].num_train
    train, held = splits.holdout_indices(name, 50)
    assert len(train) + len(held) == 50 and not set(train) & set(held) and len(held) >= 1


def test_holdout_refuses_a_one_example_source():
    with pytest.raises(DataError):
        splits.holdout_size("cifar10", 1)


# ---------------------------------------------------------------- load_split

@pytest.mark.parametrize("name,split", ALL_SPLITS)
def test_load_split_shapes_dtypes_ranges_labels(tiny, name, split):
    info = DATASETS[name]
    x, y = load_split(name, split, tiny)
    n = COUNTS[name][split]
    assert x.shape == (n, info.input_dim) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.0
    if name == "binarized_mnist":
        assert set(np.unique(x)) <= {0.0, 1.0} and (y == -1).all()
    elif name == "omniglot":  # every character of both files in train and in test
        assert ((x > 0) & (x < 1)).any()  # grey intensities from the area resize
        every = OMNIGLOT_IDS["train"] | OMNIGLOT_IDS["test"]
        assert set(y) == every if split != "valid" else set(y) <= every
    elif name == "omniglot_alphabets":  # background characters, then evaluation characters
        assert ((x > 0) & (x < 1)).any()
        ids = OMNIGLOT_IDS["test" if split == "test" else "train"]
        assert set(y) <= ids and (split == "valid" or set(y) == ids)
    else:
        assert y.min() >= 0 and y.max() <= 9


def test_mnist_valid_is_the_last_images_of_the_train_file(tiny):
    with gzip.open(tiny / "mnist/train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784) / np.float32(255)
    train, _ = load_split("mnist", "train", tiny)
    valid, labels = load_split("mnist", "valid", tiny)
    np.testing.assert_array_equal(np.concatenate([train, valid]), raw)
    np.testing.assert_array_equal(labels, np.arange(100, 120) % 10)


@pytest.mark.parametrize("name,reader", [("omniglot", omniglot),
                                         ("omniglot_alphabets", omniglot_alphabets),
                                         ("cifar10", cifar10)])
def test_holdout_partitions_the_training_source(tiny, name, reader):
    source, labels = reader.read(str(tiny), "train", verify=True)
    train_idx, valid_idx = splits.holdout_indices(name, len(source))
    for split, idx in (("train", train_idx), ("valid", valid_idx)):
        x, y = load_split(name, split, tiny)
        np.testing.assert_array_equal(x, source[idx] / np.float32(255))
        np.testing.assert_array_equal(y, labels[idx])


def test_cifar_labels_follow_class_folders_in_sorted_order(tiny):
    import io
    import tarfile

    from PIL import Image

    x, y = load_split("cifar10", "test", tiny)
    per_class = N_TEST // 10
    np.testing.assert_array_equal(np.bincount(y), [per_class] * 10)
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), per_class))
    with tarfile.open(tiny / "cifar10/cifar10_jpeg_q75.tar.gz") as tar:
        jpeg = tar.extractfile("test/cat/0001.jpg").read()
    expected = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).reshape(-1) / np.float32(255)
    np.testing.assert_array_equal(x[3 * per_class + 1], expected)


def test_omniglot_resize_is_an_area_average_of_inverted_images():
    background = np.ones((1, 105, 105), bool)
    background[0, :15, :15] = False  # a 15x15 ink block covers exactly 4x4 output pixels
    out = omniglot.resize_to_28(background).reshape(28, 28)
    assert (out[:4, :4] == 255).all() and out[4:, :].max() == 0 and out[:, 4:].max() == 0
    background[0, :, 52:] = False  # right half inked: total ink mass is preserved
    out = omniglot.resize_to_28(background)
    assert abs(out.mean() / 255 - (~background).mean()) < 0.01


# ---------------------------------------------------------------- make_dataset

def test_dynamic_binarization_resamples_each_epoch_with_the_right_mean(tiny):
    grey, _ = load_split("mnist", "train", tiny)
    ds = make_dataset("mnist", "train", tiny, batch_size=32)
    first, second = epoch(ds), epoch(ds)
    assert first.shape == grey.shape and first.dtype == np.float32
    assert set(np.unique(first)) <= {0.0, 1.0}
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, epoch(make_dataset("mnist", "train", tiny, batch_size=32)))
    assert not np.array_equal(first, epoch(make_dataset("mnist", "train", tiny, batch_size=32,
                                                        seed=1)))
    repeated = make_dataset("mnist", "train", tiny, batch_size=len(grey), repeat=True)
    samples = np.stack([b.numpy() for b in repeated.take(60)])
    assert not np.array_equal(samples[0], samples[1])
    mean = samples.mean(0)
    assert (mean[grey == 0] == 0).all() and (mean[grey == 1] == 1).all()
    assert abs(mean.mean() - grey.mean()) < 0.005
    assert np.abs(mean - grey).mean() < 0.03


@pytest.mark.parametrize("start_batch", [None, 3])
def test_input_pipeline_runs_on_one_private_thread_without_autotuning(tiny, start_batch):
    """tf.data's autotuner competed with the training step for the cores (tfgvae.data.pipeline)."""
    options = make_dataset("mnist", "train", tiny, batch_size=8, start_batch=start_batch).options()
    assert options.autotune.enabled is False
    assert options.threading.private_threadpool_size == 1


def test_shuffle_permutes_rows_differently_each_epoch(tiny):
    grey, _ = load_split("mnist", "test", tiny)
    ds = make_dataset("mnist", "test", tiny, batch_size=8, shuffle=True, binarize="none")
    first, second = epoch(ds), epoch(ds)
    assert not np.array_equal(first, second) and not np.array_equal(first, grey)
    key = lambda a: sorted(map(bytes, a))  # noqa: E731
    assert key(first) == key(grey) == key(second)


@pytest.mark.parametrize("name,split", [("mnist", "test"), ("mnist", "valid"),
                                        ("omniglot", "test")])
def test_eval_binarization_is_fixed(tiny, name, split):
    ds = make_dataset(name, split, tiny, batch_size=16)
    first = epoch(ds)
    assert set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_array_equal(first, epoch(ds))
    np.testing.assert_array_equal(first, epoch(make_dataset(name, split, tiny, batch_size=7,
                                                            seed=5)))
    np.testing.assert_array_equal(first[:10], epoch(make_dataset(name, split, tiny,
                                                                 batch_size=4, limit=10)))
    grey, _ = load_split(name, split, tiny)
    pixels = np.round(grey * 255).astype(np.uint8)
    np.testing.assert_array_equal(first * 255, fixed_binarization(pixels, FIXED_BINARIZATION_SEED))


def test_binarized_mnist_is_passed_through(tiny):
    for split in ("train", "test"):
        x, _ = load_split("binarized_mnist", split, tiny)
        np.testing.assert_array_equal(epoch(make_dataset("binarized_mnist", split, tiny,
                                                         batch_size=50)), x)


def test_cifar_dequantization(tiny):
    x, _ = load_split("cifar10", "train", tiny)
    pixels = np.round(x * 255)
    ds = make_dataset("cifar10", "train", tiny, batch_size=25)
    first, second = epoch(ds), epoch(ds)
    assert (first >= pixels / 256 - 1e-6).all() and (first < (pixels + 1) / 256 + 1e-6).all()
    assert not np.array_equal(first, second)
    assert abs((first * 256 - pixels).mean() - 0.5) < 0.01  # u ~ U(0, 1)
    midpoint = epoch(make_dataset("cifar10", "train", tiny, batch_size=25, dequantize=False))
    np.testing.assert_allclose(midpoint, (pixels + 0.5) / 256, atol=1e-6)
    test_x, _ = load_split("cifar10", "test", tiny)
    np.testing.assert_allclose(epoch(make_dataset("cifar10", "test", tiny, batch_size=25)),
                               (np.round(test_x * 255) + 0.5) / 256, atol=1e-6)


def test_invalid_transform_options(tiny):
    with pytest.raises(ValueError):
        make_dataset("cifar10", "train", tiny, batch_size=4, binarize="dynamic")
    with pytest.raises(ValueError):
        make_dataset("mnist", "train", tiny, batch_size=4, dequantize=True)
    with pytest.raises(ValueError):
        make_dataset("mnist", "train", tiny, batch_size=4, binarize="sometimes")
    with pytest.raises(ValueError):
        load_split("mnist", "validation", tiny)
    with pytest.raises(ValueError):
        load_split("fashion_mnist", "train", tiny)


def test_batching_limit_and_repeat(tiny):
    ds = make_dataset("mnist", "test", tiny, batch_size=16)
    assert ds.element_spec == tf.TensorSpec((None, 784), tf.float32)
    assert [b.shape[0] for b in ds] == [16, 16, 8]
    ds = make_dataset("mnist", "test", tiny, batch_size=16, drop_remainder=True)
    assert ds.element_spec.shape == (16, 784) and [b.shape[0] for b in ds] == [16, 16]
    assert [b.shape[0] for b in make_dataset("cifar10", "test", tiny, batch_size=16,
                                             limit=10)] == [10]
    repeated = make_dataset("omniglot", "train", tiny, batch_size=64, repeat=True, shuffle=True)
    assert len(list(repeated.take(7))) == 7


# ---------------------------------------------------------------- errors and checksums

@pytest.mark.parametrize("rel", sorted(SOURCE_FILES))
def test_missing_file_names_the_path(fresh, rel):
    os.remove(fresh / rel)
    name, split = SOURCE_FILES[rel]
    with pytest.raises(DataError) as excinfo:
        load_split(name, split, fresh)
    assert_one_line_error(excinfo, fresh / rel, "TFGVAE_DATA_DIR", "docs/data.md")


@pytest.mark.parametrize("rel", sorted(SOURCE_FILES))
def test_corrupt_file_fails_checksum_then_parsing(fresh, rel):
    (fresh / rel).write_bytes(b"this is not a data file")
    name, split = SOURCE_FILES[rel]
    with pytest.raises(DataError) as excinfo:
        load_split(name, split, fresh)
    assert_one_line_error(excinfo, fresh / rel, "checksum mismatch", "re-copy")
    data_fixtures.write_sha256sums(fresh)  # now the checksum passes and the parser objects
    with pytest.raises(DataError) as excinfo:
        load_split(name, split, fresh)
    assert_one_line_error(excinfo, fresh / rel, "not a")


def test_checksum_mismatch_names_expected_and_actual(fresh):
    sums = (fresh / "SHA256SUMS").read_text()
    rel = "mnist/t10k-images-idx3-ubyte.gz"
    actual = checksums.read_sha256sums(fresh)[rel]
    (fresh / "SHA256SUMS").write_text(sums.replace(actual, "0" * 64))
    with pytest.raises(DataError) as excinfo:
        load_split("mnist", "test", fresh)
    assert_one_line_error(excinfo, fresh / rel, "0" * 64, actual, fresh / "SHA256SUMS")


def test_builtin_checksums_apply_without_a_sums_file(fresh):
    os.remove(fresh / "SHA256SUMS")
    with pytest.raises(DataError) as excinfo:
        load_split("mnist", "test", fresh)
    assert_one_line_error(excinfo, "built-in", DATASETS["mnist"].sha256[
        "mnist/t10k-images-idx3-ubyte.gz"])
    x, _ = load_split("mnist", "test", fresh, verify=False)
    assert len(x) == N_TEST


def _write_gz(path, payload):
    with gzip.open(path, "wb") as f:
        f.write(payload)


def test_idx_defects_are_named(fresh):
    images = fresh / "mnist/t10k-images-idx3-ubyte.gz"
    labels = fresh / "mnist/t10k-labels-idx1-ubyte.gz"
    cases = [
        (images, struct.pack(">IIII", 2049, N_TEST, 28, 28) + bytes(N_TEST * 784), "magic"),
        (images, struct.pack(">IIII", 2051, N_TEST, 28, 28) + bytes(10), "header"),
        (images, struct.pack(">II", 2051, 3), "truncated"),
        (labels, struct.pack(">II", 2049, N_TEST - 1) + bytes(N_TEST - 1), "labels"),
    ]
    for path, payload, needle in cases:
        original = path.read_bytes()
        _write_gz(path, payload)
        with pytest.raises(DataError) as excinfo:
            load_split("mnist", "test", fresh, verify=False)
        assert_one_line_error(excinfo, path, needle)
        path.write_bytes(original)
        cache.clear_memo()
    original = images.read_bytes()
    images.write_bytes(original[:len(original) // 2])  # a gzip cut short
    with pytest.raises(DataError) as excinfo:
        load_split("mnist", "test", fresh, verify=False)
    assert_one_line_error(excinfo, images, "gzip")


def test_npz_defects_are_named(fresh):
    binarized = fresh / "binarized_mnist/binarized_mnist_uint8.npz"
    np.savez(binarized, train=np.zeros((3, 784), np.uint8), test=np.zeros((3, 784), np.uint8))
    with pytest.raises(DataError) as excinfo:
        load_split("binarized_mnist", "test", fresh, verify=False)
    assert_one_line_error(excinfo, binarized, "lacks key", "valid")
    np.savez(binarized, **{k: np.zeros((3, 28, 28), np.uint8) for k in ("train", "valid", "test")})
    with pytest.raises(DataError) as excinfo:
        load_split("binarized_mnist", "test", fresh, verify=False)
    assert_one_line_error(excinfo, binarized, "expected uint8")
    background = fresh / "omniglot/images_background.npz"
    np.savez(background, images=np.ones((2, 20, 28, 28), bool), labels=np.zeros((2, 20)))
    with pytest.raises(DataError) as excinfo:
        load_split("omniglot", "train", fresh, verify=False)
    assert_one_line_error(excinfo, background, "(N, 20, 105, 105)")


def test_verified_files_are_stamped_and_not_hashed_again(fresh, tmp_cache, monkeypatch):
    load_split("mnist", "test", fresh)
    stamps = cache.read_json(str(tmp_cache / checksums.STAMP_FILE))
    rel = "mnist/t10k-images-idx3-ubyte.gz"
    path = str((fresh / rel).resolve())
    assert stamps[path]["sha256"] == checksums.read_sha256sums(fresh)[rel]
    calls = []
    real_hash = checksums._hash_file
    monkeypatch.setattr(checksums, "_hash_file", lambda p: calls.append(p) or real_hash(p))
    cache.clear_memo()
    load_split("mnist", "test", fresh)
    assert calls == []
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 10**9))  # a changed file is re-hashed
    load_split("mnist", "test", fresh)
    assert calls == [path]


def test_decoded_arrays_are_cached_on_disk(fresh, tmp_cache, monkeypatch):
    before = {name: load_split(name, "test", fresh)
              for name in ("omniglot", "omniglot_alphabets", "cifar10")}
    cached = sorted(p.name for p in tmp_cache.glob("*.npz"))  # one per source file
    assert len(cached) == 3 and cached[0].startswith("cifar10_uint8_v1_")
    assert all(name.startswith("omniglot28_v1_") for name in cached[1:])
    cache.clear_memo()

    def fail(path):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cifar10, "_decode", fail)
    monkeypatch.setattr(omniglot, "_decode", fail)
    for name, (x, y) in before.items():
        x2, y2 = load_split(name, "test", fresh)
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


# ---------------------------------------------------------------- data dir resolution, tfds

def test_resolve_data_dir(tiny, tmp_path, monkeypatch):
    assert resolve_data_dir() is None and resolve_data_dir("") is None
    monkeypatch.setenv("TFGVAE_DATA_DIR", str(tiny))
    assert resolve_data_dir() == str(tiny.resolve())
    assert resolve_data_dir(tmp_path) == str(tmp_path)  # the flag wins over the environment
    assert len(load_split("mnist", "test")[0]) == N_TEST  # data_dir=None reads the env var
    with pytest.raises(DataError) as excinfo:
        resolve_data_dir(tmp_path / "nowhere")
    assert_one_line_error(excinfo, tmp_path / "nowhere", "--data_dir", "TFGVAE_DATA_DIR")
    monkeypatch.setenv("TFGVAE_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError) as excinfo:
        resolve_data_dir()
    assert_one_line_error(excinfo, tmp_path / "gone", "(from TFGVAE_DATA_DIR)")
    monkeypatch.setenv("TFGVAE_DATA_DIR", "")
    assert resolve_data_dir() is None


def test_tfds_failure_without_data_dir_is_a_data_error(monkeypatch):
    def offline(name, split):
        raise ConnectionError("no route to host\nsecond line")

    monkeypatch.setattr(tfds_fallback, "_tfds_load", offline)
    with pytest.raises(DataError) as excinfo:
        load_split("mnist", "test")
    assert_one_line_error(excinfo, "no data dir", "tensorflow-datasets", "'mnist'",
                          "TFGVAE_DATA_DIR")


def test_real_tfds_fallback_gets_to_the_network_call(monkeypatch, tmp_path):
    """The real tensorflow-datasets code, network blocked: it must fail on the download (one
    line), not on a module that setup.py does not install."""
    import functools
    import socket

    import requests
    import tensorflow_datasets as tfds

    calls = []

    def blocked(*args, **kwargs):
        calls.append(args)
        raise requests.exceptions.ConnectionError("network blocked by the test")

    monkeypatch.setattr(requests.Session, "send", blocked)
    monkeypatch.setattr(socket.socket, "connect", blocked)
    monkeypatch.setattr(tfds, "load", functools.partial(tfds.load, data_dir=str(tmp_path / "tfds")))
    monkeypatch.delenv("TFGVAE_DATA_DIR", raising=False)
    with pytest.raises(DataError) as excinfo:
        load_split("mnist", "test")
    assert_one_line_error(excinfo, "tensorflow-datasets could not load 'mnist'", "TFGVAE_DATA_DIR")
    assert "network blocked by the test" in str(excinfo.value) and calls
    assert "ModuleNotFound" not in str(excinfo.value) and "ImportError" not in str(excinfo.value)


def test_tfds_fallback_converts_features(monkeypatch):
    rng = np.random.default_rng(0)
    fake = {
        "mnist": {"image": rng.integers(0, 256, (60, 28, 28, 1), np.uint8),
                  "label": np.arange(60) % 10},
        "binarized_mnist": {"image": rng.integers(0, 2, (12, 28, 28, 1), np.uint8)},
    }
    monkeypatch.setattr(tfds_fallback, "_tfds_load", lambda name, split: fake[name])
    x, y = load_split("mnist", "valid")
    assert x.shape == (10, 784) and (y == np.arange(50, 60) % 10).all()
    x, y = load_split("binarized_mnist", "train")
    assert set(np.unique(x)) <= {0.0, 1.0} and x.max() == 1.0 and (y == -1).all()
    # Omniglot's two splits from tfds' omniglot: tests/test_omniglot.py


# ---------------------------------------------------------------- bits per dim

def test_bits_per_dim_against_hand_computation():
    assert bits_per_dim(0.0, 1) == pytest.approx(8.0)  # uniform density on [0,1]: 8 bits
    assert bits_per_dim(-3072 * math.log(2), 3072) == pytest.approx(9.0)
    ll = np.array([-1000.0, 2000.0])
    expected = [(1000 + 3072 * math.log(256)) / (3072 * math.log(2)),
                (-2000 + 3072 * math.log(256)) / (3072 * math.log(2))]
    np.testing.assert_allclose(bits_per_dim(ll, 3072), expected)
    np.testing.assert_allclose(bits_per_dim(tf.constant(ll), 3072).numpy(), expected)


# ---------------------------------------------------------------- the real files

def test_registry_checksums_are_the_shared_copies_and_cover_every_reader_file():
    sums = REAL_DATA_DIR / "SHA256SUMS"
    if sums.is_file():  # the canonical list the registry was copied from
        assert known_sha256() == checksums.read_sha256sums(str(REAL_DATA_DIR))
    for name, info in DATASETS.items():
        files = getattr(info.reader, "FILES", None) or {"all": info.reader.FILE}
        rels = [r for v in files.values() for r in (v if isinstance(v, tuple) else (v,))]
        assert set(rels) == set(info.sha256), name


@pytest.mark.skipif(not all((REAL_DATA_DIR / rel).is_file() for rel in known_sha256()),
                    reason=f"real data files not found under {REAL_DATA_DIR}")
def test_real_datasets(monkeypatch):
    """Reads every real split; uses the user's cache dir so CIFAR is decoded only once."""
    if USER_CACHE_DIR:
        monkeypatch.setenv("TFGVAE_CACHE_DIR", USER_CACHE_DIR)
    else:
        monkeypatch.delenv("TFGVAE_CACHE_DIR")
    for name, info in DATASETS.items():
        labels = {}
        for split in ("train", "valid", "test"):
            x, y = load_split(name, split, REAL_DATA_DIR)
            assert x.shape == (getattr(info, f"num_{split}"), info.input_dim), (name, split)
            assert x.dtype == np.float32 and x.min() == 0.0 and x.max() == 1.0
            assert y.shape == (len(x),) and y.dtype == np.int64
            labels[split] = y
            del x
        if name == "binarized_mnist":
            assert all((y == -1).all() for y in labels.values())
        elif name == "omniglot":
            assert set(labels["train"]) == set(labels["test"]) == set(range(1623))
        elif name == "omniglot_alphabets":
            assert labels["train"].max() <= 963 and labels["valid"].max() <= 963
            assert labels["test"].min() == 964 and labels["test"].max() == 1622
        else:
            assert set(np.unique(labels["test"])) == set(range(10))
    cifar_test = load_split("cifar10", "test", REAL_DATA_DIR)[1]
    np.testing.assert_array_equal(np.bincount(cifar_test), [1000] * 10)
    cifar_train = np.concatenate([load_split("cifar10", s, REAL_DATA_DIR)[1]
                                  for s in ("train", "valid")])
    np.testing.assert_array_equal(np.bincount(cifar_train), [5000] * 10)
    batch = next(iter(make_dataset("mnist", "test", REAL_DATA_DIR, batch_size=100)))
    assert batch.shape == (100, 784)
