"""The ``sample`` program: samples (and reconstructions) of an exported model as a PNG grid.

    tfgvae sample --saved_model=SavedModels/mnist --num=64 --out=samples.png

It needs none of tfgvae's model code (it imports ``tfgvae.atomic`` alone): the SavedModel's ``info``,
``sample`` and ``reconstruct`` signatures (docs/serving.md) are all it uses, and ``tfgvae.cli`` runs
it without importing the rest of the package. Tiles are laid out row by row, ceil(sqrt(n)) per row,
with PAD grey pixels around and between them.
"""
import functools
import math
import os
import sys

import numpy as np
import tensorflow as tf
from absl import flags

from tfgvae import atomic

PAD = 2
PAD_VALUE = 128
REQUIRED = ("info", "sample", "reconstruct")
FLAGS = flags.FLAGS


def define_flags(flag_values=None):
    """The program's flags, in ``flag_values`` (absl's FLAGS by default)."""
    fv = FLAGS if flag_values is None else flag_values
    string, integer = (functools.partial(f, flag_values=fv) for f in (flags.DEFINE_string, flags.DEFINE_integer))
    string("saved_model", None, "SavedModel directory written by bin/train.py or bin/export.py.")
    integer("num", 64, "Number of samples.")
    integer("seed", 0, "Seed of the sampling (and reconstruction) noise.")
    string("out", "samples.png", "PNG file for the sample grid.")
    flags.DEFINE_enum("show", "means", ["means", "samples"],
                      "Tile the likelihood means E[x | z] or one sample x ~ p(x | z) per z.", flag_values=fv)
    string("images", None, "Optional .npy of images in [0, 1] (or uint8), (n, D) or (n, H, W, C), to "
           "reconstruct.")
    string("reconstructions_out", None, "PNG for --images: rows of originals, each followed by its "
           "reconstructions (default <out>_reconstructions.png).")
    flags.mark_flag_as_required("saved_model", flag_values=fv)


def load_model(path):
    """The SavedModel, its (H, W, C) image shape and its x's example shape; ValueError if it is
    not one of ours."""
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path} is not a SavedModel (no saved_model.pb)")
    model = tf.saved_model.load(path)
    missing = [name for name in REQUIRED if not hasattr(model, name)]
    if missing:
        raise ValueError(f"{path} lacks the signature(s) {', '.join(missing)}: re-export it with "
                         "bin/export.py")
    info = model.info()
    image_shape = tuple(int(v) for v in info["image_shape"].numpy())
    input_shape = tuple(int(v) for v in info["input_shape"].numpy()) if "input_shape" in info else (
        (math.prod(image_shape),))
    return model, image_shape, input_shape


def load_images(path, input_dim):
    """(n, D) float32 in [0, 1] from a .npy file; uint8 is divided by 255."""
    try:
        images = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read --images {path}: {e}") from None
    if images.ndim < 2 or images.shape[0] < 1 or math.prod(images.shape[1:]) != input_dim:
        raise ValueError(f"--images {path} has shape {images.shape}: need (n, {input_dim}) or "
                         f"(n, H, W, C) with H*W*C = {input_dim}")
    images = images.reshape(len(images), input_dim)
    images = images / np.float32(255) if images.dtype == np.uint8 else images.astype(np.float32)
    if not np.all((images >= 0) & (images <= 1)):
        raise ValueError(f"--images {path} has values outside [0, 1] (and is not uint8)")
    return images


def tile(images, image_shape, cols):
    """uint8 grid (H', W', C) of ``images`` (n, D) in [0, 1], ``cols`` per row, PAD apart."""
    h, w, c = image_shape
    rows = -(-len(images) // cols)
    grid = np.full((PAD + rows * (h + PAD), PAD + cols * (w + PAD), c), PAD_VALUE, np.uint8)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8).reshape(-1, h, w, c)
    for k, image in enumerate(pixels):
        top, left = PAD + (k // cols) * (h + PAD), PAD + (k % cols) * (w + PAD)
        grid[top:top + h, left:left + w] = image
    return grid


def interleave(originals, reconstructions, cols):
    """Rows of ``cols`` originals, each row followed by the same examples' reconstructions."""
    rows = []
    for start in range(0, len(originals), cols):
        for part in (originals, reconstructions):
            row = part[start:start + cols]
            blank = np.full((cols - len(row), row.shape[1]), PAD_VALUE / 255, np.float32)
            rows.append(np.concatenate([row, blank]))
    return np.concatenate(rows)


def write_png(path, grid):
    """Write ``grid`` as a PNG, atomically."""
    png = tf.io.encode_png(grid).numpy()
    atomic.write(path, lambda f: f.write(png), binary=True)


def check_out(path, flag):
    if not path.lower().endswith(".png"):
        raise ValueError(f"{flag}={path} must end in .png")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{flag}={path}: folder {parent} does not exist")


def main(argv):
    """Draw the grid (and the reconstructions); bad input exits 1 with one line."""
    del argv  # stray arguments are refused by tfgvae.cli
    try:
        if FLAGS.num < 1:
            raise ValueError(f"--num must be >= 1, got {FLAGS.num}")
        if not -2 ** 31 <= FLAGS.seed < 2 ** 31:
            raise ValueError(f"--seed must fit in int32, got {FLAGS.seed}")
        check_out(FLAGS.out, "--out")
        recon_out = FLAGS.reconstructions_out or os.path.splitext(FLAGS.out)[0] + "_reconstructions.png"
        if FLAGS.images:
            check_out(recon_out, "--reconstructions_out")
        model, image_shape, input_shape = load_model(FLAGS.saved_model)
        images = load_images(FLAGS.images, math.prod(image_shape)) if FLAGS.images else None
    except ValueError as e:
        sys.exit(f"sample.py: error: {e}")
    seed = tf.constant(FLAGS.seed, tf.int32)
    drawn = model.sample(tf.constant(FLAGS.num, tf.int32), seed)[FLAGS.show].numpy()
    drawn = drawn.reshape(len(drawn), -1)
    write_png(FLAGS.out, tile(drawn, image_shape, math.ceil(math.sqrt(FLAGS.num))))
    print(f"Wrote {FLAGS.num} {FLAGS.show} to {FLAGS.out}")
    if images is not None:
        means = model.reconstruct(tf.constant(images.reshape(-1, *input_shape)), seed)["means"].numpy()
        means = means.reshape(len(means), -1)
        cols = math.ceil(math.sqrt(len(images)))
        write_png(recon_out, tile(interleave(images, means, cols), image_shape, cols))
        print(f"Wrote {len(images)} reconstructions to {recon_out}")
