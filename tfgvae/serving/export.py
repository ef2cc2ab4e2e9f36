"""Servable SavedModels: tensor-only signatures and atomic export.

Every endpoint is a ``tf.function`` with an explicit input signature that takes and
returns tensors (dicts of tensors), so the SavedModel serves from any TensorFlow program
without tfgvae. Random endpoints take an int32 ``seed`` and draw with stateless ops, so a
seed fixes their output. The structure is always the MAP one, c = 1[mu > 0.5] (Sec. 3.3).
See docs/serving.md for each signature.
"""
import math
import os
import shutil
import tempfile

import tensorflow as tf
import keras

from tfgvae.core import importance, likelihoods
from tfgvae.core.model import seed_keys
from tfgvae.core.structure import STRUCTURES
from tfgvae.data.sources import finite_message, image_shape_for, range_message, shape_text

# What each signature takes, (name, dtype, shape), and returns, (name, dtype, shape, meaning): the
# docs' "SavedModel signatures" page renders this table (tfgvae.reference) and tests/test_export.py
# checks it against an export. Shapes: batch and num any size, D one example's shape (the input
# dim for App. B's MLPs), N nodes of N' dims, R the rank of D.
_X, _SEED, _Z = ("x", "float32", "(batch, D)"), ("seed", "int32", "()"), ("z", "float32", "(batch, N, N')")
_MEANS = ("means", "float32", "(batch, D)", "E[x | z]: Bernoulli probabilities or the Gaussian's mean")
SIGNATURE_TABLE = {
    "serve": ("The default endpoint, also `serving_default`: reconstruction means, `model(x)`, with z "
              "drawn from the model's exported seed generator.", [_X], [_MEANS]),
    "sample": ("Ancestral samples from p(x, z | c_MAP).", [("num", "int32", "()"), _SEED], [
        ("means", "float32", "(num, D)", "E[x | z]"), ("samples", "float32", "(num, D)", "one x ~ p(x | z)"),
        ("z", "float32", "(num, N, N')", "the latent sample from p(z | c)")]),
    "encode": ("Each node's posterior q(z_n | x, c z_pa(n)) (Eq. 18's fusion; the root's is its bottom-up "
               "Gaussian) along the mean pass: every parent at its own posterior mean. Deterministic.", [_X], [
        ("mean", "float32", "(batch, N, N')", "posterior means"),
        ("logvar", "float32", "(batch, N, N')", "posterior log-variances")]),
    "decode": ("E[x | z].", [_Z], [_MEANS]),
    "reconstruct": ("E[x | z] at one z ~ q(z | x, c_MAP).", [_X, _SEED], [
        _MEANS, ("z", "float32", "(batch, N, N')", "the posterior sample")]),
    "elbo": ("Single-sample ELBO per example (Eq. 5) and its terms, in nats: KL as log q - log p at one "
             "z ~ q(z | x, c).", [_X, _SEED], [
        ("elbo", "float32", "(batch,)", "reconstruction - kl"),
        ("reconstruction", "float32", "(batch,)", "log p(x | z)"), ("kl", "float32", "(batch,)", "log q - log p"),
        ("kl_per_node", "float32", "(batch, N)", "the KL of each node")]),
    "log_likelihood": ("Importance-sampled log p(x | c_MAP) per example, log (1/k) sum_i p(x, z_i | c) / "
                       "q(z_i | x, c) with z_i ~ q, in nats (the paper uses k = 5,000).",
                       [_X, ("k", "int32", "()"), _SEED],
                       [("log_likelihood", "float32", "(batch,)", "the estimate, in nats")]),
    "structure": ("The learned gates and the MAP structure (Sec. 3.3).", [], [
        ("gate_means", "float32", "(N, N)", "mu[j, i], the Bernoulli mean of the gate parent j -> child i "
         "(0-based, j > i)"),
        ("adjacency", "float32", "(N, N)", "the MAP structure c[j, i] = 1[mu[j, i] > 0.5]")]),
    "info": ("What the model is.", [], [
        ("image_shape", "int32", "(3,)", "(H, W, C) for tiling samples into images"),
        ("input_shape", "int32", "(R,)", "D, the example shape of x"),
        ("input_dim", "int32", "()", "values per example"), ("num_nodes", "int32", "()", "N"),
        ("node_dim", "int32", "()", "N'"), ("likelihood", "string", "()", " or ".join(likelihoods.LIKELIHOODS)),
        ("structure", "string", "()", ", ".join(STRUCTURES))]),
}
SIGNATURES = tuple(SIGNATURE_TABLE)


def _fed_shape(value):
    """tf.shape of a signature input as fed: Grappler folds it into the declared shape unless
    hidden behind an op of unknown output shape."""
    if value.shape.is_fully_defined():  # scalars: a serialization round trip hides the shape
        return tf.shape(tf.io.parse_tensor(tf.io.serialize_tensor(value), value.dtype))
    return tf.shape(tf.raw_ops.PlaceholderWithDefault(input=value, shape=None))


def _checked(value, shape, endpoint, name, checks=()):
    """``value`` once its runtime shape matches ``shape`` (None: any size) and then each of
    ``checks(value) -> assert op`` passed; every failure names the signature and the argument.

    Signatures (``loaded.signatures[...]``, TF Serving) do not check shapes when called, so
    this runs first in the graph, before anything reads ``value``.
    """
    actual = _fed_shape(value)
    rank_ok = tf.equal(tf.size(actual), len(shape))
    fixed = [(k, d) for k, d in enumerate(shape) if d is not None]
    ok = rank_ok if not fixed else tf.cond(
        rank_ok, lambda: tf.reduce_all(tf.stack([tf.equal(actual[k], d) for k, d in fixed])),
        lambda: tf.constant(False))
    shape_check = tf.debugging.Assert(
        ok, [f"{endpoint}: {name} must be {shape_text(shape)}, got shape", actual], summarize=8)
    with tf.control_dependencies([shape_check]):
        value = tf.identity(value)
    with tf.control_dependencies([check(value) for check in checks]):
        return tf.identity(value)


def _check_x(x, endpoint, example_shape):
    """x, once checked of shape (batch, *example_shape), finite and in [0, 1]."""
    message = range_message(endpoint)
    return _checked(x, (None, *example_shape), endpoint, "x", [
        lambda v: tf.debugging.assert_all_finite(v, finite_message(endpoint)),
        lambda v: tf.debugging.assert_greater_equal(v, 0.0, message),
        lambda v: tf.debugging.assert_less_equal(v, 1.0, message)])


def _check_count(value, name, endpoint):
    """A scalar ``value``, once checked >= 1."""
    return _checked(value, (), endpoint, name, [
        lambda v: tf.debugging.assert_greater_equal(v, 1, f"{endpoint}: {name} must be >= 1")])


def _check_seed(seed, endpoint):
    return _checked(seed, (), endpoint, "seed")


def serving_functions(model, image_shape=None):
    """{name: tf.function with an input signature} for every endpoint in SIGNATURES."""
    cfg = model.config
    lik, shape = cfg.likelihood, cfg.example_shape
    image_shape = tuple(image_shape or image_shape_for(cfg.input_dim, cfg.input_shape))
    if math.prod(image_shape) != cfg.input_dim:
        raise ValueError(f"image_shape {image_shape} does not hold input_dim={cfg.input_dim} values")
    x_spec = tf.TensorSpec((None, *shape), tf.float32, name="x")
    z_spec = tf.TensorSpec((None, cfg.num_nodes, cfg.node_dim), tf.float32, name="z")
    seed_spec = tf.TensorSpec((), tf.int32, name="seed")

    @tf.function(input_signature=[x_spec])
    def serve(x):
        """Reconstruction means, ``model(x)``: z drawn from the model's exported seed generator."""
        return {"means": model(_check_x(x, "serve", shape), training=False)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32, name="num"), seed_spec])
    def sample(num, seed):
        """Ancestral samples from p(x, z | c_MAP): likelihood means, one x ~ p(x | z), and z."""
        num = _check_count(num, "num", "sample")
        seed = _check_seed(seed, "sample")
        means, z = model.sample(num, seed, return_latents=True)  # draws with the first key
        params = model.decode(z, training=False)
        draws = likelihoods.distribution(lik, params).sample(seed=seed_keys(seed, 2)[1])
        return {"means": means, "samples": model.as_examples(draws), "z": z}

    @tf.function(input_signature=[x_spec])
    def encode(x):
        """Posterior mean and log-variance of each node along the mean pass (parents at their means)."""
        mean, logvar = model.posterior_parameters(_check_x(x, "encode", shape))
        return {"mean": mean, "logvar": logvar}

    @tf.function(input_signature=[z_spec])
    def decode(z):
        """E[x | z]."""
        z = _checked(z, (None, cfg.num_nodes, cfg.node_dim), "decode", "z", [
            lambda v: tf.debugging.assert_all_finite(v, "decode: z must be finite")])
        return {"means": model.as_examples(likelihoods.mean(lik, model.decode(z, training=False)))}

    @tf.function(input_signature=[x_spec, seed_spec])
    def reconstruct(x, seed):
        """E[x | z] at one z ~ q(z | x, c_MAP)."""
        x = _check_x(x, "reconstruct", shape)
        bottom_up = model.bottom_up_gaussians(x, training=False)
        seed = _check_seed(seed, "reconstruct")
        noise = tf.random.stateless_normal(tf.shape(bottom_up[0]), seed=seed_keys(seed, 1)[0])
        z, _, _ = model.descend(model.gates.map(), noise, bottom_up, training=False)
        means = likelihoods.mean(lik, model.decode(z, training=False))
        return {"means": model.as_examples(means), "z": z}

    @tf.function(input_signature=[x_spec, seed_spec])
    def elbo(x, seed):
        """Single-sample ELBO per example (Eq. 5) and its terms, in nats."""
        x = _check_x(x, "elbo", shape)
        seed = _check_seed(seed, "elbo")
        terms = importance.importance_terms(model, x, 1, 1, seed=seed)
        return {"elbo": terms["elbo"], "reconstruction": terms["elbo"] + terms["kl"],
                "kl": terms["kl"], "kl_per_node": terms["kl_per_node"]}

    @tf.function(input_signature=[x_spec, tf.TensorSpec((), tf.int32, name="k"), seed_spec])
    def log_likelihood(x, k, seed):
        """Importance-sampled log p(x | c_MAP) per example with k samples, in nats."""
        x = _check_x(x, "log_likelihood", shape)
        k = _check_count(k, "k", "log_likelihood")
        seed = _check_seed(seed, "log_likelihood")
        return {"log_likelihood": importance.importance_log_likelihood(
            model, x, k, importance.SIGNATURE_CHUNK, seed=seed)}

    @tf.function(input_signature=[])
    def structure():
        """Gate means mu[j, i] and the MAP adjacency c[j, i] (parent j -> child i, 0-based)."""
        return {"gate_means": model.gates.means(), "adjacency": model.gates.map()[0]}

    @tf.function(input_signature=[])
    def info():
        """What the model is: image shape (H, W, C) for tiling, x's example shape, sizes, likelihood
        and structure."""
        return {"image_shape": tf.constant(image_shape, tf.int32),
                "input_shape": tf.constant(shape, tf.int32),
                "input_dim": tf.constant(cfg.input_dim), "num_nodes": tf.constant(cfg.num_nodes),
                "node_dim": tf.constant(cfg.node_dim), "likelihood": tf.constant(lik),
                "structure": tf.constant(cfg.structure)}

    return {"serve": serve, "sample": sample, "encode": encode, "decode": decode, "reconstruct": reconstruct,
            "elbo": elbo, "log_likelihood": log_likelihood, "structure": structure, "info": info}


def build_archive(model, image_shape=None):
    """A ``keras.export.ExportArchive`` of ``model`` with all SIGNATURES; ``serve``, the first,
    is also ``serving_default``."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn in serving_functions(model, image_shape).items():
        if name == "serve":  # wrapped by Keras, as its own endpoint, so that it saves under a strategy
            archive.add_endpoint(name, fn.python_function, input_signature=fn.input_signature)
        else:
            archive.add_endpoint(name, fn)
    return archive


def export_saved_model(model, export_dir, image_shape=None):
    """Export ``model`` with every signature in SIGNATURES to ``export_dir``; returns its path.

    The SavedModel is written to a temporary sibling directory and renamed into place;
    an existing export at ``export_dir`` is replaced only once the new one is complete.
    ``image_shape`` defaults to ``image_shape_for(input_dim)``.
    """
    archive = build_archive(model, image_shape)
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        target = os.path.join(staging, "model")
        archive.write_out(target, verbose=False)
        if os.path.exists(export_dir):
            old = os.path.join(staging, "old")
            os.replace(export_dir, old)
        os.replace(target, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir

