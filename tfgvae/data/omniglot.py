"""Omniglot 28x28, derived from the 105x105 full set by area downsampling.

Each 105x105 image (True = background) is inverted so ink = 255, then resized to
28x28 with PIL's BOX filter (the area average of the covered source pixels,
rounded to 8 bits): grey intensities that are binarized like MNIST. The resized
arrays are cached in the cache dir under the source file's sha256, one per file.
Labels are character ids: background 0..963, evaluation 964..1622 (the file's
label + 964).

Two splits of the same 32,460 images (1,623 characters x 20 drawers):
  omniglot            (this module's read): every character on both sides, as in
                      the VAE literature (Burda et al.'s 28x28 set): 'train' =
                      drawers 0-14 of every character (24,345), 'test' = drawers
                      15-19 (8,115); a drawer is a position 0..19 on axis 1 of the
                      files' images.
  omniglot_alphabets  (alphabet_part): 'train' = background set (964 chars x 20),
                      'test' = evaluation set (659 chars x 20, alphabets training
                      never sees).
"""

import numpy as np
from PIL import Image

from tfgvae.data import cache
from tfgvae.data.checksums import file_sha256
from tfgvae.data.errors import FIX_RECOPY, DataError, data_error
from tfgvae.data.npzfile import check_array, read_npz
from tfgvae.data.paths import source_file
from tfgvae.data.progress import progress

FILES = {"train": "omniglot/images_background.npz", "test": "omniglot/images_evaluation.npz"}
LABEL_OFFSET = {"train": 0, "test": 964}
SOURCE_SIZE, SIZE = 105, 28
DRAWERS = 20
DRAWERS_OF = {"train": np.arange(0, 15), "test": np.arange(15, DRAWERS)}
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
    check_array(path, "images", images, bool, (None, DRAWERS, SOURCE_SIZE, SOURCE_SIZE))
    if labels.shape != images.shape[:2] or labels.dtype.kind not in "iu":
        raise data_error("data file", path, f"key 'labels' is {labels.dtype} {labels.shape}, "
                         f"expected integers {images.shape[:2]}", FIX_RECOPY)
    return {"images": resize_to_28(images), "labels": labels.reshape(-1).astype(np.int64)}


def _cached_decode(path):
    return cache.disk_cached(f"omniglot28_v{CACHE_VERSION}", file_sha256(path),
                             ("images", "labels"), lambda: _decode(path))


def alphabet_part(data_dir, part, verify):
    """(uint8 images (n, 784), int64 character ids (n,)) of one file: 'train' = background,
    'test' = evaluation (the omniglot_alphabets split)."""
    path = source_file(data_dir, FILES[part], verify)
    images, labels = cache.memo_by_file(path, "omniglot28", lambda: _cached_decode(path))
    return images, labels + LABEL_OFFSET[part]


def drawer_index(num_characters, part):
    """(character, drawer) of each image of a part of the omniglot split, in its order:
    character-major, drawers ascending (an int64 array (n, 2))."""
    drawers = DRAWERS_OF[part]
    chars = np.repeat(np.arange(num_characters), len(drawers))
    return np.stack([chars, np.tile(drawers, num_characters)], axis=1).astype(np.int64)


def by_drawer(images, labels, part):
    """The images and labels of a part, from (n, ...) arrays of whole characters in
    character-major order (20 consecutive images per character, drawer 0 first)."""
    labels = np.asarray(labels)
    if len(labels) % DRAWERS or (labels.reshape(-1, DRAWERS) != labels[::DRAWERS, None]).any():
        raise DataError(f"{len(labels)} Omniglot images are not whole characters of {DRAWERS} "
                        f"drawings each; fix: {FIX_RECOPY}")
    index = drawer_index(len(images) // DRAWERS, part)
    flat = index[:, 0] * DRAWERS + index[:, 1]
    return images[flat], labels[flat]


def _whole_characters(sources, part):
    """A part of the omniglot split from (images, labels) sources that together hold whole
    characters: joined, ordered by character id (stably), then by_drawer."""
    images, labels = (np.concatenate([s[i] for s in sources]) for i in (0, 1))
    order = np.argsort(labels, kind="stable")
    return by_drawer(images[order], labels[order], part)


def read(data_dir, part, verify):
    """(uint8 images (n, 784), int64 character ids (n,)) of 'train' (drawers 0-14 of every
    character) or 'test' (drawers 15-19), both files' characters in id order."""
    return _whole_characters([alphabet_part(data_dir, p, verify) for p in ("train", "test")], part)


def from_tfds(images):
    """tfds' Omniglot images (n, 105, 105, 3), white background, as the reader's (n, 784) ink."""
    return resize_to_28(images[..., 0] >= 128)


def read_tfds(read_part, part):
    """A part of the omniglot split from tfds: both of tfds' Omniglot splits (labels are the ids
    0..1622) joined, each character's drawings in tfds order taken as its drawers 0..19;
    read_part(tfds part) gives a tfds part as the reader's (images, labels)."""
    return _whole_characters([read_part(p) for p in ("train", "test")], part)
