"""SHA-256 verification of data files, remembered in a stamp file in the cache dir.

Expected values come from a SHA256SUMS file in the data dir when it lists the
file (so users and tests can supply their own), else from the canonical values that the dataset
registry (``tfgvae.data.info``) records here as it registers each dataset (``CANONICAL_SHA256``:
those of ../shared/data/SHA256SUMS). The registry imports its readers and they import this module,
so the table is handed down rather than looked up.
"""

import hashlib
import os

from tfgvae.data import cache
from tfgvae.data.errors import FIX_RECOPY, DataError, data_error

SUMS_FILE = "SHA256SUMS"
STAMP_FILE = "verified_sha256.json"
_CHUNK = 1 << 20
CANONICAL_SHA256 = {}  # file relative to the data dir -> sha256, of every registered dataset


def register_sha256(sums):
    """Add a dataset's {file relative to the data dir: sha256} to ``CANONICAL_SHA256``."""
    CANONICAL_SHA256.update(sums)


def read_sha256sums(data_dir):
    """{relative path: sha256} from data_dir/SHA256SUMS ({} if there is none)."""
    path = os.path.join(data_dir, SUMS_FILE)
    if not os.path.exists(path):
        return {}
    sums = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise data_error("checksum list", path, f"unreadable ({e})", "fix or delete it") from e
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise data_error("checksum list", path, f"line {number} is not '<sha256>  <path>'",
                             "fix or delete that line")
        rel = parts[1].strip().lstrip("*")
        sums[os.path.normpath(rel).replace(os.sep, "/")] = parts[0].lower()
    return sums


def file_sha256(path):
    """The sha256 of a file, hashed once per (absolute path, size, mtime).

    Results are stored in <cache dir>/verified_sha256.json so later reads skip hashing.
    """
    path = os.path.abspath(path)
    st = os.stat(path)
    stamp_path = cache.cache_path(STAMP_FILE)
    stamps = cache.read_json(stamp_path)
    entry = stamps.get(path)
    if (isinstance(entry, dict) and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns and entry.get("sha256")):
        return entry["sha256"]
    digest = _hash_file(path)
    stamps = cache.read_json(stamp_path)  # re-read: another process may have added entries
    stamps[path] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    cache.write_json(stamp_path, stamps)
    return digest


def _hash_file(path):
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                h.update(block)
    except OSError as e:
        raise data_error("data file", path, f"unreadable ({e})", FIX_RECOPY) from e
    return h.hexdigest()


def expected_sha256(data_dir, rel):
    """(sha256, where it came from) for a file given by its path relative to data_dir."""
    sums = read_sha256sums(data_dir)
    if rel in sums:
        return sums[rel], os.path.join(data_dir, SUMS_FILE)
    return CANONICAL_SHA256.get(rel), "the built-in table of canonical checksums"


def verify_file(data_dir, rel):
    """Raises DataError unless data_dir/rel has its expected sha256."""
    path = os.path.abspath(os.path.join(data_dir, rel))
    expected, source = expected_sha256(data_dir, rel)
    if expected is None:
        raise DataError(f"no checksum known for data file {path}; fix: list it in "
                        f"{os.path.join(data_dir, SUMS_FILE)} or pass verify=False")
    actual = file_sha256(path)
    if actual != expected:
        raise data_error("checksum mismatch for data file", path,
                         f"expected sha256 {expected} (from {source}), got {actual}", FIX_RECOPY)
