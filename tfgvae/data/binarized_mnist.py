"""Binarized MNIST (Larochelle & Murray, 2011) from binarized_mnist_uint8.npz.

Pixels are returned as 0/255 so that every reader yields 8-bit intensities; the
dataset has no labels, so labels are -1.
"""

import numpy as np

from tfgvae.data.cache import memo_by_file
from tfgvae.data.errors import FIX_RECOPY, data_error
from tfgvae.data.npzfile import check_array, read_npz
from tfgvae.data.paths import source_file

FILE = "binarized_mnist/binarized_mnist_uint8.npz"
KEYS = ("train", "valid", "test")


def _read_all(path):
    arrays = read_npz(path, KEYS)
    for key, array in arrays.items():
        check_array(path, key, array, np.uint8, (None, 784))
        if array.size and array.max() > 1:
            raise data_error("data file", path, f"key {key!r} has values > 1, expected 0/1",
                             FIX_RECOPY)
    return tuple(arrays[k] * np.uint8(255) for k in KEYS)


def read(data_dir, part, verify):
    """(uint8 images (n, 784) in {0, 255}, int64 labels of -1) of 'train', 'valid' or 'test'."""
    path = source_file(data_dir, FILE, verify)
    images = memo_by_file(path, "npz", lambda: _read_all(path))[KEYS.index(part)]
    return images, np.full(len(images), -1, np.int64)


def from_tfds(images):
    """tfds' 0/1 images as the reader's 0/255 pixels."""
    return images * np.uint8(255)
