"""Draws docs/omniglot_sizes.png: a few Omniglot characters at 105x105 and at 28x28.

python docs/omniglot_sizes.py [--data_dir ../shared/data]   (default: $TFGVAE_DATA_DIR)
Rows: the 105x105 source drawing (black = ink), its 28x28 BOX (area-average) resize as
tfgvae.data gives it (grey = the fraction of the cell that is ink), and one Bernoulli sample of
that (the binary image a model sees). Columns: drawer 0 (train) and drawer 15 (test) of three
characters, from a background and an evaluation alphabet. Also prints the mean ink fraction
before and after the resize (area averaging keeps it).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfgvae.data import omniglot, resolve_data_dir  # noqa: E402
from tfgvae.data.pipeline import fixed_binarization  # noqa: E402

CHARACTERS = (5, 400, 1200)  # character ids: two background, one evaluation alphabet
DRAWERS = (0, 15)  # the first train drawer and the first test drawer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                         "omniglot_sizes.png"))
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    files = [np.load(os.path.join(data_dir, omniglot.FILES[p]))["images"] for p in ("train", "test")]
    pages = np.concatenate(files)  # (1623, 20, 105, 105), True = background
    picked = [(c, d) for c in CHARACTERS for d in DRAWERS]
    big = np.stack([pages[c, d] for c, d in picked])
    small = omniglot.resize_to_28(big)
    binary = fixed_binarization(small)
    ink = (~big).mean(axis=(1, 2))
    print("ink fraction 105x105:", ink.round(4).tolist())
    print("ink fraction 28x28 (BOX mean / 255):", (small.mean(axis=1) / 255).round(4).tolist())
    rows = [("105x105 source", ~big), ("28x28 BOX (grey)", small.reshape(-1, 28, 28)),
            ("28x28 binarized", binary.reshape(-1, 28, 28))]
    fig, axes = plt.subplots(len(rows), len(picked), figsize=(1.3 * len(picked), 1.45 * len(rows)))
    for r, (title, images) in enumerate(rows):
        for k, (c, d) in enumerate(picked):
            ax = axes[r, k]
            ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=1 if images.dtype == bool else 255,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"char {c}\ndrawer {d} ({'train' if d < 15 else 'test'})", fontsize=7)
            if k == 0:
                ax.set_ylabel(title, fontsize=7)
    fig.tight_layout(pad=0.3)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
