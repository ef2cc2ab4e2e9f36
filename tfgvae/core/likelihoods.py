"""Observation models p(x | z) (Sec. 4.1, App. B.1).

``bernoulli``: the decoder's last fc gives logits; Sigmoid() is the Bernoulli mean.
``gaussian``: Sigmoid() of the decoder's last fc is the mean, and fc(input, input) of
the same output the log-variance (CIFAR-10), softly held inside LOGVAR_RANGE (unbounded, as
App. B writes it, it diverges on CIFAR-10 in the first epoch: docs/results.md).
Parameters travel as tensors; the ``tfd`` distribution is built only where a
log-probability or sample is needed.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp
import keras

tfd = tfp.distributions
LIKELIHOODS = ("bernoulli", "gaussian")
# Gaussian log-variance range: sigma from one intensity level (1/256) of 8-bit data to the data's range (1).
LOGVAR_RANGE = (2.0 * math.log(1.0 / 256.0), 0.0)


def bounded_logvar(raw, low=LOGVAR_RANGE[0], high=LOGVAR_RANGE[1]):
    """high - softplus(high - (low + softplus(raw - low))): ~raw well inside (low, high); never above
    high, never below low - log(1 + exp(low - high)) (1.5e-5 below low for LOGVAR_RANGE)."""
    return high - tf.nn.softplus(high - (low + tf.nn.softplus(raw - low)))


class ObservationHead(keras.layers.Layer):
    """Maps the decoder output o (B, D) to the likelihood's parameters (B, D, P), P = 1 or 2."""

    def __init__(self, likelihood, input_dim, **kwargs):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}: choose one of {', '.join(LIKELIHOODS)}")
        self.likelihood = likelihood
        if likelihood == "gaussian":
            self.logvar = keras.layers.Dense(input_dim, name="fc_logvar")

    def build(self, input_shape):
        if self.likelihood == "gaussian":
            self.logvar.build(input_shape)

    def call(self, o):
        if self.likelihood == "bernoulli":
            return o[..., None]
        return tf.stack([o, bounded_logvar(self.logvar(o))], axis=-1)


def distribution(likelihood, params):
    """The tfd distribution of x given the head's parameters, one batch dim per example."""
    if likelihood == "bernoulli":
        return tfd.Independent(tfd.Bernoulli(logits=params[..., 0], dtype=params.dtype), 1)
    mean, logvar = tf.sigmoid(params[..., 0]), params[..., 1]
    return tfd.Independent(tfd.Normal(mean, tf.exp(0.5 * logvar)), 1)


def log_likelihood(likelihood, x, params):
    """log p(x | z) summed over the last axis, in nats; x broadcasts against params[..., 0].

    Bernoulli in closed form, sum x l - softplus(l) (two fusable ops instead of tfd's six,
    and the same value); Gaussian through ``distribution``.
    """
    if likelihood == "bernoulli":
        logits = params[..., 0]
        return tf.reduce_sum(x * logits - tf.nn.softplus(logits), axis=-1)
    return distribution(likelihood, params).log_prob(x)


def mean(likelihood, params):
    """E[x | z]: Bernoulli probabilities or the Gaussian's sigmoid mean, (B, D)."""
    return tf.sigmoid(params[..., 0])

