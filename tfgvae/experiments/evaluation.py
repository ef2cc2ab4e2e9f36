"""Test log-likelihood by importance sampling, KL, ELBO and active units (Table 1).

log p(x) ~= log (1/k) sum_i exp(log p(x, z_i | c) - log q(z_i | x, c)),  z_i ~ q(z | x, c)
(Burda et al., 2016, Eq. 10), with c the fixed or MAP structure and q the structured
posterior of Eqs. 6, 7 and 18. The bottom-up pass depends on x only and runs once per
example; each of the k samples repeats only the top-down descent and the decoder. Samples
are processed ``chunk_size`` at a time inside one ``tf.while_loop`` with a running
log-sum-exp, so memory is bounded by the chunk, whatever k is.

The estimator is generic over a model exposing ``bottom_up_gaussians(x, training)``,
``descend(gates, noise, bottom_up, training)``, ``decode(z, training)``, ``gates.map()``
and ``config.{num_nodes, node_dim, likelihood}``; a model may override the observation
log-density with ``observation_log_prob(x, params)`` (the tests' linear-Gaussian double).
Whole splits (a registered dataset or your own data, ``tfgvae.data.sources``) are summarized by
``tfgvae.experiments.reports``.
"""
import os
import sys
import time

import numpy as np
import tensorflow as tf

from tfgvae.core import likelihoods
from tfgvae.data import sources
from tfgvae.training import artifacts, runs
from tfgvae.experiments.reports import (  # noqa: F401  (Table 1 from per-example values; re-exported)
    ACTIVE_UNIT_THRESHOLD, active_units, active_units_warning, data_note, format_table, mean_and_stderr,
    save_per_example, summarize)

DEFAULT_NUM_SAMPLES = 5000
DEFAULT_CHUNK_SIZE = 500
DEFAULT_BATCH_SIZE = 8  # examples per compiled step: batch x chunk rows per decoder call
DEFAULT_JIT_COMPILE = False  # oneDNN matmuls beat XLA's on CPU here (docs/evaluation.md)
SIGNATURE_CHUNK = 100  # importance samples per chunk of the SavedModel's log_likelihood (and the model's)


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


def default_noise(model, seed):
    """noise_fn(chunk_index, batch, chunk) -> standard normal (batch, chunk, N, N').

    Stateless and keyed by (seed, chunk index), so a result is reproducible for a given
    seed, chunk size and compile mode (XLA's stateless generator draws other numbers than
    TensorFlow's kernels). ``seed``: int or int (2,).
    """
    seed = tf.cast(seed, tf.int32)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, 0])
    shape_tail = (model.config.num_nodes, model.config.node_dim)

    def noise_fn(chunk_index, batch, chunk):
        key = tf.random.experimental.stateless_fold_in(seed, chunk_index)
        return tf.random.stateless_normal((batch, chunk) + shape_tail, seed=key)

    return noise_fn


def _chunk_fn(model, x, bottom_up, gates, xla_parts=False):
    """chunk_terms(noise (B, C, N, N')) -> log-weights (B, C), per-node KL terms (B, C, N), z.

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

    def chunk_terms(noise):
        z, kl_nodes = latent(noise, bottom_up[0], bottom_up[1], gates)
        log_w = log_weights(x, decode(z), kl_nodes)
        return log_w, kl_nodes, tf.reshape(z, tf.concat([tf.shape(kl_nodes)[:2], [n, d]], axis=0))

    return chunk_terms


def importance_terms(model, x, num_samples=DEFAULT_NUM_SAMPLES, chunk_size=DEFAULT_CHUNK_SIZE,
                     seed=0, noise_fn=None, xla_parts=False):
    """Per-example IWAE estimate and the sample averages of the ELBO's terms.

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
    gates = model.gates.map()
    if x.shape.rank != 2:  # (B, *input_shape): the likelihood reads the D values flat
        x = tf.reshape(x, (batch, -1))
    chunk_terms = _chunk_fn(model, x, bottom_up, gates, xla_parts)

    def body(c, lse, sum_w, sum_kl, sum_z, sum_z2):
        log_w, kl_nodes, z = chunk_terms(noise_fn(c, batch, chunk))
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
                              chunk_size=DEFAULT_CHUNK_SIZE, seed=0, noise_fn=None):
    """Per-example importance-sampled log p(x | c) in nats, (B,); see ``importance_terms``."""
    return importance_terms(model, x, num_samples, chunk_size, seed, noise_fn)["log_likelihood"]


# --------------------------------------------------------------------------------- whole splits
def test_dataset(dataset, split="test", data_dir=None, *, batch_size, limit=None, seed=0):
    """(info, batches) of the evaluation data: the split's fixed binarization (binary data) or, for
    8-bit data, x = (pixel + u) / 256 with u ~ U(0, 1) drawn from ``seed`` (docs/evaluation.md).
    ``dataset``: a registered name or your own data (``tfgvae.data.sources``)."""
    source = sources.resolve(dataset, data_dir, where="evaluation")
    return source.info, source.evaluation_batches(split, batch_size, limit=limit, seed=seed)


def _per_example(model, x, fn, seed, batch_size, where):
    """numpy (n,) of fn(x batch, seed + batch index) over examples x: an array (n, D) or
    (n, *input_shape) or a tf.data.Dataset, checked as the SavedModel signatures check x."""
    source = sources.resolve(x, likelihood=model.config.likelihood, where=where,
                             example_shape=model.config.example_shape)
    batches = source.batches("test", batch_size or max(1, source.size("test") or DEFAULT_BATCH_SIZE))
    fn = tf.function(fn)
    return np.concatenate([fn(xb, tf.constant(seed + b, tf.int32)).numpy() for b, xb in enumerate(batches)])


def examples_log_likelihood(model, x, num_samples=DEFAULT_NUM_SAMPLES, seed=0, batch_size=None):
    """Importance-sampled log p(x | c_MAP) per example (numpy (n,)), for one batch (``batch_size``
    None) exactly what the SavedModel's ``log_likelihood(x, num_samples, seed)`` gives."""
    k = tf.constant(num_samples, tf.int32)
    return _per_example(model, x, lambda xb, s: importance_log_likelihood(model, xb, k, SIGNATURE_CHUNK, s),
                        seed, batch_size, "log_likelihood")


def examples_elbo(model, x, seed=0, batch_size=None):
    """Single-sample ELBO per example (numpy (n,)), as the SavedModel's ``elbo(x, seed)``."""
    return _per_example(model, x, lambda xb, s: importance_terms(model, xb, 1, 1, seed=s)["elbo"],
                        seed, batch_size, "elbo")


def model_batch_fn(model, num_samples, chunk_size, seed=0, jit_compile=DEFAULT_JIT_COMPILE):
    """fn(x (B, D), batch_index) -> dict of numpy per-example terms, compiled once per batch shape.

    Without ``jit_compile`` the element-wise parts are still compiled with XLA (``_chunk_fn``)."""
    @tf.function(jit_compile=jit_compile)
    def terms(x, batch_index):
        key = tf.stack([tf.constant(seed, tf.int32), batch_index])
        return importance_terms(model, x, num_samples, chunk_size, seed=key,
                                xla_parts=not jit_compile)

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


def evaluate_model(model, dataset, split="test", data_dir=None, *, num_samples=DEFAULT_NUM_SAMPLES,
                   chunk_size=DEFAULT_CHUNK_SIZE, batch_size=DEFAULT_BATCH_SIZE, limit=None, seed=0,
                   jit_compile=DEFAULT_JIT_COMPILE, progress=True):
    """(summary dict, per-example dict) of ``model`` on a split (see ``summarize``) of ``dataset``:
    a registered name or your own data (``tfgvae.data.sources``; an array or Dataset is the split)."""
    source = sources.resolve(dataset, data_dir, likelihood=model.config.likelihood, where="evaluate_model",
                             example_shape=model.config.example_shape)
    info, ds = source.info, source.evaluation_batches(split, batch_size, limit=limit, seed=seed)
    if info.input_dim != model.config.input_dim:
        raise ValueError(f"the model takes {model.config.input_dim} inputs but {info.name} has "
                         f"{info.input_dim}")
    total = source.size(split, limit)
    start = time.perf_counter()
    per_example = run_batches(model_batch_fn(model, num_samples, chunk_size, seed, jit_compile),
                              ds, batch_size, total, progress)
    summary = summarize(per_example, info, split, num_samples)
    summary.update(structure=model.config.structure, chunk_size=int(chunk_size),
                   batch_size=int(batch_size), seed=int(seed), seconds=time.perf_counter() - start)
    return summary, per_example


def evaluate_workdir(workdir, data_dir=None, split="test", write_artifacts=True, *, data=None,
                     encoder=None, decoder=None, **kwargs):
    """Evaluate a training run's latest checkpoint (``runs.load_run``) on ``split`` of its dataset
    (or ``data``) and write its structure artifacts into ``workdir``. kwargs: ``evaluate_model``'s."""
    model, config, _ = runs.load_run(workdir, encoder, decoder)
    if data is None and not sources.is_dataset_name(config.dataset):
        raise ValueError(f"{workdir} was trained on data in memory ({config.dataset!r}): pass them as data=")
    summary, per_example = evaluate_model(model, config.dataset if data is None else data, split,
                                          data_dir or config.data_dir, **kwargs)
    summary.update(artifacts.structure_summary(model), source=os.path.abspath(workdir),
                   checkpoint_step=runs.checkpoint_step(workdir), epochs=config.epochs)
    if write_artifacts:
        summary["artifacts"] = artifacts.write_structure_artifacts(model, workdir)
    return summary, per_example


def saved_model_batch_fn(loaded, num_samples, seed=0, input_shape=None):
    """fn(x, batch_index) calling a SavedModel's ``log_likelihood(x, k, seed)`` and ``elbo(x, seed)``
    (x reshaped to its signatures' ``input_shape`` if given)."""
    k = tf.constant(num_samples, tf.int32)

    def fn(x, b):
        if input_shape is not None:
            x = tf.reshape(x, (-1, *input_shape))
        key = tf.constant((seed * 1_000_003 + b) % (2 ** 31 - 1), tf.int32)
        out = {"log_likelihood": loaded.log_likelihood(x, k, key)["log_likelihood"]}
        terms = loaded.elbo(x, key)
        out.update({name: terms[name] for name in ("elbo", "kl", "kl_per_node") if name in terms})
        if hasattr(loaded, "encode"):  # mean pass: E_q[z] with parents at their means
            out["posterior_mean"] = loaded.encode(x)["mean"]
        return {name: np.asarray(v) for name, v in out.items()}

    return fn


def evaluate_saved_model(export_dir, dataset, split="test", data_dir=None, *,
                         num_samples=DEFAULT_NUM_SAMPLES, batch_size=DEFAULT_BATCH_SIZE, limit=None,
                         seed=0, progress=True):
    """Evaluate a SavedModel through its ``log_likelihood`` and ``elbo`` signatures (issue 6)."""
    try:
        loaded = tf.saved_model.load(export_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise ValueError(f"{export_dir} is not a readable SavedModel: {str(e).splitlines()[0]}") from None
    missing = [name for name in ("log_likelihood", "elbo") if not hasattr(loaded, name)]
    if missing:
        raise ValueError(f"{export_dir} has no {' or '.join(missing)} signature: re-export it with "
                         "this version of tfgvae, or evaluate the run with --workdir")
    about = loaded.info() if hasattr(loaded, "info") else {}
    shape = tuple(int(d) for d in about["input_shape"].numpy()) if "input_shape" in about else None
    source = sources.resolve(dataset, data_dir, where="evaluate_saved_model", example_shape=shape)
    info, ds = source.info, source.evaluation_batches(split, batch_size, limit=limit, seed=seed)
    if about and int(about["input_dim"]) != info.input_dim:
        raise ValueError(f"{export_dir} takes images of {int(about['input_dim'])} values but "
                         f"{info.name} has {info.input_dim}: give the --dataset it was trained on")
    start = time.perf_counter()
    per_example = run_batches(saved_model_batch_fn(loaded, num_samples, seed, shape), ds, batch_size,
                              source.size(split, limit), progress)
    summary = summarize(per_example, info, split, num_samples, sampled_means=False)
    if "posterior_mean" in per_example:
        summary["active_units_method"] = "SavedModel encode: posterior means along the mean pass"
    if hasattr(loaded, "structure"):
        structure = loaded.structure()
        summary["gate_means"] = np.asarray(structure["gate_means"]).round(6).tolist()
        summary["map_adjacency"] = np.asarray(structure["adjacency"]).astype(int).tolist()
    if hasattr(loaded, "info"):
        summary["structure"] = loaded.info()["structure"].numpy().decode()
    summary.update(batch_size=int(batch_size), seed=int(seed), seconds=time.perf_counter() - start,
                   source=os.path.abspath(export_dir))
    return summary, per_example
