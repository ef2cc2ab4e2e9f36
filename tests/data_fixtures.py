"""Tiny datasets in the real file formats, laid out like ../shared/data, for tests.

write_tiny_data_dir(root, n_train, n_test) writes all four datasets plus a
SHA256SUMS listing them, in well under 2 seconds:
  mnist/            4 gzipped IDX files, n_train / n_test blurred-stroke digits, labels i % 10
  binarized_mnist/  binarized_mnist_uint8.npz: train n_train, valid max(1, n_train // 6),
                    test n_test rows of uint8 0/1 (n, 784)
  omniglot/         images_background.npz / images_evaluation.npz with ceil(n / 20)
                    characters x 20 drawers of bool (chars, 20, 105, 105), True = background
  cifar10/          cifar10_jpeg_q75.tar.gz: ceil(n / 10) JPEGs (q75) per class and split
tiny_counts(n_train, n_test) gives the resulting train/valid/test sizes after the
hold-out rule of tfgvae.data.splits (every split is non-empty for n_train >= 2): for
omniglot_alphabets the two files, for omniglot 15 / 5 drawings of each of their characters.
"""

import gzip
import hashlib
import io
import math
import os
import pathlib
import struct
import tarfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck")
DATA_FILES = (
    "binarized_mnist/binarized_mnist_uint8.npz",
    "cifar10/cifar10_jpeg_q75.tar.gz",
    "mnist/t10k-images-idx3-ubyte.gz",
    "mnist/t10k-labels-idx1-ubyte.gz",
    "mnist/train-images-idx3-ubyte.gz",
    "mnist/train-labels-idx1-ubyte.gz",
    "omniglot/images_background.npz",
    "omniglot/images_evaluation.npz",
)


def _strokes(rng, n, size, width, blur):
    """uint8 (n, size, size) images of 2-3 random white strokes on black."""
    out = np.empty((n, size, size), np.uint8)
    for i in range(n):
        im = Image.new("L", (size, size))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.integers(2, 4)):
            points = [tuple(p) for p in rng.uniform(0.2 * size, 0.8 * size, (3, 2))]
            draw.line(points, fill=255, width=width)
        out[i] = np.asarray(im.filter(ImageFilter.GaussianBlur(blur)) if blur else im)
    return out


def _write_idx(path, magic, array):
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(struct.pack(f">I{array.ndim}I", magic, *array.shape))
        f.write(np.ascontiguousarray(array, np.uint8).tobytes())


def write_mnist(root, n_train, n_test, rng):
    """The four gzipped IDX files (images magic 2051, labels magic 2049)."""
    os.makedirs(os.path.join(root, "mnist"), exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(os.path.join(root, "mnist", f"{prefix}-images-idx3-ubyte.gz"), 2051,
                   _strokes(rng, n, 28, 2, 0.8))
        _write_idx(os.path.join(root, "mnist", f"{prefix}-labels-idx1-ubyte.gz"), 2049,
                   np.arange(n) % 10)


def write_binarized_mnist(root, n_train, n_valid, n_test, rng):
    """binarized_mnist_uint8.npz with keys train/valid/test, uint8 0/1 (n, 784)."""
    os.makedirs(os.path.join(root, "binarized_mnist"), exist_ok=True)
    splits = {k: (_strokes(rng, n, 28, 2, 0.8) > 100).astype(np.uint8).reshape(n, 784)
              for k, n in (("train", n_train), ("valid", n_valid), ("test", n_test))}
    np.savez_compressed(os.path.join(root, "binarized_mnist", "binarized_mnist_uint8.npz"),
                        **splits)


def write_omniglot(root, n_train, n_test, rng):
    """images_background/evaluation.npz: bool (chars, 20, 105, 105), True = background."""
    os.makedirs(os.path.join(root, "omniglot"), exist_ok=True)
    for fname, n in (("images_background.npz", n_train), ("images_evaluation.npz", n_test)):
        chars = max(1, math.ceil(n / 20))
        ink = _strokes(rng, chars * 20, 105, 5, 0) > 0
        np.savez_compressed(os.path.join(root, "omniglot", fname),
                            images=~ink.reshape(chars, 20, 105, 105),
                            labels=np.repeat(np.arange(chars, dtype=np.int64)[:, None], 20, 1))


def write_cifar10(root, n_train, n_test, rng):
    """cifar10_jpeg_q75.tar.gz with train|test/<class>/NNNN.jpg, stored in shuffled order."""
    os.makedirs(os.path.join(root, "cifar10"), exist_ok=True)
    members = []
    for part, n in (("train", n_train), ("test", n_test)):
        for c, cls in enumerate(CIFAR_CLASSES):
            for j in range(max(1, math.ceil(n / 10))):
                low = rng.uniform(0, 255, (4, 4, 3)) * 0.6 + 25.0 * c * 0.4
                im = Image.fromarray(low.astype(np.uint8)).resize((32, 32), Image.BILINEAR)
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=75)
                members.append((f"{part}/{cls}/{j:04d}.jpg", buf.getvalue()))
    path = os.path.join(root, "cifar10", "cifar10_jpeg_q75.tar.gz")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for d in sorted({os.path.dirname(n) for n, _ in members} | {"train", "test"}):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for k in rng.permutation(len(members)):
            name, data = members[k]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_sha256sums(root):
    """(Re)writes root/SHA256SUMS for the data files present under root."""
    lines = []
    for rel in DATA_FILES:
        path = os.path.join(root, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {rel}\n")
    pathlib.Path(root, "SHA256SUMS").write_text("".join(lines))


def write_tiny_data_dir(root, n_train=120, n_test=40, seed=0):
    """Writes all four tiny datasets and SHA256SUMS under root; returns root as a Path."""
    if n_train < 2 or n_test < 1:
        raise ValueError("need n_train >= 2 and n_test >= 1 for non-empty splits")
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_mnist(root, n_train, n_test, rng)
    write_binarized_mnist(root, n_train, max(1, n_train // 6), n_test, rng)
    write_omniglot(root, n_train, n_test, rng)
    write_cifar10(root, n_train, n_test, rng)
    write_sha256sums(root)
    return root


def tiny_counts(n_train=120, n_test=40):
    """{dataset: {'train': n, 'valid': n, 'test': n}} for write_tiny_data_dir's data."""
    from tfgvae.data.splits import holdout_size

    chars = (max(1, math.ceil(n_train / 20)), max(1, math.ceil(n_test / 20)))
    sources = {"mnist": (n_train, n_test),
               "omniglot": (15 * sum(chars), 5 * sum(chars)),  # drawers 0-14 / 15-19
               "omniglot_alphabets": (20 * chars[0], 20 * chars[1]),
               "cifar10": (10 * max(1, math.ceil(n_train / 10)),
                           10 * max(1, math.ceil(n_test / 10)))}
    counts = {"binarized_mnist": {"train": n_train, "valid": max(1, n_train // 6),
                                  "test": n_test}}
    for name, (train, test) in sources.items():
        valid = holdout_size(name, train)
        counts[name] = {"train": train - valid, "valid": valid, "test": test}
    return counts
