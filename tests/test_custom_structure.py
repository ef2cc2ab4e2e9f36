"""Custom fixed structures (--structure=custom --adjacency), freezing the learned structure, bad files."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.core import adjacency, structure
from tfgvae.training import callbacks
from tfgvae.training.config import TrainConfig
from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fit(model, x, epochs=1, callback_list=()):
    """Keras' training loop in miniature, eagerly (no tracing: cheap on 2 shared cores): per epoch,
    callbacks' epoch begin, train steps on batches of 8, epoch end. Returns the per-step losses."""
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False, schedule=Schedule.constant())
    for cb in callback_list:
        cb.set_model(model)
    losses = []
    for epoch in range(epochs):
        for cb in callback_list:
            cb.on_epoch_begin(epoch)
        for start in range(0, len(x), 8):
            for tracker in model.metrics:
                tracker.reset_state()
            losses.append(float(model.train_step(tf.constant(x[start:start + 8]))["loss"]))
        for cb in callback_list:
            cb.on_epoch_end(epoch)
    return losses


@pytest.mark.parametrize("builtin", ["fc", "ladder"])
def test_custom_structure_equal_to_a_builtin_one_trains_identically(builtin):
    x = (np.random.default_rng(0).random((16, 20)) < 0.5).astype(np.float32)
    runs = {}
    for name, adj in ((builtin, None), ("custom", structure.fixed_adjacency(builtin, 3).tolist())):
        keras.utils.set_random_seed(0)
        model = GraphVAE(ModelConfig(input_dim=20, num_nodes=3, node_dim=2, structure=name,
                                     adjacency=adj), seed=1)
        runs[name] = (_fit(model, x), [v.numpy() for v in model.trainable_variables])
    np.testing.assert_allclose(runs["custom"][0], runs[builtin][0], rtol=1e-6)
    for a, b in zip(runs["custom"][1], runs[builtin][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_structure_json_of_a_run_is_a_custom_structure(tmp_path):
    path = tmp_path / "structure.json"  # as tfgvae.training.artifacts writes it
    path.write_text(json.dumps({"structure": "graph", "map_adjacency": [[0, 0, 0], [1, 0, 0], [0, 1, 0]]}))
    matrix = adjacency.check_adjacency(adjacency.read_adjacency(str(path)), 3)
    config = TrainConfig.from_dict(dict(structure="custom", adjacency=matrix, num_nodes=3, latent_dim=6))
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # config.json round trip
    model = GraphVAE(dataclasses.replace(config.model, input_dim=20))
    np.testing.assert_array_equal(model.gates.sample(2, 0.5, None)[0], structure.fixed_adjacency("ladder", 3))


@pytest.mark.parametrize("content,message", [
    ([[0, 1, 0], [1, 0, 0], [0, 0, 0]], "has a cycle z_1 -> z_2 -> z_1"),
    ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], "has a cycle z_2 -> z_2"),
    ([[0, 0], [1, 0]], "is 2 x 2 but the model has num_nodes=3"),
    ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], "edge z_1 -> z_2 runs against the node order"),
    ([[0, 0, 0], [2, 0, 0], [0, 0, 0]], "entries must be 0 or 1"),
    ([[0, 0], [1, 0, 0]], "square matrix"),
    ({"gates": []}, "has no 'map_adjacency' or 'adjacency' matrix"),
    ("{not json", "is not JSON"),
])
def test_bad_adjacency_files_fail_with_one_line(tmp_path, content, message):
    path = tmp_path / "adj.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match=message) as info:
        adjacency.check_adjacency(adjacency.read_adjacency(str(path)), 3, source=str(path))
    assert "\n" not in str(info.value)


def test_train_script_refuses_a_cyclic_adjacency_with_one_line(tmp_path):
    (tmp_path / "adj.json").write_text(json.dumps({"adjacency": [[0, 1, 0], [1, 0, 0], [0, 0, 0]]}))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "train.py"), "--workdir=run",
                           "--structure=custom", "--adjacency=adj.json", "--num_nodes=3", "--latent_dim=6"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "train.py: error: adj.json: the adjacency has a cycle z_1 -> z_2 -> z_1"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kwargs,message", [
    (dict(structure="custom"), "needs an adjacency"),
    (dict(structure="fc", adjacency=[[0, 0, 0], [1, 0, 0], [1, 1, 0]]), "needs an adjacency"),
    (dict(structure="fc", freeze_structure_epoch=3), "freeze_structure_epoch needs --structure=graph"),
    (dict(freeze_structure_epoch=0), "freeze_structure_epoch needs"),
    (dict(encoder_graph="tree"), "encoder_graph must be one of shared, fc"),
])
def test_bad_structure_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(dict(num_nodes=3, latent_dim=6, **kwargs))


class _Record(keras.callbacks.Callback):
    """The MAP structure at the end of each epoch and whether every training gate was 0/1 then."""

    def __init__(self):
        super().__init__()
        self.maps, self.binary = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.maps.append(self.model.gates.map()[0].numpy())
        gates, _ = self.model.step_draws(8, self.model.optimizer.iterations, training=True)
        self.binary.append(bool(np.all((gates.numpy() == 0) | (gates.numpy() == 1))))


def test_freezing_fixes_the_map_structure_exactly_and_survives_a_checkpoint(tmp_path):
    keras.utils.set_random_seed(0)
    config = ModelConfig(input_dim=20, num_nodes=3, node_dim=2, freezable_gates=True)
    model = GraphVAE(config, seed=1)
    model.gates.logits.assign(np.array([[0, 0, 0], [1.0, 0, 0], [-0.5, 2.0, 0]], np.float32))
    x = (np.random.default_rng(1).random((16, 20)) < 0.5).astype(np.float32)
    record, path = _Record(), tmp_path / "structure_frozen.json"
    _fit(model, x, epochs=3, callback_list=[callbacks.FreezeStructure(1, str(path)), record])
    assert record.binary == [False, True, True]
    frozen = json.loads(path.read_text())
    assert frozen["epoch"] == 1 and frozen["step"] == 2 and frozen["first_frozen_epoch"] == 2
    # The structure fixed is the MAP one learned before freezing, and it stays fixed.
    np.testing.assert_array_equal(frozen["map_adjacency"], record.maps[0])
    for later in record.maps[1:]:
        np.testing.assert_array_equal(later, record.maps[0])
    assert model.gates.is_frozen()
    np.testing.assert_array_equal(model.gates.means().numpy(), record.maps[0])
    np.testing.assert_array_equal(model.gates.bernoulli().mean().numpy(),
                                  [record.maps[0][j, i] for j, i, _ in model.gates.edge_names()])
    # A checkpoint carries the switch: a restored model is frozen at the same structure.
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    restored = GraphVAE(config, seed=1)
    tf.train.Checkpoint(model=restored).read(str(tmp_path / "ckpt")).assert_existing_objects_matched()
    assert restored.gates.is_frozen()
    np.testing.assert_array_equal(restored.gates.sample(4, 0.5, None).numpy()[1], record.maps[0])
    with pytest.raises(ValueError, match="fixed gates"):
        restored.gate_distribution()


@pytest.mark.slow
def test_two_phase_run_resumes_frozen_and_records_when_it_froze(tmp_path, tiny_data):
    """bin/train.py with --freeze_structure_epoch=1: 2 epochs, then the same command for 3 resumes."""
    args = [sys.executable, os.path.join(ROOT, "bin", "train.py"), "--workdir=run", "--export_dir=export",
            "--dataset=mnist", "--num_nodes=3", "--latent_dim=6", "--batch_size=8", "--steps_per_epoch=2",
            "--validation_steps=1", "--nojit_compile", "--verbose=2", "--freeze_structure_epoch=1"]
    env = dict(os.environ, TFGVAE_DATA_DIR=tiny_data, TFGVAE_CACHE_DIR=str(tmp_path / "cache"),
               TF_CPP_MIN_LOG_LEVEL="2")
    for epochs in (2, 3):
        proc = subprocess.run(args + [f"--epochs={epochs}"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        if epochs == 2:
            frozen = (tmp_path / "run" / "structure_frozen.json").read_text()
    assert "Resuming" in proc.stdout
    assert (tmp_path / "run" / "structure_frozen.json").read_text() == frozen  # froze once, at epoch 1
    record = json.loads(frozen)
    history = json.loads((tmp_path / "run" / "gate_history.json").read_text())
    assert record["epoch"] == 1 and history["epochs"] == [1, 2, 3]
    np.testing.assert_array_equal(np.asarray(history["gate_means"][0]) > 0.5, record["map_adjacency"])
    for means in history["gate_means"][1:]:
        np.testing.assert_array_equal(means, record["map_adjacency"])
    saved = json.loads((tmp_path / "run" / "structure.json").read_text())
    np.testing.assert_array_equal(saved["map_adjacency"], record["map_adjacency"])


def test_a_child_without_parents_has_the_same_prior_in_training_and_inference():
    """A non-root node with no parents reads a constant first layer (fc1's bias), which the batch
    norm after it turns into beta in training. fc1's bias does nothing there, yet Adam used to step
    it on rounding-level gradients, the moving mean lagged it, and inference divided the lag by
    sqrt(1e-5): the validation KL of such nodes was off by tens of nats (docs/results.md). The
    inference prior must be the training one: closed form ELU(beta) -> fc -> fc(mu, logvar)."""
    x = (np.random.default_rng(0).random((32, 20)) < 0.5).astype(np.float32)
    n, d = 3, 2
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=20, num_nodes=n, node_dim=d, structure="custom",
                                 adjacency=np.zeros((n, n), int).tolist()), seed=1)
    _fit(model, x, epochs=3)
    td = model.top_down
    beta, w2, b2, w3, b3 = (np.asarray(v, np.float64) for v in (td.bn1.beta, td.w2, td.b2, td.w3, td.b3))
    elu = lambda a: np.where(a > 0, a, np.expm1(a))  # noqa: E731
    z, _, log_p = model.descend(model.structure_gates(1, False), tf.zeros((1, n, d)), None, training=False)
    for i in range(n - 1):  # children; stream 0 is the generative prior
        out = (elu(beta[i, 0]) @ w2[i, 0] + b2[i, 0]) @ w3[i, 0] + b3[i, 0]
        mu, logvar = out[:d], out[d:]
        np.testing.assert_allclose(z.numpy()[0, i], mu, rtol=1e-4, atol=1e-5)  # noise 0: z is the prior mean
        expected = -0.5 * np.sum(np.log(2 * np.pi) + logvar)  # log N(mu; mu, exp(logvar))
        np.testing.assert_allclose(log_p.numpy()[0, i], expected, rtol=1e-4)
