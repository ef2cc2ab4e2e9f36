"""The benchmark helpers compute what they claim to (speed itself is never asserted in tests)."""
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import flat_params  # noqa: E402


def test_flat_and_separate_parameters_train_identically():
    """bench/flat_params.py's two variants take the same Adam steps: equal losses after updates."""
    rng = np.random.default_rng(0)
    init = [(rng.normal(size=s) * 0.05).astype(np.float32) for s in flat_params.shapes()]
    x = tf.constant((rng.random((8, flat_params.WIDTHS[0])) < 0.3).astype(np.float32))
    losses = {flat: [float(step(x)) for _ in range(4)]
              for flat, step in ((f, flat_params.make_step(init, f)) for f in (False, True))}
    assert losses[False][0] > losses[False][-1]  # the steps do train
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
