"""Bits per dimension with the discretization correction for 8-bit data."""

import math


def bits_per_dim(log_likelihood_nats, input_dim, num_levels=256):
    """Converts a continuous log-density of data in [0,1] into bits per dimension.

    With x = (pixel + u) / 256, the discrete log-probability of the pixels is
    log p(x) - D*log(256), so bits/dim = -(log p(x) - D*log 256) / (D*ln 2).
    Works on Python floats, numpy arrays and TF tensors (elementwise).
    """
    d = float(input_dim)
    return -(log_likelihood_nats - d * math.log(num_levels)) / (d * math.log(2.0))
