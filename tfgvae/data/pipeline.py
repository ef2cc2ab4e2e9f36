"""make_dataset: a tf.data pipeline of float32 batches (B, input_dim), no labels.

Decoded uint8 pixels are held in memory (from_tensor_slices); per-batch work is
one map (binarize or dequantize), then prefetch, on one private thread (input_options).

Transforms (default per dataset and split):
  'dynamic'    x ~ Bernoulli(pixel / 255), resampled every epoch inside tf.data
               (stateless sampling seeded from Dataset.random(seed), which
               re-randomizes on every iteration): default for train of mnist/omniglot.
  'fixed'      x = 1[u < pixel / 255] with u drawn ONCE by numpy
               RandomState(FIXED_BINARIZATION_SEED) over the whole split (before
               `limit`), identical on every run: default for valid/test of
               mnist/omniglot.
  'none'       x = pixel / 255 (grey intensities; binarized_mnist is already 0/1).
  'dequantize' x = (pixel + u) / 256, u ~ U(0, 1) per epoch: default for cifar10 train.
  'midpoint'   x = (pixel + 0.5) / 256: cifar10 eval splits, or dequantize=False.
"""

import numpy as np
import tensorflow as tf

from tfgvae.data.info import TRAINING_SPLITS, check_split, get_info
from tfgvae.data.loading import load_pixels

FIXED_BINARIZATION_SEED = 0
BINARIZE_CHOICES = (None, False, "dynamic", "fixed", "none")
PREFETCH_BATCHES = 4


def input_options():
    """tf.data options that keep the input pipeline off the training step's cores.

    tf.data's autotuner and its shared thread pool competed with the XLA step for the
    2 cores of the reference machine: ``model.fit`` then ran some epochs at ~5,000 and
    others at ~6,000 examples/s (N=5). One private thread and a fixed prefetch depth give
    ~6,600 every epoch; a batch costs the pipeline well under a millisecond
    (docs/performance.md).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    options.threading.private_threadpool_size = 1
    return options


def transform_for(info, split, binarize=None, dequantize=None):
    """The transform name ('dynamic', 'fixed', 'none', 'dequantize', 'midpoint')."""
    if binarize not in BINARIZE_CHOICES:
        raise ValueError(f"binarize must be one of {BINARIZE_CHOICES}, got {binarize!r}")
    if info.likelihood == "gaussian":
        if binarize not in (None, False, "none"):
            raise ValueError(f"{info.name} is continuous; binarize={binarize!r} is not supported")
        if dequantize is None:
            dequantize = split in TRAINING_SPLITS
        return "dequantize" if dequantize else "midpoint"
    if dequantize:
        raise ValueError(f"{info.name} is binary-valued; dequantize is for gaussian datasets")
    if binarize is None:
        if info.binarization != "dynamic":
            return "none"
        return "dynamic" if split in TRAINING_SPLITS else "fixed"
    return "none" if binarize is False else binarize


def fixed_binarization(pixels, seed=FIXED_BINARIZATION_SEED):
    """uint8 0/255 pixels: one Bernoulli(pixel / 255) sample from a fixed numpy seed."""
    rng = np.random.RandomState(seed)
    out = np.empty_like(pixels)
    for start in range(0, len(pixels), 4096):  # chunks bound the float64 buffer
        chunk = pixels[start:start + 4096]
        out[start:start + len(chunk)] = np.where(
            rng.random_sample(chunk.shape) * 255 < chunk, 255, 0)
    return out


def _map_fn(transform, seed):
    """A function (uint8 batch, random int64) -> float32 batch for `transform`."""
    def noise(x, r):
        key = tf.stack([r, tf.constant(seed, tf.int64)])
        return tf.random.stateless_uniform(tf.shape(x), seed=key, dtype=tf.float32)

    def fn(x, r):
        x = tf.cast(x, tf.float32)
        if transform == "dynamic":
            return tf.cast(noise(x, r) * 255.0 < x, tf.float32)
        if transform == "dequantize":
            return (x + noise(x, r)) / 256.0
        if transform == "midpoint":
            return (x + 0.5) / 256.0
        return x / 255.0

    return fn


def _indexed_stream(pixels, batch_size, seed, start_batch):
    """Endless (uint8 batch, k) for k >= start_batch: batch k is a pure function of (seed, k).

    Pass p visits the examples in the order stateless_shuffle(seed=(p, seed)), so the stream
    is the same for every iterator made of it and can start at any k without replaying.
    ``start_batch``: an int, or a tf.Variable that every new iterator reads afresh (so one
    Dataset can give successive epochs: ``tfgvae.training.train.datasets``).
    """
    n = len(pixels)
    per_pass = n // batch_size
    if per_pass < 1:
        raise ValueError(f"{n} examples are fewer than one batch of {batch_size}")
    table = tf.constant(pixels)

    def one_pass(p):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([p, tf.constant(seed, tf.int64)]))
        rows = tf.reshape(order[:per_pass * batch_size], (per_pass, batch_size))
        return tf.data.Dataset.from_tensor_slices(rows).enumerate(p * per_pass)

    def from_batch(start):
        return tf.data.Dataset.counter(start // per_pass).flat_map(one_pass).skip(start % per_pass)

    if isinstance(start_batch, tf.Variable):  # read when an iterator starts, not now
        ds = tf.data.Dataset.from_tensors(0).flat_map(
            lambda _: from_batch(tf.cast(start_batch.read_value(), tf.int64)))
    else:
        ds = from_batch(int(start_batch))
    return ds.map(lambda k, rows: (tf.gather(table, rows), k))


def make_dataset(name, split, data_dir=None, *, batch_size, shuffle=False, seed=0,
                 binarize=None, dequantize=None, drop_remainder=False, repeat=False,
                 limit=None, verify=True, start_batch=None):
    """A tf.data.Dataset of float32 batches (B, input_dim) of one split.

    binarize: None (dataset default), 'dynamic', 'fixed', or 'none'/False (grey).
    dequantize (gaussian datasets): None = True on train, False (midpoint) on eval.
    seed fixes shuffling and the per-epoch noise; each pass over the dataset
    (each epoch, also with repeat=True) draws new noise. limit keeps the first
    `limit` examples of the split. start_batch (training): instead, an endless stream of
    full shuffled batches from batch number start_batch on, identical for every iterator
    (shuffle, repeat and drop_remainder are implied; see _indexed_stream).
    """
    info = get_info(name)
    check_split(split)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be >= 1 or None, got {limit}")
    transform = transform_for(info, split, binarize, dequantize)
    pixels, _ = load_pixels(name, split, data_dir, verify=verify)
    if transform == "fixed":
        pixels, transform = fixed_binarization(pixels), "none"
    if limit is not None:
        pixels = pixels[:int(limit)]
    if start_batch is not None:
        ds = _indexed_stream(np.ascontiguousarray(pixels), int(batch_size), seed, start_batch)
    else:
        ds = tf.data.Dataset.from_tensor_slices(np.ascontiguousarray(pixels))
        if shuffle:
            ds = ds.shuffle(len(pixels), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, randoms))
        if repeat:
            ds = ds.repeat()
    ds = ds.map(_map_fn(transform, seed))
    return ds.prefetch(PREFETCH_BATCHES).with_options(input_options())
