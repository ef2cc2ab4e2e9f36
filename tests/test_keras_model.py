"""GraphVAE as a first-class Keras model: model.save / keras.saving.load_model and ModelCheckpoint
round-trip every structure; fit checks its data as the other entry points do; App. B's MLPs take
image-shaped examples; fit's progress bar and summary() are readable."""
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.data import sources
from tfgvae.training import runs, train
from tfgvae.training.config import TrainConfig

D = 16


def binary(n, seed=0, shape=(D,)):
    return (np.random.default_rng(seed).random((n, *shape)) < 0.4).astype(np.float32)


def small_networks():
    return (keras.Sequential([keras.layers.Dense(8, activation="elu")], name="enc"),
            keras.Sequential([keras.layers.Dense(6, activation="elu"), keras.layers.Dense(D)], name="dec"))


def compiled(config, networks=(None, None), schedule=None, seed=0):
    model = GraphVAE(config, *networks, seed=seed)
    model.compile(keras.optimizers.Adam(1e-2), jit_compile=False, schedule=schedule)
    return model


def assert_same_model(a, b, x):
    """Same samples for the same seed, same posteriors, gates, temperature and step count."""
    np.testing.assert_array_equal(a.sample(8, seed=0), b.sample(8, seed=0))
    for u, v in zip(a.posterior_parameters(x), b.posterior_parameters(x)):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(a.gates.means(), b.gates.means())
    assert float(a.temperature) == float(b.temperature)
    assert int(a.optimizer.iterations) == int(b.optimizer.iterations)
    assert type(a.optimizer) is type(b.optimizer) and a.schedule == b.schedule and a.config == b.config


def test_fit_with_a_keras_checkpoint_then_load_and_fit_on_as_the_saved_model(tmp_path):
    """Your own Sequential networks, learned gates, a schedule and a seed of their own: ModelCheckpoint
    (".keras") in plain fit; the file reloads to a model that samples and scores as the trained one and
    trains on exactly as it does (the same gates and noise at the same steps)."""
    x = binary(32)
    model = compiled(ModelConfig(input_dim=D, num_nodes=3, node_dim=2, hidden=8), small_networks(),
                     schedule=Schedule(steps_per_epoch=4, epochs=3), seed=None)  # Keras draws the seed
    path = str(tmp_path / "ckpt.keras")
    model.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False,
              callbacks=[keras.callbacks.ModelCheckpoint(path)])
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, GraphVAE) and [n.name for n in (loaded.encoder, loaded.decoder)] == ["enc", "dec"]
    assert int(loaded.optimizer.iterations) == 8  # 2 epochs of 4 steps
    assert float(loaded.temperature) == pytest.approx(0.99)  # tau_0 0.99^1 in the second epoch
    assert_same_model(model, loaded, x[:4])
    np.testing.assert_array_equal(model.log_likelihood(x[:4], num_samples=10, seed=0),
                                  loaded.log_likelihood(x[:4], num_samples=10, seed=0))
    before = loaded.gates.means().numpy()
    a = model.fit(x, batch_size=8, epochs=3, initial_epoch=2, verbose=0, shuffle=False).history
    b = loaded.fit(x, batch_size=8, epochs=3, initial_epoch=2, verbose=0, shuffle=False).history
    assert a == b and not np.array_equal(before, loaded.gates.means())
    assert int(loaded.optimizer.iterations) == 12 and float(loaded.temperature) == pytest.approx(0.9801)
    for u, v in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(u, v)


def custom_adjacency():
    return ((0, 0, 0), (1, 0, 0), (1, 0, 0))  # z_2 -> z_1 and z_3 -> z_1


@pytest.mark.parametrize("settings,own_networks", [
    (dict(structure="fc", num_nodes=3), True),
    (dict(structure="ladder", num_nodes=3, likelihood="gaussian"), True),
    (dict(structure="vae", num_nodes=1), True),
    (dict(structure="custom", num_nodes=3, adjacency=custom_adjacency()), True),
    (dict(structure="graph", num_nodes=3, gate_parameterization="mean", freezable_gates=True), False),
    (dict(structure="graph", num_nodes=2, input_shape=(4, 4, 1)), False),
], ids=["fc", "ladder", "vae", "custom", "graph_app_b", "images_app_b"])
def test_every_structure_round_trips_through_model_save(settings, own_networks, tmp_path):
    x = binary(6, shape=settings.get("input_shape", (D,)))
    settings = dict(settings) if "input_shape" in settings else dict(settings, input_dim=D)
    model = compiled(ModelConfig(node_dim=2, hidden=8, **settings), small_networks() if own_networks else (None, None))
    rng = np.random.default_rng(1)
    for v in model.weights:  # trained-looking weights, gates included
        v.assign(np.abs(rng.normal(0.3, 0.2, v.shape)).astype(np.float32) if "variance" in v.path or
                 "gate" in v.path else rng.normal(0, 0.5, v.shape).astype(np.float32))
    if model.gates.freezable:
        model.gates.freeze()
    model.temperature.assign(0.37)
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert [n.name for n in (loaded.encoder, loaded.decoder)] == (["enc", "dec"] if own_networks else
                                                                  ["encoder", "decoder"])
    assert loaded.default_encoder is not own_networks and loaded.gates.is_frozen() == model.gates.is_frozen()
    assert_same_model(model, loaded, x)
    assert os.listdir(tmp_path) == ["m.keras"]


class Scaled(keras.layers.Layer):
    """A layer Keras cannot serialize: its argument is a Python object and it has no get_config."""

    def __init__(self, settings, **kwargs):
        super().__init__(**kwargs)
        self.settings = settings

    def call(self, x):
        return x * self.settings.scale


def closure_lambda():
    rng = np.random.default_rng(0)
    return keras.layers.Lambda(lambda t: t * 2.0 if rng else t)


@pytest.mark.parametrize("layer,message", [
    (lambda: Scaled(type("Settings", (), {"scale": 2.0})()), "Object Scaled was created by passing non-serializable"),
    (closure_lambda, "Cannot serialize object Generator"),
], ids=["custom_layer", "lambda_closure"])
def test_a_model_keras_cannot_serialize_is_refused_in_one_line_and_writes_no_file(layer, message, tmp_path):
    encoder = keras.Sequential([layer(), keras.layers.Dense(8)])
    model = compiled(ModelConfig(input_dim=D, num_nodes=2, node_dim=2), (encoder, small_networks()[1]))
    path = tmp_path / "m.keras"
    with pytest.raises(ValueError, match=f"cannot save .*m.keras: Keras cannot serialize its encoder: {message}") \
            as raised:
        model.save(str(path))
    assert "\n" not in str(raised.value) and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="its folder does not exist"):
        compiled(ModelConfig(input_dim=D, num_nodes=2, node_dim=2)).save(str(tmp_path / "no" / "m.keras"))
    assert os.listdir(tmp_path) == []


def dataset(x, batch=8):
    return tf.data.Dataset.from_tensor_slices(x).batch(batch)


@pytest.mark.parametrize("data,validation,message", [
    (16 * binary(16), None, r"fit: x must lie in \[0, 1\]; found 0\.\.16$"),
    (binary(16, shape=(D - 1,)), None, r"fit: x must be shape \(batch, 16\), got shape \[16, 15\]$"),
    (binary(16).astype(str), None, "fit: x must be numbers, got dtype <U"),
    (np.where(binary(16) > 0, np.nan, 0.5), None, "fit: x must be finite$"),
    (dataset(16 * binary(16)), None, r"fit \(first batch\): x must lie in \[0, 1\]; found 0\.\.16$"),
    (dataset((255 * binary(16)).astype(np.uint8)), None, "fit: x must be float32 values in .* got dtype uint8"),
    (tf.data.Dataset.from_tensor_slices(binary(16)), None, r"fit \(first batch\): x must be shape \(batch, 16\), "
                                                           r"got shape \[16\]$"),
    (binary(16), 2 * binary(8), r"fit \(validation_data\): x must lie in \[0, 1\]; found 0\.\.2$"),
    (binary(16), (binary(8, shape=(4, 4)), None), r"fit \(validation_data\): x must be shape \(batch, 16\)"),
    (binary(16), dataset(binary(8) - 1), r"fit \(validation_data\) \(first batch\): x must lie in \[0, 1\]; "
                                         r"found -1\.\.0$"),
], ids=["pixels", "shape", "strings", "nan", "dataset_range", "dataset_uint8", "unbatched_dataset",
        "validation_range", "validation_tuple", "validation_dataset"])
def test_fit_checks_its_data_in_one_line_before_any_step(data, validation, message):
    model = compiled(ModelConfig(input_dim=D, num_nodes=2, node_dim=2, hidden=8), small_networks())
    with pytest.raises(ValueError, match=message) as raised:
        model.fit(data, batch_size=8, epochs=1, verbose=0, validation_data=validation)
    assert "\n" not in str(raised.value)
    assert model.optimizer.iterations.numpy() == 0 and model.train_function is None


def test_app_b_mlps_take_image_shaped_examples_in_and_give_them_out():
    shape = (4, 4, 1)
    model = GraphVAE(ModelConfig(input_shape=shape, num_nodes=2, node_dim=2, hidden=8))
    assert [type(layer).__name__ for layer in model.encoder.layers][:2] == ["Flatten", "Dense"]
    x = binary(4, shape=shape)
    assert model(x).shape == x.shape and model.sample(5, seed=0).shape == (5, *shape)
    assert model.encode(x).shape == (4, 2, 2) and model(x.reshape(4, -1)).shape == (4, 16)
    flat = GraphVAE(ModelConfig(input_dim=D, num_nodes=2, node_dim=2, hidden=8))
    assert "Flatten" not in [type(layer).__name__ for layer in flat.encoder.layers]  # the layout of old runs


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1)])
def test_npz_of_images_trains_with_app_b_mlps_as_train_py_runs_it(shape, tmp_path):
    """--dataset=mine.npz of (n, H, W) or (n, H, W, 1) images: the source, the run's model (runs.py)
    with App. B's MLPs, and (for one shape) the whole run of bin/train.py, reloaded."""
    path = str(tmp_path / "mine.npz")
    np.savez(path, train=binary(24, 0, shape), valid=binary(8, 1, shape), test=binary(8, 2, shape))
    config = TrainConfig.from_dict(dict(dataset=path, num_nodes=2, latent_dim=4, batch_size=8, epochs=1,
                                        steps_per_epoch=2, validation_steps=1, jit_compile=False, verbose=0,
                                        export=False))
    source, run = train.source_of(config)
    assert source.example_shape == shape and tuple(source.info.image_shape) == (4, 5, 1)
    model = runs.build_model(run, source.info)
    assert model.config.input_shape == shape and model.sample(2, seed=0).shape == (2, *shape)
    if len(shape) == 2:
        results = train.train_and_evaluate(config, str(tmp_path / "run"))
        assert np.isfinite(results["elbo"])
        reloaded, _, _ = runs.load_run(str(tmp_path / "run"))
        assert reloaded.config.input_shape == shape


def visible(text):
    """The lines a terminal shows of Keras' progress output (no colour codes or backspaces)."""
    lines = re.split(r"[\n\r]|\x08+", re.sub(r"\x1b\[[0-9;]*m", "", text))  # a backspace run: redrawn
    return [line for line in lines if line.strip()]


def summary_text(model):
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    return "\n".join(lines)


def assert_summary_is_built(text):
    assert "?" not in text and "unbuilt" not in text, text
    gates = next(line for line in text.splitlines() if "gates (DependencyGates)" in line)
    assert "(None, 3, 3)" in gates and gates.split()[-2] == "9", gates  # N x N gate weights


def test_fit_shows_the_elbo_terms_takes_integer_and_uint8_arrays_and_summary_is_built(capsys):
    """One fit of integer examples with uint8 validation data (divided by 255, as log_likelihood
    takes them): a readable bar, every value in History and evaluate; summary() built throughout."""
    model = compiled(ModelConfig(input_dim=D, num_nodes=3, node_dim=2, hidden=8), small_networks())
    assert_summary_is_built(summary_text(model))
    x = binary(16).astype(np.int64)
    history = model.fit(x, batch_size=8, epochs=2, verbose=1, validation_data=(255 * x[:8]).astype(np.uint8)).history
    lines = visible(capsys.readouterr().out)
    assert sum(line.startswith("Epoch 1/2") for line in lines) == 1  # one bar: Keras adds none of its own
    for name in ("loss", "elbo", "kl", "reconstruction", "val_elbo", "val_kl"):
        assert any(f" {name}: " in line for line in lines), name
    for name in ("gate_", "kl_node_", "temperature", "kl_weight"):
        assert not any(name in line for line in lines), name
    assert max(len(line) for line in lines) < 220, lines
    for name in ("gate_2_1", "gate_3_2", "kl_node_1", "kl_node_3", "temperature", "kl_weight", "val_kl_node_2"):
        assert name in history, name
    evaluated = model.evaluate(x[:8].astype(np.float32), batch_size=8, verbose=0, return_dict=True)
    assert {"gate_3_1", "kl_node_2", "temperature"} <= set(evaluated)
    assert evaluated["elbo"] == pytest.approx(history["val_elbo"][-1], rel=1e-6)
    assert_summary_is_built(summary_text(model))
    model.fit(x, batch_size=8, epochs=2, initial_epoch=1, verbose=1, callbacks=[keras.callbacks.ProgbarLogger()])
    assert any("gate_2_1" in line for line in visible(capsys.readouterr().out))  # your own bar: as it is


def test_data_source_image_shape_of_a_two_axis_example():
    assert sources.image_shape_for(20, (4, 5)) == (4, 5, 1)
