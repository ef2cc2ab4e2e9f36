"""The model's own schedule: tau per epoch and the KL warm-up from the step count, with plain fit."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from tfgvae.core.model import GraphVAE, ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.data import DATASETS
from tfgvae.training import train
from tfgvae.training.config import TrainConfig


def test_temperature_and_kl_weight_by_step():
    """tau_0 = 1 halved per epoch of 3 steps, floored at 0.2; W = round(0.5 x 4 x 3) = 6 steps."""
    schedule = Schedule(1.0, 0.5, 0.2, 0.5, steps_per_epoch=3, epochs=4)
    taus = [float(schedule.temperature(tf.constant(s, tf.int64))) for s in range(14)]
    np.testing.assert_array_equal(taus, np.float32([1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.2] * 5))
    betas = [float(schedule.kl_weight(tf.constant(s, tf.int64))) for s in range(8)]
    np.testing.assert_allclose(betas, [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1, 1, 1], rtol=1e-6)
    assert float(Schedule.constant(0.7).temperature(10 ** 6)) == pytest.approx(0.7)
    assert float(Schedule.constant().kl_weight(0)) == 1.0


def test_run_schedule_is_the_train_config_one():
    run = TrainConfig.from_dict(dict(initial_temperature=2.0, temperature_decay=0.9, min_temperature=0.5,
                                     kl_warmup_fraction=0.25, epochs=8))
    assert run.schedule == Schedule(2.0, 0.9, 0.5, 0.25, epochs=8)
    schedule = train.compile_model(train.build_model(run, DATASETS["mnist"]), run, 10).schedule
    assert schedule == Schedule(2.0, 0.9, 0.5, 0.25, steps_per_epoch=10, epochs=8)
    assert schedule.epoch_temperature(3) == pytest.approx(2.0 * 0.9 ** 3) and schedule.epoch_temperature(30) == 0.5
    assert schedule.kl_warmup_steps == 20


def _fit_model():
    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(input_dim=12, num_nodes=3, node_dim=2), seed=0)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=False)
    return model


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append((float(logs["temperature"]), float(logs["kl_weight"])))


def test_plain_fit_anneals_tau_and_ramps_the_kl_weight():
    """The default schedule (the paper's) sized by fit: 3 epochs of 3 steps, tau x0.99 per epoch,
    KL weight (s + 1) / W over W = round(0.5 x 3 x 3) = 4 steps; no callback given."""
    x = (np.random.default_rng(0).random((24, 12)) < 0.5).astype(np.float32)
    model, record = _fit_model(), Record()
    model.fit(x, batch_size=8, epochs=3, verbose=0, shuffle=False, callbacks=[record])
    taus, betas = zip(*record.logs)
    np.testing.assert_allclose(taus, [1.0] * 3 + [0.99] * 3 + [0.9801] * 3, rtol=1e-6)
    np.testing.assert_allclose(betas, [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 1], rtol=1e-6)
    assert float(model.temperature) == pytest.approx(0.9801)


def test_plain_fit_resumed_from_a_checkpoint_continues_the_schedule_exactly(tmp_path):
    x = (np.random.default_rng(1).random((24, 12)) < 0.5).astype(np.float32)
    whole = _fit_model()
    whole.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False)

    class StopAfterOne(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    killed = _fit_model()
    killed.fit(x, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[StopAfterOne()])
    path = tf.train.Checkpoint(model=killed, optimizer=killed.optimizer).save(str(tmp_path / "ckpt"))
    resumed = _fit_model()
    resumed.optimizer.build(resumed.trainable_variables)
    tf.train.Checkpoint(model=resumed, optimizer=resumed.optimizer).restore(path).assert_consumed()
    record = Record()
    resumed.fit(x, batch_size=8, initial_epoch=1, epochs=2, verbose=0, shuffle=False, callbacks=[record])
    np.testing.assert_allclose([t for t, _ in record.logs], [0.99] * 3, rtol=1e-6)
    np.testing.assert_allclose([b for _, b in record.logs], [1.0] * 3)  # W = 3: done in epoch 1
    for a, b in zip(whole.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


def test_a_fit_of_unknown_length_asks_for_steps_per_epoch():
    x = np.zeros((16, 12), np.float32)
    endless = tf.data.Dataset.from_tensor_slices(x).batch(8).repeat()
    with pytest.raises(ValueError, match="steps_per_epoch") as raised:
        _fit_model().fit(endless, epochs=1, verbose=0)
    assert "\n" not in str(raised.value)
    model = _fit_model()  # with steps_per_epoch it runs
    model.fit(endless, epochs=1, steps_per_epoch=2, verbose=0)
    assert model.fit_schedule.steps_per_epoch == 2 and model.fit_schedule.epochs == 1
