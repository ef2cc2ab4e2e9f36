"""The settings that take structure learning apart: unlearned gates (the noise-only control), gates
moved along a recorded trajectory, a KL warm-up of fixed length, and training on train+valid."""
import json

import numpy as np
import pytest
import keras

from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.training import callbacks
from tfgvae.training.config import TrainConfig
from tfgvae.training.train import check_budget


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    return GraphVAE(ModelConfig(input_dim=16, num_nodes=3, node_dim=2, **kwargs), seed=1)


def _binary(n, seed=0):
    return (np.random.default_rng(seed).random((n, 16)) < 0.4).astype(np.float32)


def test_unlearned_gates_keep_their_means_but_are_still_relaxed_in_training():
    model = _model(gate_init=0.9, gate_trainable=False)
    assert all(v is not model.gates.logits for v in model.trainable_variables)
    assert any(v is model.gates.logits for v in model.non_trainable_variables)
    model.compile(keras.optimizers.Adam(1e-2), schedule=Schedule(kl_warmup_fraction=0.0))
    before = model.gates.means().numpy()
    decoder = model.decoder.layers[0].kernel.numpy()
    model.fit(_binary(64), batch_size=16, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.gates.means().numpy(), before)
    assert np.abs(model.decoder.layers[0].kernel.numpy() - decoder).max() > 1e-4  # the rest learned
    np.testing.assert_allclose(before[[1, 2, 2], [0, 0, 1]], 0.9, rtol=1e-6)
    gates, _ = model.step_draws(32, 5, training=True)
    edges = gates.numpy()[:, [1, 2, 2], [0, 0, 1]]
    assert 0.1 < edges.std() and (edges < 0.5).any() and (edges > 0.5).any()  # relaxed draws, not 0.9


def test_gate_trajectory_interpolates_the_recorded_means(tmp_path):
    m1 = np.array([[0, 0, 0], [0.6, 0, 0], [0.7, 0.8, 0]])
    m2 = np.array([[0, 0, 0], [0.9, 0, 0], [0.5, 1.0, 0]])
    path = tmp_path / "gate_history.json"
    path.write_text(json.dumps({"epochs": [1, 2], "temperature": [0.99, 0.98],
                                "gate_means": [m1.tolist(), m2.tolist()]}))
    cb = callbacks.GateTrajectory(str(path), steps_per_epoch=10, initial=0.5)
    start = np.full((3, 3), 0.5)
    np.testing.assert_allclose(cb.means_at(0), start)
    np.testing.assert_allclose(cb.means_at(5), 0.5 * start + 0.5 * m1)
    np.testing.assert_allclose(cb.means_at(10), m1)
    np.testing.assert_allclose(cb.means_at(17), 0.3 * m1 + 0.7 * m2)
    np.testing.assert_allclose(cb.means_at(20), m2)
    np.testing.assert_allclose(cb.means_at(95), m2)  # held after the last recorded epoch
    model = _model(gate_trainable=False)
    model.compile(keras.optimizers.Adam(1e-3))
    cb.set_model(model)
    model.optimizer.iterations.assign(15)
    cb.on_train_batch_begin(0)
    mask = np.tril(np.ones((3, 3)), -1)
    np.testing.assert_allclose(model.gates.means().numpy(), cb.means_at(15) * mask, atol=1e-6)
    path.write_text(json.dumps({"epochs": [], "gate_means": []}))
    with pytest.raises(ValueError, match="no gate means"):
        callbacks.GateTrajectory(str(path), 10, 0.5)


def test_gate_trajectory_needs_unlearned_graph_gates():
    with pytest.raises(ValueError, match="gate_trajectory needs"):
        TrainConfig.from_dict(dict(gate_trajectory="g.json"))
    with pytest.raises(ValueError, match="gate_trajectory needs"):
        TrainConfig.from_dict(dict(structure="fc", gate_trainable=False, gate_trajectory="g.json"))
    TrainConfig.from_dict(dict(gate_trainable=False, gate_trajectory="g.json"))


def test_fixed_length_kl_warm_up():
    schedule = Schedule(kl_warmup_fraction=0.0, kl_warmup_epochs=2, steps_per_epoch=10, epochs=100)
    assert schedule.kl_warmup_steps == 20
    assert float(schedule.kl_weight(9)) == pytest.approx(0.5)
    assert float(schedule.kl_weight(19)) == pytest.approx(1.0) == float(schedule.kl_weight(500))
    assert Schedule(kl_warmup_fraction=0.0, kl_warmup_epochs=2, steps_per_epoch=10, epochs=7).kl_warmup_steps == 20
    assert not Schedule(kl_warmup_fraction=0.0, kl_warmup_epochs=2).is_resolved  # needs the epoch length
    with pytest.raises(ValueError, match="kl_warmup_epochs"):
        Schedule(kl_warmup_fraction=0.5, kl_warmup_epochs=2)
    with pytest.raises(ValueError, match="kl_warmup_epochs"):
        TrainConfig.from_dict(dict(kl_warmup_epochs=-1, kl_warmup_fraction=0.0))
    run = TrainConfig.from_dict(dict(kl_warmup_fraction=0.0, kl_warmup_epochs=3))
    assert run.schedule.resolved(7, None).kl_warmup_steps == 21


def test_a_fixed_warm_up_run_may_be_trained_on(tmp_path):
    planned = TrainConfig.from_dict(dict(epochs=4, kl_warmup_fraction=0.0, kl_warmup_epochs=1))
    (tmp_path / "config.json").write_text(json.dumps(planned.to_dict()))
    check_budget(TrainConfig.from_dict(dict(epochs=8, kl_warmup_fraction=0.0, kl_warmup_epochs=1)), str(tmp_path),
                 done=20, steps=5)
    with pytest.raises(ValueError, match="warms the KL up"):
        check_budget(TrainConfig.from_dict(dict(epochs=8, kl_warmup_fraction=0.5)), str(tmp_path), done=20, steps=5)


def test_train_plus_valid_is_the_whole_training_source(tiny_data):
    from tfgvae.data import loading, make_dataset
    from tfgvae.data.info import get_info, split_size
    from tfgvae.data.sources import resolve
    root = tiny_data
    whole = loading.get_info("mnist").reader.read(root, "train", True)[0]
    both, labels = loading.load_pixels("mnist", "train+valid", root)
    np.testing.assert_array_equal(both, whole)  # MNIST's hold-out is the last sixth: the source's order
    train, valid = (loading.load_pixels("mnist", s, root)[0] for s in ("train", "valid"))
    assert len(both) == len(train) + len(valid) and len(labels) == len(both)
    omni = loading.load_pixels("omniglot", "train+valid", root)[0]  # a permuted hold-out
    assert sorted(map(bytes, omni)) == sorted(map(bytes, np.concatenate(
        [loading.load_pixels("omniglot", s, root)[0] for s in ("train", "valid")])))
    assert split_size(get_info("mnist"), "train+valid") == 60_000
    x = next(iter(make_dataset("mnist", "train+valid", root, batch_size=4)))
    assert set(np.unique(x.numpy())) <= {0.0, 1.0}  # dynamically binarized, as training data
    own = resolve({"train": np.zeros((5, 4), np.float32), "valid": np.ones((3, 4), np.float32)})
    np.testing.assert_array_equal(own.part("train+valid").sum(1), [0] * 5 + [4] * 3)
    with pytest.raises(ValueError, match="train_split"):
        TrainConfig.from_dict(dict(train_split="valid"))
