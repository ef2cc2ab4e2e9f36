"""A progress bar on stderr for slow one-time work (decoding, resizing)."""

import sys

MIN_ITEMS = 1000  # tiny jobs (test fixtures) show no bar


def progress(iterable, total, desc):
    """Wraps iterable in a tqdm bar written to stderr (when tqdm is installed)."""
    if total < MIN_ITEMS:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        print(f"tfgvae: {desc} ({total} items)...", file=sys.stderr)
        return iterable
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, unit="img", mininterval=0.5)
