"""CIFAR-10 from the approximate JPEG (quality 75) copy cifar10_jpeg_q75.tar.gz.

The tarball holds train/<class>/NNNN.jpg and test/<class>/NNNN.jpg. Members are
sorted by name, decoded with PIL to uint8 RGB, and the arrays are cached in the
cache dir under the tarball's sha256 (decoding 60,000 JPEGs takes seconds).
"""

import io
import tarfile
import zlib

import numpy as np
from PIL import Image

from tfgvae.data import cache
from tfgvae.data.checksums import file_sha256
from tfgvae.data.errors import FIX_RECOPY, data_error
from tfgvae.data.paths import source_file
from tfgvae.data.progress import progress

FILE = "cifar10/cifar10_jpeg_q75.tar.gz"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
PARTS = ("train", "test")
KEYS = ("train_images", "train_labels", "test_images", "test_labels")
CACHE_VERSION = 1


def _members(path):
    """Sorted [(name, jpeg bytes)] of the tarball's images."""
    entries = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.isfile():
                    entries.append((member.name, tar.extractfile(member).read()))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise data_error("data file", path, f"not a readable tar.gz ({e})", FIX_RECOPY) from e
    return sorted(entries)


def _parse_name(path, name):
    """(part, label) of a member named <part>/<class>/NNNN.jpg."""
    parts = name.split("/")
    if len(parts) < 3 or parts[-3] not in PARTS or parts[-2] not in CLASSES \
            or not parts[-1].lower().endswith(".jpg"):
        raise data_error("data file", path, f"unexpected member {name!r}, expected "
                         "train|test/<class>/NNNN.jpg", FIX_RECOPY)
    return parts[-3], CLASSES.index(parts[-2])


def _decode_jpeg(path, name, data):
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise data_error("data file", path, f"member {name!r} is not a valid JPEG ({e})",
                         FIX_RECOPY) from e
    if rgb.shape != (32, 32, 3):
        raise data_error("data file", path, f"member {name!r} is {rgb.shape}, expected "
                         "(32, 32, 3)", FIX_RECOPY)
    return rgb


def _decode(path):
    entries = _members(path)
    out = {part: ([], []) for part in PARTS}
    for name, data in progress(entries, len(entries), "cifar10 JPEG decode"):
        part, label = _parse_name(path, name)
        out[part][0].append(_decode_jpeg(path, name, data).reshape(-1))
        out[part][1].append(label)
    for part in PARTS:
        if not out[part][0]:
            raise data_error("data file", path, f"holds no {part} images", FIX_RECOPY)
    return {f"{part}_{kind}": np.asarray(out[part][i], np.uint8 if i == 0 else np.int64)
            for part in PARTS for i, kind in enumerate(("images", "labels"))}


def _cached_decode(path):
    return cache.disk_cached(f"cifar10_uint8_v{CACHE_VERSION}", file_sha256(path), KEYS,
                             lambda: _decode(path))


def read(data_dir, part, verify):
    """(uint8 images (n, 3072) = flattened (32, 32, 3), int64 labels (n,)) of 'train'/'test'."""
    path = source_file(data_dir, FILE, verify)
    arrays = cache.memo_by_file(path, "cifar10", lambda: _cached_decode(path))
    i = PARTS.index(part)
    return arrays[2 * i], arrays[2 * i + 1]
