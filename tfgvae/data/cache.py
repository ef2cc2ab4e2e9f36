"""The on-disk cache (TFGVAE_CACHE_DIR) and an in-process memo of decoded files."""

import collections
import json
import os
import warnings
import zipfile

import numpy as np

from tfgvae import atomic

CACHE_ENV = "TFGVAE_CACHE_DIR"
_MEMO_SIZE = 8
_memo = collections.OrderedDict()


def cache_dir():
    """The cache folder: $TFGVAE_CACHE_DIR, else ~/.cache/tfgvae (not created here)."""
    return os.path.abspath(os.path.expanduser(os.environ.get(CACHE_ENV) or "~/.cache/tfgvae"))


def cache_path(filename):
    """Absolute path of `filename` inside the cache folder."""
    return os.path.join(cache_dir(), filename)


def _atomic_write(path, write):
    """Calls write(fileobj) on a temporary binary file, then renames it onto path (``tfgvae.atomic``).

    Cache writes are best effort: an unwritable cache only costs a warning.
    """
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic.write(path, write, binary=True)
    except OSError as e:
        warnings.warn(f"tfgvae: could not write cache file {path}: {e}")


def read_json(path):
    """The JSON object stored at path, or {} if it is absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json(path, data):
    """Atomically writes a JSON object."""
    _atomic_write(path, lambda f: f.write(json.dumps(data, indent=1, sort_keys=True).encode()))


def load_arrays(path, keys):
    """Arrays stored by save_arrays, or None if the cache file is absent or damaged."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None


def save_arrays(path, **arrays):
    """Atomically writes arrays as an uncompressed npz (fast to reload)."""
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def disk_cached(tag, source_sha256, keys, compute):
    """Arrays (a tuple in `keys` order) from <cache dir>/<tag>_<sha[:20]>.npz.

    On a miss, compute() (a dict of arrays) is called and its result saved there.
    """
    path = cache_path(f"{tag}_{source_sha256[:20]}.npz")
    arrays = load_arrays(path, keys)
    if arrays is None:
        arrays = compute()
        save_arrays(path, **arrays)
    return tuple(arrays[k] for k in keys)


def memo_by_file(path, extra, compute):
    """compute(), remembered in-process by (path, size, mtime, extra).

    Returned numpy arrays are made read-only so callers cannot alter the memo.
    """
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, extra)
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key]
    value = compute()
    for array in value if isinstance(value, tuple) else (value,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    _memo[key] = value
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return value


def clear_memo():
    """Forgets the in-process memo (for tests and to free memory)."""
    _memo.clear()
