"""Where examples come from: a registered dataset, an .npz file, numpy arrays or a tf.data.Dataset.

``resolve(data)`` gives a ``Source`` that training (``tfgvae.training.train``), evaluation and
``reproduce`` read the same way. Your own data are values in [0, 1], used as they are (no
binarization), one example per row of shape (n, *example_shape):

- an array or a tf.data.Dataset (of examples or of batches): the split being evaluated;
- a dict {"train": ..., "valid": ..., "test": ...} of them (training needs train and valid);
- an .npz file with such keys (and optionally ``likelihood``), which also works from the
  command line (``--dataset=FILE.npz``) and in ``reproduce``'s separate processes.

Bad examples are refused with the one-line messages of the SavedModel signatures.
"""
import math
import os

import numpy as np
import tensorflow as tf

from tfgvae import data
from tfgvae.data.pipeline import PREFETCH_BATCHES, _indexed_stream, input_options


def shape_text(shape):
    """'shape (batch, 28, 28, 1)' ('a scalar' for ()), as the signatures' messages write shapes."""
    if not shape:
        return "a scalar"
    return "shape (" + ", ".join("batch" if d is None else str(d) for d in shape) + ")"


def range_message(where):
    return f"{where}: x must lie in [0, 1]"


def finite_message(where):
    return f"{where}: x must be finite"


def image_shape_for(input_dim, input_shape=None):
    """(H, W, C) to tile examples of ``input_dim`` values: ``input_shape`` if it is one (or (H, W)), a
    registered dataset's, else square or (1, D, 1)."""
    if input_shape is not None and len(input_shape) in (2, 3):
        return tuple(input_shape) if len(input_shape) == 3 else (*input_shape, 1)
    for info in data.DATASETS.values():
        if info.input_dim == input_dim:
            return tuple(info.image_shape)
    side = math.isqrt(input_dim)
    return (side, side, 1) if side * side == input_dim else (1, input_dim, 1)


def check_examples(x, where, example_shape=None):
    """float32 numpy examples (n, *shape) from an array, once checked: rank >= 2 (or of
    ``example_shape``, flat (n, D) also accepted), finite, in [0, 1]; uint8 is divided by 255."""
    x = np.asarray(x)
    wanted = None if example_shape is None else (None, *example_shape)
    fits = x.ndim >= 2 if wanted is None else (x.shape[1:] == tuple(example_shape) or (
        x.ndim == 2 and x.shape[1] == math.prod(example_shape)))
    if not fits or len(x) < 1:
        raise ValueError(f"{where}: x must be {shape_text(wanted or (None, 'D'))}, got shape {list(x.shape)}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{where}: x must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(finite_message(where))
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{range_message(where)}; found {x.min():g}..{x.max():g}")
    return x


def check_batches(ds, where, example_shape):
    """A tf.data.Dataset of batches as Keras' ``fit`` reads them (x, or tuples (x, ...)), checked
    cheaply before training: float32 x, and its first batch by ``check_examples``."""
    spec = ds.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) and spec else spec
    if not isinstance(x_spec, tf.TensorSpec):
        raise ValueError(f"{where}: a tf.data.Dataset must give x, or tuples (x, ...), as tensors; got {spec}")
    if x_spec.dtype != tf.float32:
        raise ValueError(f"{where}: x must be float32 values in [0, 1], got dtype {x_spec.dtype.name} "
                         "(map tf.cast over the Dataset; uint8: divide by 255)")
    first = next(iter(ds.take(1)), None)
    if first is not None:
        check_examples(np.asarray(first[0] if isinstance(first, tuple) else first), f"{where} (first batch)",
                       example_shape)
    return ds


def _checked_examples(ds, where):
    """A user Dataset of examples, each checked finite and in [0, 1] when it is read."""
    def check(x):
        x = tf.cast(x, tf.float32)
        with tf.control_dependencies([tf.debugging.assert_all_finite(x, finite_message(where)),
                                      tf.debugging.assert_greater_equal(x, 0.0, range_message(where)),
                                      tf.debugging.assert_less_equal(x, 1.0, range_message(where))]):
            return tf.identity(x)
    return ds.map(check)


class Source:
    """The splits of one dataset as float32 tf.data batches; ``info`` is its ``DatasetInfo``."""

    def __init__(self, info, example_shape, parts=None, data_dir=None):
        self.info, self.example_shape, self.parts, self.data_dir = info, tuple(example_shape), parts, data_dir

    @property
    def registered(self):
        return self.parts is None

    def part(self, split):
        data.info.check_split(split)
        if split == "train+valid":  # arrays of your own: train, then valid
            parts = [self.part(name) for name in ("train", "valid")]
            if not all(isinstance(p, np.ndarray) for p in parts):
                raise ValueError("training on 'train+valid' needs train and valid as arrays")
            return np.concatenate(parts)
        if split not in self.parts:
            raise ValueError(f"{self.info.name} has no {split!r} split: give data={{'train': ..., "
                             f"'valid': ..., 'test': ...}} (arrays or tf.data.Dataset)")
        return self.parts[split]

    def _examples(self, split, limit=None):
        """The split's examples one by one (a tf.data.Dataset), the first ``limit`` of them."""
        part = self.part(split)
        if isinstance(part, np.ndarray):
            return tf.data.Dataset.from_tensor_slices(part[:limit])
        return _checked_examples(part if limit is None else part.take(limit), self.info.name)

    def batches(self, split, batch_size, *, limit=None, seed=0, dequantize=None):
        """float32 batches (B, *example_shape) of a split (registered: ``data.make_dataset``)."""
        if self.registered:
            return data.make_dataset(self.info.name, split, self.data_dir, batch_size=batch_size,
                                     limit=limit, seed=seed, dequantize=dequantize)
        ds = self._examples(split, limit).batch(int(batch_size))
        return ds.prefetch(PREFETCH_BATCHES).with_options(input_options())

    def evaluation_batches(self, split, batch_size, *, limit=None, seed=0):
        """The evaluation's data: the split's fixed binarization (binary data) or, for 8-bit data,
        x = (pixel + u) / 256 with u ~ U(0, 1) from ``seed``; your own data as they are."""
        dequantize = True if self.registered and self.info.likelihood == "gaussian" else None
        return self.batches(split, batch_size, limit=limit, seed=seed, dequantize=dequantize)

    def size(self, split, limit=None):
        """Examples in a split (at most ``limit``); None when a tf.data.Dataset does not know."""
        if self.registered:
            n = data.info.split_size(self.info, split)
        elif isinstance(self.part(split), np.ndarray):
            n = len(self.part(split))
        else:
            n = int(self._examples(split).cardinality())
            n = None if n < 0 else n
        return n if limit is None or n is None else min(n, limit)

    def indexed(self, split="train"):
        """Whether batch k of the training stream can be made without the batches before it
        (registered datasets and arrays; not a tf.data.Dataset of your own)."""
        return self.registered or isinstance(self.part(split), np.ndarray)

    def train_stream(self, batch_size, seed, start_batch=0, limit=None, split="train"):
        """The endless training stream from batch ``start_batch`` on; batch k depends on (seed, k)
        only, so a resumed run sees the batches of the uninterrupted one (a tf.data.Dataset of
        your own: the same if it iterates the same way every time). ``split``: "train", or
        "train+valid" (registered datasets and arrays). ``start_batch`` may be a tf.Variable,
        read by every new iterator, where the stream is ``indexed``."""
        if self.registered:
            return data.make_dataset(self.info.name, split, self.data_dir, batch_size=batch_size,
                                     seed=seed, limit=limit, start_batch=start_batch)
        part = self.part(split)
        if isinstance(part, np.ndarray):
            ds = _indexed_stream(np.ascontiguousarray(part[:limit]), int(batch_size), seed, start_batch)
            ds = ds.map(lambda x, k: x)
        else:
            if isinstance(start_batch, tf.Variable):
                raise ValueError("a tf.data.Dataset of your own cannot start at a variable batch")
            ds = self._examples("train", limit).repeat().batch(int(batch_size), drop_remainder=True)
            ds = ds.skip(int(start_batch))
        return ds.prefetch(PREFETCH_BATCHES).with_options(input_options())


def _fits(shape, example_shape):
    """Whether examples of ``shape`` are those of ``example_shape`` (or their D values, flat)."""
    return tuple(shape) == tuple(example_shape) or (len(shape) == 1 and shape[0] == math.prod(example_shape))


def _dataset_examples(ds, where, example_shape):
    """(examples one by one, their shape) of a user Dataset of examples or of batches."""
    spec = ds.element_spec
    if not isinstance(spec, tf.TensorSpec) or len(spec.shape) < 1 or None in spec.shape[1:]:
        raise ValueError(f"{where}: a tf.data.Dataset must give one tensor of fixed shape, got {spec}")
    dims = tuple(spec.shape)
    if example_shape is not None:
        batched = _fits(dims[1:], example_shape)
        if not batched and not _fits(dims, example_shape):
            raise ValueError(f"{where}: x must be {shape_text((None, *example_shape))}, got batches "
                             f"of {shape_text(dims)}")
    else:
        batched = dims[0] is None
    return (ds.unbatch() if batched else ds), (dims[1:] if batched else dims)


def _own(name, parts, likelihood, where, example_shape=None):
    """A Source of your own splits: arrays checked now, Datasets as they are read."""
    if likelihood not in ("bernoulli", "gaussian"):
        raise ValueError(f"{where}: likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
    checked, shape = {}, example_shape
    for split, part in parts.items():
        data.info.check_split(split)
        label = f"{where} ({split})" if len(parts) > 1 else where
        if isinstance(part, tf.data.Dataset):
            part, part_shape = _dataset_examples(part, label, shape)
        else:
            part = check_examples(part, label, shape)
            part_shape = part.shape[1:]
        shape = shape or tuple(int(d) for d in part_shape)
        checked[split] = part
    sizes = {f"num_{s}": len(checked[s]) if isinstance(checked.get(s), np.ndarray) else max(
        0, int(checked[s].cardinality()) if s in checked else 0) for s in data.SPLITS}
    info = data.DatasetInfo(name=name, image_shape=image_shape_for(math.prod(shape), shape),
                            likelihood=likelihood, binarization=None, note="", **sizes)
    return Source(info, shape, checked)


def read_npz(path, where):
    """(parts, likelihood) of an .npz file of train/valid/test arrays (and ``likelihood``)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            parts = {k: z[k] for k in z.files if k in data.SPLITS}
            likelihood = str(z["likelihood"]) if "likelihood" in z.files else "bernoulli"
    except (OSError, ValueError) as e:
        raise ValueError(f"{where}: cannot read {path} as an .npz file of arrays: {e}") from None
    if not parts:
        raise ValueError(f"{where}: {path} has none of the keys {', '.join(data.SPLITS)}")
    return parts, likelihood


def resolve(dataset, data_dir=None, *, likelihood="bernoulli", where="data", example_shape=None):
    """A Source from a registered name, an .npz path, an array, a tf.data.Dataset or a dict of
    splits; ``likelihood`` is that of your own data (an .npz file may name its own), and
    ``example_shape`` (a model's) what its examples must be."""
    if isinstance(dataset, Source):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        name = os.fspath(dataset)
        if name in data.DATASETS:
            info = data.DATASETS[name]
            return Source(info, (info.input_dim,), data_dir=data_dir)
        if name.endswith(".npz") and os.path.isfile(name):
            parts, likelihood = read_npz(name, where)
            return _own(os.path.abspath(name), parts, likelihood, where, example_shape)
        raise ValueError(unknown_dataset_message(name))
    if isinstance(dataset, dict):
        return _own("own data", dataset, likelihood, where, example_shape)
    if isinstance(dataset, tf.data.Dataset) or hasattr(dataset, "__array__"):
        source = _own("own data", {"test": dataset}, likelihood, where, example_shape)
        source.parts = {s: source.parts["test"] for s in data.SPLITS}  # the one split, whichever is asked
        return source
    raise ValueError(f"{where}: expected a dataset name, an .npz file, an array, a tf.data.Dataset or "
                     f"a dict of splits, got {type(dataset).__name__}")


def unknown_dataset_message(name=None):
    """The one line that refuses a dataset that is neither registered nor an .npz file."""
    what = "unknown dataset" if name is None else f"unknown dataset {name!r}"
    return f"{what}: choose one of {', '.join(data.DATASETS)}, or give an .npz file of train/valid/test arrays"


def is_dataset_name(value):
    """Whether ``value`` names a registered dataset or an existing .npz file (the --dataset check)."""
    return value in data.DATASETS or (str(value).endswith(".npz") and os.path.isfile(value))
