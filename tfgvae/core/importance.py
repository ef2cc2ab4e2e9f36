"""Importance-sampled log-likelihood (Table 1's estimator) of a model, per example.

log p(x) ~= log (1/k) sum_i exp(log p(x, z_i | c_i) - log q(z_i | x, c_i)),  z_i ~ q(z | x, c_i)
(Burda et al., 2016, Eq. 10), with c_i the fixed or MAP structure, or drawn from the gates
(``default_gate_draws``), and q the structured posterior of Eqs. 6, 7 and 18. The bottom-up pass
depends on x only and runs once per example; each of the k samples repeats only the top-down
descent and the decoder. Samples are processed ``chunk_size`` at a time inside one
``tf.while_loop`` with a running log-sum-exp, so memory is bounded by the chunk, whatever k is.

The estimator is generic over a model exposing ``bottom_up_gaussians(x, training)``,
``descend(gates, noise, bottom_up, training)``, ``decode(z, training)``, ``gates.map()``
and ``config.{num_nodes, node_dim, likelihood}``; a model may override the observation
log-density with ``observation_log_prob(x, params)`` (the tests' linear-Gaussian double).
``model_batch_fn`` and ``run_batches`` run it over a stream of batches (the training run's periodic
test log-likelihood, Fig. 5); whole splits are evaluated by ``tfgvae.experiments.evaluation``.
"""
import math
import sys

import numpy as np
import tensorflow as tf

from tfgvae.core import likelihoods
from tfgvae.core.structure import GATE_READINGS
from tfgvae.data import sources

DEFAULT_NUM_SAMPLES = 5000
DEFAULT_CHUNK_SIZE = 500
DEFAULT_BATCH_SIZE = 8  # examples per compiled step: batch x chunk rows per decoder call
SIGNATURE_CHUNK = 100  # importance samples per chunk of the SavedModel's log_likelihood (and the model's)
DEFAULT_JIT_COMPILE = False  # oneDNN matmuls beat XLA's on CPU here (docs/evaluation.md)
GATE_STREAM = 1_000_003  # fold-in of the gate draws' key (``default_gate_draws``), apart from z's


def _observation_log_prob(model, x, params):
    """log p(x | z): x (B, 1, D) broadcast against params (B, C, D, P) -> (B, C)."""
    custom = getattr(model, "observation_log_prob", None)
    if custom is not None:
        return custom(x, params)
    return likelihoods.log_likelihood(model.config.likelihood, x, params)


def inference_decoder(model):
    """``model.decode`` in inference mode with each batch norm folded into the fc before it.

    fc -> BN -> ELU becomes ELU(h W' + b') with W' = W s, b' = (b - m) s + beta,
    s = gamma / sqrt(v + eps) (moving mean m and variance v): the same function with one
    fused matmul-bias-activation per layer. Falls back to ``model.decode`` for any other
    decoder layout.
    """
    layers = list(getattr(getattr(model, "decoder", None), "layers", []))
    kinds = [type(layer).__name__ for layer in layers]
    if not layers or kinds != ["Dense", "BatchNormalization", "Activation"] * (len(kinds) // 3) + ["Dense"] \
            or any(layer.get_config()["activation"] != "elu" for layer in layers[2::3]) \
            or any(layer.get_config()["activation"] != "linear" for layer in layers[0::3]):
        return lambda z: model.decode(z, training=False)

    def decode(z):
        if model.config.decode_from == "first":
            h = z[:, 0]
        else:
            h = tf.reshape(z, (-1, model.config.latent_dim))
        for dense, bn in zip(layers[0::3], layers[1::3]):
            scale = bn.gamma * tf.math.rsqrt(bn.moving_variance + bn.epsilon)
            bias = (dense.bias - bn.moving_mean) * scale + bn.beta
            h = tf.nn.elu(tf.matmul(h, dense.kernel * scale) + bias)
        return model.head(tf.matmul(h, layers[-1].kernel) + layers[-1].bias)

    return decode


def _key(seed):
    """A stateless key (2,) int32 of an int seed (as (seed, 0)) or of a key given as (2,)."""
    seed = tf.cast(seed, tf.int32)
    return tf.stack([seed, 0]) if seed.shape.rank == 0 else seed


def default_noise(model, seed):
    """noise_fn(chunk_index, batch, chunk) -> standard normal (batch, chunk, N, N').

    Stateless and keyed by (seed, chunk index), so a result is reproducible for a given
    seed, chunk size and compile mode (XLA's stateless generator draws other numbers than
    TensorFlow's kernels). ``seed``: int or int (2,).
    """
    seed = _key(seed)
    shape_tail = (model.config.num_nodes, model.config.node_dim)

    def noise_fn(chunk_index, batch, chunk):
        key = tf.random.experimental.stateless_fold_in(seed, chunk_index)
        return tf.random.stateless_normal((batch, chunk) + shape_tail, seed=key)

    return noise_fn


def default_gate_draws(model, seed, reading="map", temperature=None):
    """gates_fn(chunk_index, batch, chunk) -> the gates of a chunk of importance samples.

    ``map`` (and any fixed structure): the MAP adjacency (1, N, N) for every sample. ``sampled``
    / ``relaxed``: one structure per sample and example, (B C, N, N) (row b C + s: sample s of
    example b), drawn by ``DependencyGates.draw`` from uniforms keyed by (seed, chunk index) on a
    stream of their own, so z's noise is that of the MAP reading.
    """
    gates = model.gates
    if reading == "map" or not getattr(gates, "learned", False):
        if reading not in GATE_READINGS:
            raise ValueError(f"unknown gate reading {reading!r}: choose one of {', '.join(GATE_READINGS)}")
        fixed = gates.map()
        return lambda chunk_index, batch, chunk: fixed
    key = tf.random.experimental.stateless_fold_in(_key(seed), GATE_STREAM)
    temperature = model.temperature if temperature is None else temperature

    def gates_fn(chunk_index, batch, chunk):
        uniform = tf.random.stateless_uniform((batch * chunk, gates.num_edges),
                                              tf.random.experimental.stateless_fold_in(key, chunk_index))
        return gates.draw(reading, uniform, tf.cast(temperature, tf.float32))

    return gates_fn


def _chunk_fn(model, x, bottom_up, xla_parts=False):
    """chunk_terms(noise (B, C, N, N'), gates (1 or B C, N, N)) -> log-weights (B, C), per-node
    KL terms (B, C, N), z.

    ``xla_parts``: compile the descent and the log-density (many small element-wise ops) with
    XLA and leave the decoder's matmuls to TensorFlow's kernels, faster on CPU than either alone.
    """
    n, d = model.config.num_nodes, model.config.node_dim
    decode = inference_decoder(model)

    def latent(noise, mu, logvar, gates):
        batch, chunk = tf.shape(noise)[0], tf.shape(noise)[1]
        tiled = tuple(tf.repeat(t, chunk, axis=0) for t in (mu, logvar))  # row b * C + s: example b
        z, log_q, log_p = model.descend(gates, tf.reshape(noise, (batch * chunk, n, d)), tiled,
                                        training=False)
        return z, tf.reshape(log_q - log_p, (batch, chunk, n))

    def log_weights(x, params, kl_nodes):
        params = tf.reshape(params, tf.concat([tf.shape(kl_nodes)[:2], tf.shape(params)[1:]], axis=0))
        recon = _observation_log_prob(model, x[:, None], params)  # x broadcast over samples
        return recon - tf.reduce_sum(kl_nodes, axis=-1)

    if xla_parts:
        latent, log_weights = (tf.function(f, jit_compile=True) for f in (latent, log_weights))

    def chunk_terms(noise, gates):
        z, kl_nodes = latent(noise, bottom_up[0], bottom_up[1], gates)
        log_w = log_weights(x, decode(z), kl_nodes)
        return log_w, kl_nodes, tf.reshape(z, tf.concat([tf.shape(kl_nodes)[:2], [n, d]], axis=0))

    return chunk_terms


def importance_terms(model, x, num_samples=DEFAULT_NUM_SAMPLES, chunk_size=DEFAULT_CHUNK_SIZE,
                     seed=0, noise_fn=None, xla_parts=False, gates="map", temperature=None):
    """Per-example IWAE estimate and the sample averages of the ELBO's terms.

    ``gates``: the structure each sample is scored under (``default_gate_draws``). ``map``
    estimates log p(x | c_MAP); ``sampled`` importance-samples (c, z) jointly with c ~ Bernoulli(mu),
    so the weights p(x | z) p(z | c) / q(z | x, c) estimate log sum_c p(c) p(x | c), the likelihood
    of the gate mixture that Eq. 8 trains; ``relaxed`` does so with c from Eq. 9 at ``temperature``
    (default the model's current tau, a run's final one). A callable (chunk_index, batch, chunk)
    -> gates is used as given.

    Returns a dict of (B,) tensors ``log_likelihood`` (log (1/k) sum_i w_i), ``elbo`` and
    ``kl`` (means over the k samples of log w_i and of log q - log p, i.e. k-sample Monte
    Carlo estimates of the ELBO and of KL(q(z|x,c) || p(z|c))), ``kl_per_node`` (B, N) and
    ``posterior_mean`` (B, N, N'), the sample mean of z ~ q(z | x, c), and ``posterior_variance``
    (B, N, N'), the sample variance of z (ddof = 0), which measures the Monte Carlo noise of that
    mean (``active_units``). With k = 1 all three
    equal the single-sample ``GraphVAE.elbo_terms`` under the same noise. ``num_samples`` is a
    Python int or a scalar int tensor (for serving signatures); ``noise_fn`` is
    ``default_noise(model, seed)`` unless given; ``xla_parts``: see ``_chunk_fn``. Usable
    inside ``tf.function(jit_compile=True)``.
    """
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if isinstance(num_samples, (int, np.integer)):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        chunk = min(chunk_size, int(num_samples))
        num_chunks = -(-int(num_samples) // chunk)
    else:  # a scalar int tensor k (a serving signature's input): chunks of chunk_size
        chunk = chunk_size
        num_samples = tf.cast(num_samples, tf.int32)
        num_chunks = (num_samples + chunk - 1) // chunk
    noise_fn = noise_fn or default_noise(model, seed)
    x = tf.convert_to_tensor(x, tf.float32)
    batch = tf.shape(x)[0]
    n, d = model.config.num_nodes, model.config.node_dim
    bottom_up = model.bottom_up_gaussians(x, training=False)
    gates_fn = gates if callable(gates) else default_gate_draws(model, seed, gates, temperature)
    if x.shape.rank != 2:  # (B, *input_shape): the likelihood reads the D values flat
        x = tf.reshape(x, (batch, -1))
    chunk_terms = _chunk_fn(model, x, bottom_up, xla_parts)

    def body(c, lse, sum_w, sum_kl, sum_z, sum_z2):
        log_w, kl_nodes, z = chunk_terms(noise_fn(c, batch, chunk), gates_fn(c, batch, chunk))
        valid = (c * chunk + tf.range(chunk)) < num_samples  # the last chunk may be partial
        weight = tf.cast(valid, log_w.dtype)[None, :]
        lse = tf.reduce_logsumexp(tf.stack(
            [lse, tf.reduce_logsumexp(tf.where(valid[None, :], log_w, -np.inf), axis=1)]), axis=0)
        return (c + 1, lse, sum_w + tf.reduce_sum(log_w * weight, axis=1),
                sum_kl + tf.einsum("bcn,xc->bn", kl_nodes, weight),
                sum_z + tf.einsum("bcnd,xc->bnd", z, weight),
                sum_z2 + tf.einsum("bcnd,xc->bnd", tf.square(z), weight))

    init = (tf.constant(0), tf.fill([batch], tf.constant(-np.inf)), tf.zeros([batch]),
            tf.zeros([batch, n]), tf.zeros([batch, n, d]), tf.zeros([batch, n, d]))
    _, lse, sum_w, sum_kl, sum_z, sum_z2 = tf.while_loop(lambda c, *_: c < num_chunks, body, init)
    k = tf.cast(num_samples, tf.float32)
    mean = sum_z / k
    return {"log_likelihood": lse - tf.math.log(k), "elbo": sum_w / k, "kl": tf.reduce_sum(sum_kl, 1) / k,
            "kl_per_node": sum_kl / k, "posterior_mean": mean,
            "posterior_variance": tf.maximum(sum_z2 / k - tf.square(mean), 0.0)}


def importance_log_likelihood(model, x, num_samples=DEFAULT_NUM_SAMPLES,
                              chunk_size=DEFAULT_CHUNK_SIZE, seed=0, noise_fn=None, gates="map",
                              temperature=None):
    """Per-example importance-sampled log p(x | c) in nats, (B,); see ``importance_terms``."""
    return importance_terms(model, x, num_samples, chunk_size, seed, noise_fn, gates=gates,
                            temperature=temperature)["log_likelihood"]


def _per_example(model, x, fn, seed, batch_size, where):
    """numpy (n,) of fn(x batch, seed + batch index) over examples x: an array (n, D) or
    (n, *input_shape) or a tf.data.Dataset, checked as the SavedModel signatures check x."""
    source = sources.resolve(x, likelihood=model.config.likelihood, where=where,
                             example_shape=model.config.example_shape)
    batches = source.batches("test", batch_size or max(1, source.size("test") or DEFAULT_BATCH_SIZE))
    fn = tf.function(fn)
    return np.concatenate([fn(xb, tf.constant(seed + b, tf.int32)).numpy() for b, xb in enumerate(batches)])


def examples_log_likelihood(model, x, num_samples=DEFAULT_NUM_SAMPLES, seed=0, batch_size=None, gates="map"):
    """Importance-sampled log p(x | c_MAP) per example (numpy (n,)), for one batch (``batch_size``
    None) exactly what the SavedModel's ``log_likelihood(x, num_samples, seed)`` gives; ``gates``:
    the reading of ``importance_terms``."""
    k = tf.constant(num_samples, tf.int32)
    return _per_example(model, x, lambda xb, s: importance_log_likelihood(
        model, xb, k, SIGNATURE_CHUNK, s, gates=gates), seed, batch_size, "log_likelihood")


def examples_elbo(model, x, seed=0, batch_size=None):
    """Single-sample ELBO per example (numpy (n,)), as the SavedModel's ``elbo(x, seed)``."""
    return _per_example(model, x, lambda xb, s: importance_terms(model, xb, 1, 1, seed=s)["elbo"],
                        seed, batch_size, "elbo")


def model_batch_fn(model, num_samples, chunk_size, seed=0, jit_compile=DEFAULT_JIT_COMPILE, gates="map",
                   temperature=None):
    """fn(x (B, D), batch_index) -> dict of numpy per-example terms, compiled once per batch shape.

    Without ``jit_compile`` the element-wise parts are still compiled with XLA (``_chunk_fn``).
    ``gates``, ``temperature``: the gate reading (``importance_terms``)."""
    @tf.function(jit_compile=jit_compile)
    def terms(x, batch_index):
        key = tf.stack([tf.constant(seed, tf.int32), batch_index])
        return importance_terms(model, x, num_samples, chunk_size, seed=key,
                                xla_parts=not jit_compile, gates=gates, temperature=temperature)

    return lambda x, b: {k: v.numpy() for k, v in terms(x, tf.constant(b, tf.int32)).items()}


def run_batches(batch_fn, dataset, batch_size, total=None, progress=True):
    """Apply ``batch_fn`` to every batch (the last one padded to ``batch_size`` so a compiled
    function is traced once) and concatenate its per-example outputs."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="importance sampling", unit="img", file=sys.stderr,
                   mininterval=1.0, disable=None)
    out = {}
    for b, x in enumerate(dataset):
        n = int(x.shape[0])
        if n < batch_size:
            x = tf.concat([x, tf.zeros((batch_size - n, *x.shape[1:]), x.dtype)], axis=0)
        for key, value in batch_fn(x, b).items():
            out.setdefault(key, []).append(np.asarray(value)[:n])
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    if not out:
        raise ValueError("the evaluation split is empty")
    return {k: np.concatenate(v) for k, v in out.items()}


def mean_and_stderr(values):
    """Mean of per-example values and its standard error s / sqrt(n) (s with ddof = 1)."""
    values = np.asarray(values, np.float64)
    stderr = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(stderr)
