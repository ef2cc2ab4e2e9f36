"""Validation hold-outs for datasets without an official validation split.

Rule (each dataset's ``DatasetInfo.holdout``): from a training source of n examples,
k = max(1, min(cap, n // divisor)) are held out as 'valid' and the other n - k form 'train'.
  mnist:    divisor 6, cap 10,000, the LAST k examples  -> 60,000 gives 50,000 / 10,000
  omniglot: divisor 10, no cap, the last k of numpy RandomState(0).permutation(n)
            -> 24,345 (drawers 0-14 of every character) gives 21,911 / 2,434
  omniglot_alphabets: same -> 19,280 (the background set) gives 17,352 / 1,928
  cifar10:  same as omniglot -> 50,000 gives 45,000 / 5,000
Both parts keep the source order (indices are sorted). Tiny sources (n >= 2)
always give non-empty train and valid parts.
"""

import numpy as np

from tfgvae.data.errors import FIX_DATA_DIR, DataError
from tfgvae.data.info import get_info

HOLDOUT_SEED = 0


def holdout_size(name, n):
    """Number of validation examples held out of a training source of n examples."""
    rule = get_info(name).holdout
    if n < 2:
        raise DataError(f"{name} training source has {n} example(s), too few to hold out a "
                        f"validation split; fix: {FIX_DATA_DIR}")
    k = n // rule.divisor
    if rule.cap is not None:
        k = min(k, rule.cap)
    return max(1, k)


def holdout_indices(name, n):
    """(train indices, valid indices) into a training source of n examples, both sorted."""
    k = holdout_size(name, n)
    order = np.random.RandomState(HOLDOUT_SEED).permutation(n) if get_info(name).holdout.permute \
        else np.arange(n)
    return np.sort(order[:n - k]), np.sort(order[n - k:])
