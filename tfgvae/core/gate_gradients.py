"""Why each gate moves: d E_c[ELBO] / d mu per edge, split into its reconstruction and KL parts.

The expected ELBO of Eq. 8 is E_c[E_q[log p(x | z)] - KL]; through the relaxed gates
(Eq. 9) both terms depend on every mu_{j,i}. For each training step this module gives,
per edge, d E[log p(x | z)] / d mu and -d KL / d mu (nats per example, batch means): their
sum is the ELBO's pull on the gate, positive = towards 1. The KL part costs one more
backward pass through the latent pass only (the KL does not read the decoder); the
reconstruction part is what remains of the step's own gate gradient.
"""
import tensorflow as tf
import keras

PARTS = ("reconstruction", "kl")


class VectorMean(keras.metrics.Metric):
    """Elementwise running mean of (size,) vectors, one per step; ``total`` and ``count`` as
    keras.metrics.Mean has them, so the model sums them over replicas alike."""

    def __init__(self, size, name="vector_mean", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(size,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(tf.cast(values, self.total.dtype))
        self.count.assign_add(tf.ones((), self.count.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)


def mean_per_weight(gates):
    """d mu / d w of every gate (N, N) for the stored weight w of ``gates`` (``DependencyGates``):
    k mu (1 - mu) for mu = sigmoid(k w) (``logit``), k for mu = k w (``mean``); k the lr multiplier."""
    k = gates.lr_multiplier
    if gates.parameterization == "logit":
        mu = tf.sigmoid(gates.gate_logits())
        return k * mu * (1.0 - mu)
    return tf.fill(tf.shape(gates.variable), tf.constant(k, gates.variable.dtype))


def per_edge(gates, grad_weight):
    """A gradient w.r.t. the stored weight (N, N) as d / d mu on the edges (E,), ``edge_names`` order."""
    per_mean = tf.math.divide_no_nan(tf.convert_to_tensor(grad_weight), mean_per_weight(gates))
    return tf.gather(tf.reshape(per_mean, [-1]), gates.edge_index[:, 0])


def split(model, tape, grads, mean_kl, penalty, kl_weight, replicas):
    """{"gate_grad_reconstruction": (E,), "gate_grad_kl": (E,)} of one training step.

    ``tape`` (persistent) recorded the step whose scaled loss (beta KL - recon + penalty) / R
    gave ``grads`` for ``model.trainable_variables``; ``mean_kl`` (the batch-mean KL) and
    ``penalty`` (``edge_penalty``) were computed under it.
    """
    gates = model.gates
    weight = gates.variable
    index = [k for k, v in enumerate(model.trainable_variables) if v is weight][0]
    zero = tf.zeros_like(weight)
    grad_kl = tape.gradient(mean_kl, weight)
    grad_kl = zero if grad_kl is None else grad_kl
    grad_penalty = tape.gradient(penalty, weight) if model.config.edge_cost else None
    grad_penalty = zero if grad_penalty is None else grad_penalty
    grad_step = zero if grads[index] is None else grads[index]
    grad_recon = kl_weight * grad_kl + grad_penalty - replicas * grad_step
    return {"gate_grad_reconstruction": per_edge(gates, grad_recon), "gate_grad_kl": -per_edge(gates, grad_kl)}
