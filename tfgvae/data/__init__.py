"""Data layer of tfgvae: MNIST, binarized MNIST, Omniglot 28x28 and CIFAR-10.

Local files (a folder laid out like ../shared/data, given by --data_dir or
$TFGVAE_DATA_DIR) are the main path; tensorflow-datasets is the fallback. See
docs/data.md for layout, checksums, splits, binarization and caching.
"""

from tfgvae.data.bits import bits_per_dim
from tfgvae.data.cache import cache_dir
from tfgvae.data.errors import DataError
from tfgvae.data.info import DATASETS, SPLITS, DatasetInfo
from tfgvae.data.loading import load_pixels, load_split
from tfgvae.data.paths import DATA_DIR_ENV, resolve_data_dir
from tfgvae.data.pipeline import make_dataset

__all__ = [
    "DATASETS", "DATA_DIR_ENV", "SPLITS", "DataError", "DatasetInfo", "bits_per_dim",
    "cache_dir", "load_pixels", "load_split", "make_dataset", "resolve_data_dir",
]
