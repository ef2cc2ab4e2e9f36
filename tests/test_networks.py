"""Your own encoder and decoder: a conv Graph VAE on image-shaped data trains, evaluates, exports and
reloads with the same log-likelihood; App. B's MLPs keep their checkpoint layout; bad networks
are refused with one line."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.experiments import evaluation
from tfgvae.serving import export
from tfgvae.core.model import GraphVAE, ModelConfig

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPE = (8, 8, 1)


def conv_encoder():
    return keras.Sequential([keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="elu"),
                             keras.layers.Flatten(), keras.layers.Dense(16)], name="conv_encoder")


def deconv_decoder():
    return keras.Sequential([keras.layers.Dense(4 * 4 * 4, activation="elu"), keras.layers.Reshape((4, 4, 4)),
                             keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same")], name="deconv")


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    protos = (rng.random((3, *SHAPE)) < 0.4).astype(np.float32)
    return np.abs(protos[rng.integers(0, 3, n)] - (rng.random((n, *SHAPE)) < 0.05)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_shape=SHAPE, num_nodes=3, node_dim=2), conv_encoder(),
                     deconv_decoder(), seed=0)
    model.compile(keras.optimizers.Adam(3e-3), jit_compile=False)
    x = images(256)
    before = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)["elbo"]
    model.fit(x, batch_size=32, epochs=3, verbose=0)
    after = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)["elbo"]
    path = export.export_saved_model(model, str(tmp_path_factory.mktemp("sm") / "conv"))
    return model, x, before, after, path


def test_conv_graph_vae_trains_on_images(trained):
    model, x, before, after, _ = trained
    assert after > before + 1.0
    assert model(x[:3]).shape == (3, *SHAPE) and model.sample(4).shape == (4, *SHAPE)
    assert model.encode(x[:3]).shape == (3, 3, 2)
    np.testing.assert_array_equal(model(x[:3].reshape(3, -1)).shape, (3, 64))  # flat x: flat means


def test_conv_graph_vae_evaluates_exports_and_reloads_with_the_same_log_likelihood(trained):
    model, x, _, _, path = trained
    loaded = tf.saved_model.load(path)
    assert tuple(loaded.info()["input_shape"].numpy()) == SHAPE
    test = x[:6]
    ll = model.log_likelihood(test, num_samples=30, seed=3)
    np.testing.assert_allclose(loaded.log_likelihood(tf.constant(test), 30, 3)["log_likelihood"], ll, rtol=1e-5)
    np.testing.assert_allclose(loaded.elbo(tf.constant(test), 4)["elbo"], model.elbo(test, seed=4), rtol=1e-5)
    np.testing.assert_allclose(loaded.encode(tf.constant(test))["mean"], model.encode(test), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.sample(5, 7)["means"], model.sample(5, seed=7), rtol=1e-5, atol=1e-6)
    assert ll.mean() >= model.elbo(test, seed=4).mean() - 1.0  # the bound, loosely (one ELBO sample)
    summary, _ = evaluation.evaluate_model(model, test, num_samples=10, chunk_size=5, batch_size=3,
                                           progress=False)
    reloaded, _ = evaluation.evaluate_saved_model(path, test, num_samples=10, batch_size=3, progress=False)
    assert summary["num_examples"] == reloaded["num_examples"] == 6
    assert abs(summary["log_likelihood"] - reloaded["log_likelihood"]) < 3 * summary["log_likelihood_stderr"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="x must be shape \\(batch, 8, 8, 1\\)"):
        loaded.signatures["log_likelihood"](x=tf.constant(test.reshape(6, 64)), k=tf.constant(3),
                                            seed=tf.constant(0))
    with pytest.raises(TypeError, match="shape=\\(None, 8, 8, 1\\)"):  # bound in Python: refused there
        loaded.log_likelihood(tf.constant(test.reshape(6, 64)), 3, 0)


def test_sample_is_reproducible_for_a_seed_and_returns_latents(trained):
    model = trained[0]
    a, z = model.sample(3, seed=11, return_latents=True)
    np.testing.assert_array_equal(a, model.sample(3, seed=11))
    assert z.shape == (3, 3, 2) and not np.array_equal(a, model.sample(3, seed=12))
    np.testing.assert_allclose(model.as_examples(tf.sigmoid(model.decode(z)[..., 0])), a, rtol=1e-6)


def test_bad_networks_are_refused_with_one_line():
    config = ModelConfig(input_shape=SHAPE, num_nodes=2, node_dim=2)
    no_flatten = keras.Sequential([keras.layers.Conv2D(4, 3)])
    with pytest.raises(ValueError, match="encoder: its output must be \\(batch, F\\)") as raised:
        GraphVAE(config, encoder=no_flatten)
    assert "\n" not in str(raised.value)
    too_small = keras.Sequential([keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="decoder: its output must hold the D = 64 values") as raised:
        GraphVAE(config, encoder=conv_encoder(), decoder=too_small)
    wrong_input = keras.Sequential([keras.Input((5,)), keras.layers.Dense(64)])
    with pytest.raises(ValueError, match="decoder: does not take inputs of shape \\(batch, 4\\)") as raised:
        GraphVAE(config, encoder=conv_encoder(), decoder=wrong_input)
    assert "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="input_dim=10 is not the 64 values"):
        ModelConfig(input_shape=SHAPE, input_dim=10)


@pytest.mark.parametrize("name,config", [
    ("graph", dict(input_dim=20, num_nodes=3, node_dim=2)),
    ("gaussian_vae", dict(input_dim=12, num_nodes=1, node_dim=4, structure="vae", likelihood="gaussian"))])
def test_default_networks_keep_the_checkpoint_layout_of_earlier_versions(name, config, tmp_path):
    """The variables a checkpoint of App. B's model holds, by path and shape, are those the code
    of main at 89f518e wrote (tests/checkpoint_keys_89f518e.json), so old runs still restore."""
    with open(os.path.join(HERE, "checkpoint_keys_89f518e.json")) as f:
        want = json.load(f)[name]
    model = GraphVAE(ModelConfig(**config), seed=0)
    model.compile(keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    path = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(str(tmp_path / "ckpt"))
    assert sorted([k, list(s)] for k, s in tf.train.list_variables(path)) == want
