"""Atomic file writes: a temporary file in the target's folder, then one rename onto the target.

A killed process leaves either the old file or the new one, never half of one. Every file the
library writes (JSON records, tables, figures, sample grids, per-example arrays, cache files) goes
through ``write``.
"""
import json
import os
import uuid

import numpy as np


def write(path, fill, binary=False):
    """Call ``fill(f)`` on a temporary file next to ``path``, then rename it onto ``path``."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # opened as a new file: the umask's mode
    try:
        with open(tmp, "xb" if binary else "x") as f:
            fill(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json(path, payload):
    """``payload`` as indented JSON with sorted keys."""
    return write(path, lambda f: json.dump(payload, f, indent=1, sort_keys=True))


def write_text(path, text):
    """A text file."""
    return write(path, lambda f: f.write(text))


def save_figure(fig, path, **kwargs):
    """A matplotlib figure as PNG (``kwargs`` go to ``savefig``, e.g. dpi)."""
    return write(path, lambda f: fig.savefig(f, format="png", **kwargs), binary=True)


def save_npz(path, **arrays):
    """Arrays as an uncompressed .npz."""
    return write(path, lambda f: np.savez(f, **arrays), binary=True)
