"""Table 1 on whole splits: importance-sampled log-likelihood, KL, ELBO and active units.

The per-example estimator is ``tfgvae.core.importance`` (re-exported here); this module runs it
over a registered dataset or your own data (``tfgvae.data.sources``), a training run's
checkpoint or a SavedModel, and ``tfgvae.experiments.reports`` summarizes the per-example values.
"""
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from tfgvae.core.importance import (  # noqa: F401  (the estimator; re-exported)
    DEFAULT_BATCH_SIZE, DEFAULT_CHUNK_SIZE, DEFAULT_JIT_COMPILE, DEFAULT_NUM_SAMPLES, SIGNATURE_CHUNK,
    default_gate_draws, default_noise, examples_elbo, examples_log_likelihood, importance_log_likelihood,
    importance_terms, inference_decoder, model_batch_fn, run_batches)
from tfgvae.core.recalibration import recalibrate_batch_norm
from tfgvae.core.structure import GATE_READINGS  # noqa: F401  (the choices of evaluate_model's gates)
from tfgvae.data import sources
from tfgvae.training import artifacts, runs, train
from tfgvae.experiments.reports import (  # noqa: F401  (Table 1 from per-example values; re-exported)
    ACTIVE_UNIT_THRESHOLD, active_units, active_units_warning, data_note, format_table, mean_and_stderr,
    save_per_example, summarize)

# --------------------------------------------------------------------------------- whole splits
def test_dataset(dataset, split="test", data_dir=None, *, batch_size, limit=None, seed=0):
    """(info, batches) of the evaluation data: the split's fixed binarization (binary data) or, for
    8-bit data, x = (pixel + u) / 256 with u ~ U(0, 1) drawn from ``seed`` (docs/evaluation.md).
    ``dataset``: a registered name or your own data (``tfgvae.data.sources``)."""
    source = sources.resolve(dataset, data_dir, where="evaluation")
    return source.info, source.evaluation_batches(split, batch_size, limit=limit, seed=seed)


def evaluate_model(model, dataset, split="test", data_dir=None, *, num_samples=DEFAULT_NUM_SAMPLES,
                   chunk_size=DEFAULT_CHUNK_SIZE, batch_size=DEFAULT_BATCH_SIZE, limit=None, seed=0,
                   jit_compile=DEFAULT_JIT_COMPILE, progress=True, gates="map", temperature=None):
    """(summary dict, per-example dict) of ``model`` on a split (see ``summarize``) of ``dataset``:
    a registered name or your own data (``tfgvae.data.sources``; an array or Dataset is the split).

    ``gates``: "map" scores log p(x | c_MAP); "sampled" the gate mixture sum_c p(c) p(x | c) with
    c ~ Bernoulli(mu), "relaxed" with c from Eq. 9 at ``temperature`` (default the model's tau):
    ``tfgvae.core.importance.importance_terms``."""
    source = sources.resolve(dataset, data_dir, likelihood=model.config.likelihood, where="evaluate_model",
                             example_shape=model.config.example_shape)
    info, ds = source.info, source.evaluation_batches(split, batch_size, limit=limit, seed=seed)
    if info.input_dim != model.config.input_dim:
        raise ValueError(f"the model takes {model.config.input_dim} inputs but {info.name} has "
                         f"{info.input_dim}")
    total = source.size(split, limit)
    start = time.perf_counter()
    per_example = run_batches(model_batch_fn(model, num_samples, chunk_size, seed, jit_compile, gates, temperature),
                              ds, batch_size, total, progress)
    summary = summarize(per_example, info, split, num_samples)
    summary.update(gates=gates, temperature=float(model.temperature if temperature is None else temperature))
    summary.update(structure=model.config.structure, chunk_size=int(chunk_size),
                   batch_size=int(batch_size), seed=int(seed), seconds=time.perf_counter() - start)
    return summary, per_example


def recalibration_batches(config, data=None):
    """One epoch of a run's training stream (``tfgvae.training.train.datasets``: its batch size, seed
    and steps per epoch), for ``recalibrate_batch_norm``."""
    _, stream, _, steps = train.datasets(config, data)
    return stream(0).take(steps)


def evaluate_workdir(workdir, data_dir=None, split="test", write_artifacts=True, *, data=None,
                     encoder=None, decoder=None, recalibrate_bn=False, **kwargs):
    """Evaluate a training run's latest checkpoint (``runs.load_run``) on ``split`` of its dataset
    (or ``data``) and write its structure artifacts into ``workdir``. ``recalibrate_bn``: first
    recompute the batch-norm moments at the MAP structure over one epoch of the run's training data
    (``tfgvae.core.recalibration``). kwargs: ``evaluate_model``'s."""
    model, config, _ = runs.load_run(workdir, encoder, decoder)
    if data is None and not sources.is_dataset_name(config.dataset):
        raise ValueError(f"{workdir} was trained on data in memory ({config.dataset!r}): pass them as data=")
    if recalibrate_bn:
        recalibrate_batch_norm(model, recalibration_batches(dataclasses.replace(
            config, data_dir=data_dir or config.data_dir), data))
    summary, per_example = evaluate_model(model, config.dataset if data is None else data, split,
                                          data_dir or config.data_dir, **kwargs)
    summary.update(artifacts.structure_summary(model), source=os.path.abspath(workdir),
                   checkpoint_step=runs.checkpoint_step(workdir), epochs=config.schedule.epochs,
                   recalibrated_bn=bool(recalibrate_bn))
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
