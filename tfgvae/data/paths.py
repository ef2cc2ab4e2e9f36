"""Where the data are: the data dir from flag or environment, and its files."""

import os

from tfgvae.data.checksums import verify_file
from tfgvae.data.errors import FIX_DATA_DIR, data_error

DATA_DIR_ENV = "TFGVAE_DATA_DIR"


def resolve_data_dir(data_dir=None):
    """The data dir: the flag value, else $TFGVAE_DATA_DIR, else None (use tfds).

    Returns an absolute path; raises DataError if the chosen folder does not exist.
    """
    source = "--data_dir"
    if not data_dir:
        data_dir, source = os.environ.get(DATA_DIR_ENV) or None, DATA_DIR_ENV
    if data_dir is None:
        return None
    path = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    if not os.path.isdir(path):
        raise data_error("data dir", path, f"does not exist or is not a folder (from {source})",
                         FIX_DATA_DIR)
    return path


def source_file(data_dir, rel, verify):
    """Absolute path of data_dir/rel after checking it exists (and its sha256 if verify)."""
    path = os.path.abspath(os.path.join(data_dir, rel))
    if not os.path.isfile(path):
        raise data_error("missing data file", path, "not found", FIX_DATA_DIR)
    if verify:
        verify_file(data_dir, rel)
    return path
