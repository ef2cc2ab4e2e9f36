"""load_split: one split of a dataset as numpy arrays, from a data dir or tfds."""

import numpy as np

from tfgvae.data import tfds_fallback
from tfgvae.data.info import check_split, get_info
from tfgvae.data.paths import resolve_data_dir
from tfgvae.data.splits import holdout_indices


def _read_source(name, part, data_dir, verify):
    if data_dir is None:
        return tfds_fallback.read(name, part)
    return get_info(name).reader.read(data_dir, part, verify)


def load_pixels(name, split, data_dir=None, *, verify=True):
    """(uint8 pixels (n, input_dim), int64 labels (n,)) of a split.

    Pixels are 8-bit intensities (binarized_mnist: 0/255); 'train'/'valid' of
    datasets with a ``holdout`` are the hold-out of the source training set.
    """
    info = get_info(name)
    check_split(split)
    if split == "train+valid":  # both parts: for a hold-out, the whole training source in its order
        parts = [load_pixels(name, part, data_dir, verify=verify) for part in ("train", "valid")]
        if info.holdout is not None:
            images, labels = (np.concatenate(v) for v in zip(*parts))
            order = np.argsort(np.concatenate(holdout_indices(name, len(images))), kind="stable")
            return images[order], labels[order]
        return tuple(np.concatenate(v) for v in zip(*parts))
    data_dir = resolve_data_dir(data_dir)
    if split == "test" or info.holdout is None:
        return _read_source(name, split, data_dir, verify)
    images, labels = _read_source(name, "train", data_dir, verify)
    index = holdout_indices(name, len(images))[split == "valid"]
    return images[index], labels[index]


def load_split(name, split, data_dir=None, *, verify=True):
    """(images, labels) of one split as numpy arrays.

    images: float32 in [0, 1], shape (n, input_dim) (a reshape of (n, H, W, C));
    labels: int64 (n,) (-1 for binarized_mnist, which has none). Grey datasets
    are returned as grey intensities: binarization happens in make_dataset.
    data_dir: the folder (else $TFGVAE_DATA_DIR, else tensorflow-datasets).
    """
    pixels, labels = load_pixels(name, split, data_dir, verify=verify)
    return pixels.astype(np.float32) / np.float32(255), np.array(labels, np.int64)
