"""Batch-norm statistics recomputed at the structure a model is evaluated under.

Training normalizes each top-down head by the moments of relaxed, per-example gated parents
(Eq. 9), and keeps their moving averages; evaluation then feeds the MAP structure c_MAP, whose
pre-activations have other moments. ``recalibrate_batch_norm`` replaces every batch norm's moving
mean and variance by the average of its training-mode batch moments over one pass of data under
c_MAP (as ``torch.optim.swa_utils.update_bn`` does after weight averaging).
"""
import numpy as np
import tensorflow as tf


def batch_norm_layers(model):
    """(layer, moving mean, moving variance) of every batch norm in ``model``: Keras'
    BatchNormalization and the top-down heads' ``NodeBatchNorm``."""
    found = []
    for layer in model._flatten_layers(include_self=False):
        variance = getattr(layer, "moving_variance", getattr(layer, "moving_var", None))
        if hasattr(layer, "momentum") and getattr(layer, "moving_mean", None) is not None and variance is not None:
            found.append((layer, layer.moving_mean, variance))
    return found


def recalibrate_batch_norm(model, batches, gates=None):
    """Set every batch norm's moving moments to the mean over ``batches`` of its batch moments in a
    training-mode pass under ``gates`` (default the MAP structure). Only the moving moments change;
    returns the number of batches. ``batches``: an iterable of (B, D) or (B, *input_shape) arrays."""
    layers = batch_norm_layers(model)
    gates = model.gates.map() if gates is None else gates
    momenta = [layer.momentum for layer, _, _ in layers]

    @tf.function
    def moments(x):  # momentum 0: the moving moments become this batch's
        model.elbo_terms(x, training=True, gates=gates)
        return [(tf.identity(m), tf.identity(v)) for _, m, v in layers]

    sums, count = None, 0
    try:
        for layer, _, _ in layers:
            layer.momentum = 0.0
        for x in batches:
            values = [(m.numpy().astype(np.float64), v.numpy().astype(np.float64)) for m, v in moments(x)]
            sums = values if sums is None else [(a + m, b + v) for (a, b), (m, v) in zip(sums, values)]
            count += 1
    finally:
        for (layer, _, _), momentum in zip(layers, momenta):
            layer.momentum = momentum
    if not count:
        raise ValueError("batch-norm recalibration needs at least one batch of data")
    for (_, mean, variance), (a, b) in zip(layers, sums):
        mean.assign((a / count).astype(np.float32))
        variance.assign((b / count).astype(np.float32))
    return count
