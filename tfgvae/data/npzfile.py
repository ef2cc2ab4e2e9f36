"""Reading numpy .npz data files with DataError on any defect."""

import zipfile
import zlib

import numpy as np

from tfgvae.data.errors import FIX_RECOPY, data_error


def read_npz(path, keys):
    """{key: array} for the given keys of an npz file; DataError if unreadable or incomplete."""
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise data_error("data file", path, f"lacks key(s) {missing} (has {z.files})",
                                 FIX_RECOPY)
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise data_error("data file", path, f"not a readable npz archive ({e})", FIX_RECOPY) from e


def check_array(path, key, array, dtype, shape):
    """Raises DataError unless array has dtype and shape (None in shape matches any size)."""
    dtype = np.dtype(dtype)
    ok = array.dtype == dtype and array.ndim == len(shape) and all(
        want is None or want == got for want, got in zip(shape, array.shape))
    if not ok:
        want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
        raise data_error("data file", path,
                         f"key {key!r} is {array.dtype} {array.shape}, expected {dtype} {want}",
                         FIX_RECOPY)
