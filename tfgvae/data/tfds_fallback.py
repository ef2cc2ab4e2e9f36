"""Fallback when no data dir is given: the same sources from tensorflow-datasets.

tfds images are converted to the local readers' format (uint8 (n, input_dim));
Omniglot goes through the same 105->28 resize; omniglot_alphabets reads tfds'
'omniglot' splits as they are, omniglot joins both and takes each character's drawings
in tfds order as its drawers 0..19. The order of tfds examples (and so the validation
hold-out and omniglot's drawers) need not match the local files, and tfds' CIFAR-10 is
the exact original rather than the JPEG copy.
"""

import numpy as np

from tfgvae.data.errors import FIX_DATA_DIR, DataError
from tfgvae.data.info import get_info

TFDS_SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def _tfds_load(name, split):
    """{feature: numpy array} of a whole tfds split (a seam for tests)."""
    import tensorflow_datasets as tfds

    return tfds.as_numpy(tfds.load(name, split=split, batch_size=-1))


def read(name, part):
    """(uint8 images (n, input_dim), int64 labels (n,)) of a source part via tfds, converted by the
    reader's ``from_tfds`` where tfds stores them otherwise; a reader's ``read_tfds(read_part,
    part)`` builds its parts from tfds parts itself (omniglot: from both of tfds' splits)."""
    info = get_info(name)
    if hasattr(info.reader, "read_tfds"):
        return info.reader.read_tfds(lambda tfds_part: _read(info, tfds_part), part)
    return _read(info, part)


def _read(info, part):
    try:
        features = _tfds_load(info.tfds_name, TFDS_SPLITS[part])
    except Exception as e:  # tfds raises many types (network, import, not-found)
        raise DataError(f"no data dir was given (--data_dir / TFGVAE_DATA_DIR unset) and "
                        f"tensorflow-datasets could not load {info.name!r} split "
                        f"{TFDS_SPLITS[part]!r} ({type(e).__name__}: {str(e)[:200]}); fix: "
                        f"{FIX_DATA_DIR}") from e
    images = np.asarray(features["image"])
    n = len(images)
    if hasattr(info.reader, "from_tfds"):
        images = info.reader.from_tfds(images)
    labels = features.get("label")
    labels = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    return images.reshape(n, -1).astype(np.uint8), labels
