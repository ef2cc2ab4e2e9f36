"""MNIST from the four gzipped IDX files (images: magic 2051, data at byte 16;
labels: magic 2049, data at byte 8)."""

import gzip
import struct
import zlib

import numpy as np

from tfgvae.data.cache import memo_by_file
from tfgvae.data.errors import FIX_RECOPY, data_error
from tfgvae.data.paths import source_file

FILES = {
    "train": ("mnist/train-images-idx3-ubyte.gz", "mnist/train-labels-idx1-ubyte.gz"),
    "test": ("mnist/t10k-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz"),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def read_idx(path, magic):
    """The uint8 array stored in a gzipped IDX file; DataError on any defect."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise data_error("data file", path, f"not a valid gzip file ({e})", FIX_RECOPY) from e
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise data_error("data file", path, f"truncated IDX header ({len(data)} bytes)", FIX_RECOPY)
    (got,) = struct.unpack(">I", data[:4])
    if got != magic:
        raise data_error("data file", path, f"IDX magic is {got}, expected {magic}", FIX_RECOPY)
    dims = struct.unpack(f">{ndim}I", data[4:header])
    payload = np.frombuffer(data, np.uint8, offset=header)
    if payload.size != int(np.prod(dims)):
        raise data_error("data file", path, f"holds {payload.size} data bytes but its header "
                         f"says {dims}", FIX_RECOPY)
    return payload.reshape(dims)


def read(data_dir, part, verify):
    """(uint8 images (n, 784), int64 labels (n,)) of part 'train' (60k) or 'test' (10k)."""
    image_path, label_path = (source_file(data_dir, rel, verify) for rel in FILES[part])
    images = memo_by_file(image_path, "idx", lambda: read_idx(image_path, IMAGES_MAGIC))
    labels = memo_by_file(label_path, "idx", lambda: read_idx(label_path, LABELS_MAGIC))
    if images.shape[1:] != (28, 28):
        raise data_error("data file", image_path, f"images are {images.shape[1:]}, expected "
                         "(28, 28)", FIX_RECOPY)
    if len(images) != len(labels):
        raise data_error("data file", label_path, f"has {len(labels)} labels but {image_path} "
                         f"has {len(images)} images", FIX_RECOPY)
    if labels.size and labels.max() > 9:
        raise data_error("data file", label_path, f"has label {labels.max()} > 9", FIX_RECOPY)
    return images.reshape(len(images), 784), labels.astype(np.int64)
