"""SavedModel signatures: reload equals the in-memory model, formulas, bad input, atomic export."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

import reference
from tfgvae.core import distributions
from tfgvae.experiments import evaluation
from tfgvae.serving import export
from tfgvae.training import callbacks, train
from tfgvae.training.config import TrainConfig
from tfgvae.training.runs import load_run
from tfgvae.data import DATASETS
from tfgvae.core.model import GraphVAE, ModelConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D, N, ND = 16, 3, 2
# Gate logits: c_{3,1} and c_{2,1} on (mu > 0.5), c_{3,2} off, so the MAP structure is non-trivial.
LOGITS = np.array([[0, 0, 0], [1.5, 0, 0], [0.7, -2.0, 0]], np.float32)


def _randomize(model, seed=0):
    """Non-trivial batch-norm statistics and gate logits, so that every path is exercised."""
    rng = np.random.default_rng(seed)
    for v in model.non_trainable_variables:
        if "moving" in v.path:
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
                     if "variance" in v.path else rng.normal(size=v.shape).astype(np.float32))
    if model.gates.learned:
        n = model.config.num_nodes
        model.gates.logits.assign(LOGITS if n == N else rng.normal(size=(n, n)).astype(np.float32))
    return model


def _model(seed=1, **kw):
    keras.utils.set_random_seed(seed)
    config = dict(input_dim=D, num_nodes=N, node_dim=ND, structure="graph")
    config.update(kw)
    return _randomize(GraphVAE(ModelConfig(**config), seed=seed), seed)


def _x(batch=5, seed=3):
    return tf.constant(np.random.default_rng(seed).random((batch, D)).astype(np.float32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _model()
    path = export.export_saved_model(model, str(tmp_path_factory.mktemp("sm") / "model"))
    return model, tf.saved_model.load(path), path


def _assert_same(a, b):
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=key)


def test_reloaded_signatures_equal_in_memory_ones_for_fixed_seeds(exported):
    model, loaded, _ = exported
    fns = export.serving_functions(model)
    x, seed = _x(), tf.constant(7)
    calls = {"sample": (tf.constant(6), seed), "encode": (x,), "reconstruct": (x, seed),
             "elbo": (x, seed), "log_likelihood": (x, tf.constant(130), seed), "structure": (),
             "info": (), "decode": (tf.constant(np.random.default_rng(4).normal(size=(4, N, ND)),
                                                tf.float32),)}
    calls["serve"] = (x,)
    assert set(calls) == set(export.SIGNATURES)
    assert set(export.SIGNATURES) <= set(loaded.signatures)
    for name, args in calls.items():
        _assert_same(fns[name](*args), getattr(loaded, name)(*args))
        _assert_same(fns[name](*args), loaded.signatures[name](**{
            spec.name: a for spec, a in zip(fns[name].input_signature, args)}))
    # ``serve`` draws from the model's seed generator, whose state is exported too.
    np.testing.assert_array_equal(model(x).numpy(), loaded.serve(x)["means"].numpy())
    # The seed matters: another one gives other samples.
    assert not np.array_equal(loaded.sample(6, 8)["means"], loaded.sample(6, 7)["means"])


def test_sample_is_an_ancestral_pass_and_decode_reads_its_z(exported):
    model, loaded, _ = exported
    out = loaded.sample(4000, 0)
    assert out["means"].shape == (4000, D) and out["z"].shape == (4000, N, ND)
    samples, means = out["samples"].numpy(), out["means"].numpy()
    assert set(np.unique(samples)) <= {0.0, 1.0}
    # x ~ Bernoulli(means): the sample average matches the average mean (binomial std < 0.008).
    np.testing.assert_allclose(samples.mean(0), means.mean(0), atol=0.04)
    np.testing.assert_allclose(loaded.decode(out["z"])["means"].numpy(), means, rtol=1e-6, atol=1e-6)
    # The root is drawn from N(0, I).
    root = out["z"].numpy()[:, -1]
    np.testing.assert_allclose(root.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(root.std(0), 1.0, atol=0.1)


def test_encode_is_the_posterior_along_the_mean_pass(exported):
    """Against the float64 reference: with zero noise z_n = mu_n; a unit noise at node n alone
    moves only z_n, by sigma_n, so logvar_n = 2 log(z_n(e_n) - z_n(0))."""
    model, loaded, _ = exported
    x = _x()
    out = loaded.encode(x)
    mu_bu, lv_bu = (np.asarray(a, np.float64) for a in model.bottom_up_gaussians(x))
    gates = model.gates.map().numpy()
    zero = np.zeros((5, N, ND))
    mean, _, _ = reference.descend(model, gates, zero, mu_bu, lv_bu)
    np.testing.assert_allclose(out["mean"].numpy(), mean, rtol=1e-4, atol=1e-5)
    for n in range(N):
        unit = zero.copy()
        unit[:, n] = 1.0
        moved, _, _ = reference.descend(model, gates, unit, mu_bu, lv_bu)
        np.testing.assert_allclose(moved[:, n + 1:], mean[:, n + 1:])  # the parents do not move
        np.testing.assert_allclose(out["logvar"].numpy()[:, n], 2 * np.log(moved[:, n] - mean[:, n]),
                                   rtol=1e-4, atol=1e-4)


def test_posterior_given_parents_reproduces_descend_for_any_gates_and_noise():
    model = _model(seed=2)
    rng = np.random.default_rng(5)
    x = _x(6)
    gates = tf.constant(rng.random((6, N, N)) * np.tril(np.ones((N, N)), -1), tf.float32)
    noise = tf.constant(rng.normal(size=(6, N, ND)), tf.float32)
    bottom_up = model.bottom_up_gaussians(x)
    z, _, _ = model.descend(gates, noise, bottom_up)
    mu, lv = distributions.posterior_given_parents(model, bottom_up, z, gates)
    np.testing.assert_allclose((z - mu).numpy() * np.exp(-0.5 * lv.numpy()), noise.numpy(),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(mu.numpy()[:, -1], bottom_up[0].numpy()[:, -1])


def test_elbo_matches_a_numpy_computation_under_the_same_noise(exported):
    model, loaded, _ = exported
    x, seed = _x(), 3
    out = {k: v.numpy() for k, v in loaded.elbo(x, seed).items()}
    noise = evaluation.default_noise(model, seed)(0, 5, 1).numpy()[:, 0]
    mu_bu, lv_bu = (np.asarray(a, np.float64) for a in model.bottom_up_gaussians(x))
    z, log_q, log_p = reference.descend(model, model.gates.map().numpy(), noise, mu_bu, lv_bu)
    logits = model.decode(tf.constant(z, tf.float32))[..., 0].numpy().astype(np.float64)
    xs = x.numpy().astype(np.float64)
    recon = np.sum(xs * -np.logaddexp(0, -logits) + (1 - xs) * -np.logaddexp(0, logits), axis=1)
    kl = np.sum(log_q - log_p, axis=1)
    np.testing.assert_allclose(out["reconstruction"], recon, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out["kl_per_node"], log_q - log_p, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out["elbo"], recon - kl, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("k", [1, 7, 130])
def test_log_likelihood_is_the_importance_sampled_estimate(exported, k):
    """With k a tensor, the signature draws full chunks of SIGNATURE_CHUNK samples keyed by
    (seed, chunk) and keeps the first k: the Python-k estimator on that noise."""
    model, loaded, _ = exported
    x, chunk = _x(), evaluation.SIGNATURE_CHUNK
    got = loaded.log_likelihood(x, k, 11)["log_likelihood"].numpy()
    full = evaluation.default_noise(model, 11)
    want = evaluation.importance_log_likelihood(model, x, k, chunk, noise_fn=lambda c, b, size: (
        full(c, b, chunk)[:, :size]))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-4)


def test_structure_and_info(exported):
    model, loaded, _ = exported
    out = loaded.structure()
    mask = np.tril(np.ones((N, N)), -1)
    np.testing.assert_allclose(out["gate_means"].numpy(), mask / (1 + np.exp(-LOGITS)), rtol=1e-6)
    np.testing.assert_array_equal(out["adjacency"].numpy(), (LOGITS > 0) * mask)
    info = loaded.info()
    assert info["image_shape"].numpy().tolist() == [4, 4, 1]
    assert (int(info["input_dim"]), int(info["num_nodes"]), int(info["node_dim"])) == (D, N, ND)
    assert info["likelihood"].numpy() == b"bernoulli" and info["structure"].numpy() == b"graph"


def test_image_shape_defaults():
    assert export.image_shape_for(784) == (28, 28, 1)
    assert export.image_shape_for(3072) == (32, 32, 3)
    assert export.image_shape_for(12) == (1, 12, 1)
    with pytest.raises(ValueError, match="image_shape"):
        export.serving_functions(_model(), image_shape=(3, 3, 1))


@pytest.mark.parametrize("call,message", [
    (lambda m: m.encode(tf.zeros((2, D + 1))), "shape=(None, 16)"),
    (lambda m: m.encode(tf.zeros((2, D), tf.float64)), "dtype=tf.float32"),
    (lambda m: m.elbo(tf.fill((2, D), 2.0), 0), "elbo: x must lie in [0, 1]"),
    (lambda m: m.reconstruct(tf.fill((2, D), np.nan), 0), "reconstruct: x must be finite"),
    (lambda m: m.log_likelihood(tf.zeros((2, D)), 0, 0), "log_likelihood: k must be >= 1"),
    (lambda m: m.sample(0, 0), "sample: num must be >= 1"),
    (lambda m: m.sample(-3, 0), "sample: num must be >= 1"),
    (lambda m: m.decode(tf.zeros((2, N, ND + 1))), f"shape=(None, {N}, {ND})"),
    (lambda m: m.decode(tf.fill((2, N, ND), np.inf)), "decode: z must be finite"),
], ids=["shape", "dtype", "range", "nan", "k", "num0", "num-3", "z-shape", "z-inf"])
def test_bad_input_fails_with_a_clear_message(exported, call, message):
    with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)) as info:
        call(exported[1])
    assert message in str(info.value).splitlines()[0] or message in str(info.value)[:600]


def test_signatures_have_named_inputs_and_outputs(exported):
    loaded = exported[1]
    for name, fn in loaded.signatures.items():
        inputs, outputs = list(fn.structured_input_signature[1]), list(fn.structured_outputs)
        assert not [k for k in inputs + outputs if k.startswith(("args_", "output_"))], name
    assert list(loaded.signatures["serving_default"].structured_input_signature[1]) == ["x"]
    assert list(loaded.signatures["serving_default"].structured_outputs) == ["means"]


def _table_shape(text):
    """A SIGNATURE_TABLE shape such as "(batch, N, N')" for this file's model (None: any size)."""
    sizes = {"batch": None, "num": None, "D": D, "N": N, "N'": ND, "R": 1, "3": 3}
    return [sizes[dim.strip()] for dim in text.strip("()").split(",") if dim.strip()]


def test_signature_table_is_what_the_export_holds(exported):
    """The docs' signatures page renders SIGNATURE_TABLE: its names, dtypes and shapes are the export's."""
    loaded = exported[1]
    assert set(loaded.signatures) == set(export.SIGNATURE_TABLE) | {"serving_default"}
    for name, (what, inputs, outputs) in export.SIGNATURE_TABLE.items():
        fn = loaded.signatures[name]
        exported_inputs = {k: (spec.dtype.name, spec.shape.as_list())
                           for k, spec in fn.structured_input_signature[1].items()}
        exported_outputs = {k: (spec.dtype.name, spec.shape.as_list()) for k, spec in fn.structured_outputs.items()}
        assert exported_inputs == {n: (dtype, _table_shape(shape)) for n, dtype, shape in inputs}, name
        assert exported_outputs == {n: (dtype, _table_shape(shape)) for n, dtype, shape, _ in outputs}, name
        assert what and all(meaning for *_, meaning in outputs), name


def _zeros(*shape, dtype=tf.float32):
    return tf.zeros(shape, dtype)


@pytest.mark.parametrize("name,kwargs,message", [
    ("decode", dict(z=_zeros(2, N + 1, ND)), f"decode: z must be shape (batch, {N}, {ND}), got shape] [2 4 2]"),
    ("decode", dict(z=_zeros(2, N - 1, ND)), f"decode: z must be shape (batch, {N}, {ND})"),
    ("decode", dict(z=_zeros(2, N, ND, 1)), f"decode: z must be shape (batch, {N}, {ND})"),
    ("decode", dict(z=_zeros(2, N * ND)), f"decode: z must be shape (batch, {N}, {ND})"),
    ("encode", dict(x=_zeros(2, D, 1)), f"encode: x must be shape (batch, {D})"),
    ("encode", dict(x=_zeros(D)), f"encode: x must be shape (batch, {D})"),
    ("reconstruct", dict(x=_zeros(2, D), seed=tf.constant([1, 2])), "reconstruct: seed must be a scalar"),
    ("elbo", dict(x=tf.fill((2, D), np.nan), seed=tf.constant(0)), "elbo: x must be finite"),
    ("log_likelihood", dict(x=_zeros(2, D), k=tf.constant(0), seed=tf.constant(0)),
     "log_likelihood: k must be >= 1"),
    ("log_likelihood", dict(x=_zeros(2, D), k=tf.constant([5]), seed=tf.constant(0)),
     "log_likelihood: k must be a scalar"),
    ("sample", dict(num=tf.constant([3]), seed=tf.constant(1)), "sample: num must be a scalar"),
    ("sample", dict(num=tf.constant(3), seed=tf.constant([1, 2])), "sample: seed must be a scalar"),
    ("serve", dict(x=tf.fill((2, D), 255.0)), "serve: x must lie in [0, 1]"),
    ("serving_default", dict(x=tf.fill((2, D), 255.0)), "serve: x must lie in [0, 1]"),
    ("serving_default", dict(x=_zeros(2, D + 1)), f"serve: x must be shape (batch, {D})"),
])
def test_signatures_refuse_bad_input_naming_signature_and_argument(exported, name, kwargs, message):
    """As a server calls them: ``signatures[name](**inputs)`` checks shapes in the graph."""
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        exported[1].signatures[name](**kwargs)
    assert message in str(info.value)


def test_signatures_refuse_a_wrong_dtype(exported):
    """TensorFlow itself refuses a wrong dtype before the graph runs (its message names the input
    by position only)."""
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected to be a float tensor"):
        exported[1].signatures["encode"](x=_zeros(2, D, dtype=tf.int32))


def _interrupted_save(monkeypatch):
    """Make tf.saved_model.save write a full SavedModel, truncate it, then fail, as a kill would."""
    real = tf.saved_model.save

    def save(obj, path, *args, **kwargs):
        real(obj, path, *args, **kwargs)
        with open(os.path.join(path, "saved_model.pb"), "r+b") as f:
            f.truncate(10)
        raise KeyboardInterrupt("interrupted mid-export")

    monkeypatch.setattr(tf.saved_model, "save", save)


def test_interrupted_export_leaves_nothing_at_the_target(tmp_path, monkeypatch):
    _interrupted_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        export.export_saved_model(_model(structure="vae", num_nodes=1), str(tmp_path / "sm"))
    assert os.listdir(tmp_path) == []  # no target, and the staging folder is gone


def test_interrupted_export_keeps_the_previous_complete_one(exported, tmp_path, monkeypatch):
    target = tmp_path / "sm"
    shutil.copytree(exported[2], target)
    before = tf.saved_model.load(str(target))
    _interrupted_save(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        export.export_saved_model(_model(structure="vae", num_nodes=1), str(target))
    assert os.listdir(tmp_path) == ["sm"]
    after = tf.saved_model.load(str(target))
    _assert_same(after.sample(3, 0), before.sample(3, 0))
    _assert_same(after.info(), before.info())


def _write_run(workdir):
    """A run folder as bin/train.py leaves it: config.json and a checkpoint of perturbed weights."""
    config = TrainConfig.from_dict(dict(dataset="mnist", num_nodes=2, latent_dim=4, seed=4))
    os.makedirs(workdir)
    callbacks.write_json_atomic(os.path.join(workdir, "config.json"), config.to_dict())
    model = _randomize(train.build_model(config, DATASETS["mnist"]), seed=4)
    for v in model.trainable_variables:  # differ from a fresh initialization
        v.assign(v + 0.1)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model),
                                         os.path.join(workdir, "checkpoints"), 2)
    manager.save(checkpoint_number=1)
    return model


def _run_export(args, cwd):
    return subprocess.run([sys.executable, os.path.join(ROOT, "bin", "export.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_export_script_restores_the_latest_checkpoint(tmp_path):
    model = _write_run(str(tmp_path / "run"))
    proc = _run_export([f"--workdir={tmp_path / 'run'}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = tf.saved_model.load(str(tmp_path / "SavedModels" / "run"))
    _assert_same(export.serving_functions(model)["sample"](5, 1), loaded.sample(5, 1))
    assert loaded.info()["image_shape"].numpy().tolist() == [28, 28, 1]
    restored, config, info = load_run(str(tmp_path / "run"))
    assert config.model.num_nodes == 2 and info.name == "mnist"
    for a, b in zip(model.variables, restored.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_load_run_refuses_what_is_not_a_complete_fitting_run(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no config.json"):
        load_run(str(tmp_path / "empty"))
    run = tmp_path / "run"
    _write_run(str(run))
    os.rename(run / "checkpoints", tmp_path / "saved")
    with pytest.raises(ValueError, match="holds no checkpoint"):
        load_run(str(run))
    os.rename(tmp_path / "saved", run / "checkpoints")
    callbacks.write_json_atomic(str(run / "config.json"),
                                TrainConfig.from_dict(dict(num_nodes=2, latent_dim=6, seed=4)).to_dict())
    with pytest.raises(ValueError, match="does not fit the model") as info:
        load_run(str(run))
    assert "\n" not in str(info.value)


def test_export_script_bad_workdir_fails_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _run_export([f"--workdir={tmp_path / 'empty'}", f"--export_dir={tmp_path / 'out'}"],
                       tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f"export.py: error: {tmp_path / 'empty'} is not a training run: it has no config.json")
    assert not (tmp_path / "out").exists()


def test_mean_parameterized_gates_export_their_means_and_structure(tmp_path):
    """--gate_parameterization=mean: the structure signature gives mu itself (0 exactly where a
    gate was absorbed) and the MAP structure mu > 0.5, which the reloaded elbo descends under."""
    keras.utils.set_random_seed(1)
    model = GraphVAE(ModelConfig(input_dim=D, num_nodes=N, node_dim=ND, gate_parameterization="mean"), seed=1)
    mu = np.array([[0, 0, 0], [0.8, 0, 0], [0.0, 0.3, 0]], np.float32)
    model.gates.mu.assign(mu)
    loaded = tf.saved_model.load(export.export_saved_model(model, str(tmp_path / "model")))
    out = loaded.structure()
    np.testing.assert_array_equal(out["gate_means"].numpy(), mu)
    np.testing.assert_array_equal(out["adjacency"].numpy(), (mu > 0.5).astype(np.float32))
    x = _x()
    kl = loaded.elbo(x, 3)["kl_per_node"].numpy()
    noise = evaluation.default_noise(model, 3)(0, 5, 1).numpy()[:, 0]
    mu_bu, lv_bu = (np.asarray(a, np.float64) for a in model.bottom_up_gaussians(x))
    _, log_q, log_p = reference.descend(model, (mu > 0.5).astype(np.float64), noise, mu_bu, lv_bu)
    np.testing.assert_allclose(kl, log_q - log_p, rtol=1e-4, atol=1e-3)
