"""Omniglot 28x28, derived from the 105x105 full set by area downsampling.

Each 105x105 image (True = background) is inverted so ink = 255, then resized to
28x28 with PIL's BOX filter (the area average of the covered source pixels,
rounded to 8 bits): grey intensities that are binarized like MNIST. The resized
arrays are cached in the cache dir under the source file's sha256.
Parts: 'train' = background set (964 chars x 20), 'test' = evaluation set
(659 chars x 20). Labels are character ids: background 0..963, evaluation
964..1622 (the file's label + 964).
"""

import numpy as np
from PIL import Image

from tfgvae.data import cache
from tfgvae.data.checksums import file_sha256
from tfgvae.data.errors import FIX_RECOPY, data_error
from tfgvae.data.npzfile import check_array, read_npz
from tfgvae.data.paths import source_file
from tfgvae.data.progress import progress

FILES = {"train": "omniglot/images_background.npz", "test": "omniglot/images_evaluation.npz"}
LABEL_OFFSET = {"train": 0, "test": 964}
SOURCE_SIZE, SIZE = 105, 28
CACHE_VERSION = 1


def resize_to_28(background):
    """uint8 ink intensities (n, 784) from bool images (n, 105, 105) with True = background."""
    background = np.asarray(background, bool).reshape(-1, SOURCE_SIZE, SOURCE_SIZE)
    out = np.empty((len(background), SIZE, SIZE), np.uint8)
    for i in progress(range(len(background)), len(background), "omniglot 105->28"):
        ink = Image.fromarray(np.where(background[i], 0, 255).astype(np.uint8))
        out[i] = np.asarray(ink.resize((SIZE, SIZE), Image.Resampling.BOX))
    return out.reshape(len(background), SIZE * SIZE)


def _decode(path):
    arrays = read_npz(path, ("images", "labels"))
    images, labels = arrays["images"], arrays["labels"]
    check_array(path, "images", images, bool, (None, 20, SOURCE_SIZE, SOURCE_SIZE))
    if labels.shape != images.shape[:2] or labels.dtype.kind not in "iu":
        raise data_error("data file", path, f"key 'labels' is {labels.dtype} {labels.shape}, "
                         f"expected integers {images.shape[:2]}", FIX_RECOPY)
    return {"images": resize_to_28(images), "labels": labels.reshape(-1).astype(np.int64)}


def _cached_decode(path):
    return cache.disk_cached(f"omniglot28_v{CACHE_VERSION}", file_sha256(path),
                             ("images", "labels"), lambda: _decode(path))


def read(data_dir, part, verify):
    """(uint8 images (n, 784), int64 character ids (n,)) of 'train' or 'test'."""
    path = source_file(data_dir, FILES[part], verify)
    images, labels = cache.memo_by_file(path, "omniglot28", lambda: _cached_decode(path))
    return images, labels + LABEL_OFFSET[part]


def from_tfds(images):
    """tfds' Omniglot images (n, 105, 105, 3), white background, as the reader's (n, 784) ink."""
    return resize_to_28(images[..., 0] >= 128)
