"""Training callbacks in process: epoch-only TensorBoard summaries, the test-LL schedule, training time."""
import glob

import numpy as np
import tensorflow as tf
import keras

from tfgvae.training import callbacks


def _events(log_dir):
    """{tag: [steps]} of the scalar summaries in a TensorBoard log directory."""
    tags = {}
    for path in glob.glob(str(log_dir / "**" / "events.out.tfevents.*"), recursive=True):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    return tags


def test_epoch_tensorboard_writes_epochs_and_no_per_batch_scalars(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    board = callbacks.EpochTensorBoard(str(tmp_path / "logs"))
    calls = []

    class Spy(keras.callbacks.Callback):  # runs before the board: count its scalar calls per batch
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(0)

    real_scalar = board.summary.scalar

    def counting_scalar(*args, **kwargs):
        if calls:
            calls[-1] += 1
        return real_scalar(*args, **kwargs)

    board.summary.scalar = counting_scalar
    try:
        x = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
        model.fit(x, x[:, :1], batch_size=4, epochs=2, verbose=0, callbacks=[Spy(), board],
                  validation_data=(x, x[:, :1]))
    finally:
        board.summary.scalar = real_scalar
    assert len(calls) == 6 and calls[:2] == calls[3:5] == [0, 0]  # only epoch ends write
    tags = _events(tmp_path / "logs")
    # Epochs counted from 1, as in gate_history.json; validation once (train and validation runs).
    assert sorted(tags["epoch_loss"]) == [1, 1, 2, 2]
    assert not [t for t in tags if t.startswith("evaluation_")]


def test_test_log_likelihood_follows_its_schedule_and_resumes(tmp_path, tiny_data):
    """Fig. 5's periodic test LL: due every k epochs and after the last; the same fixed subset
    and samples as ``evaluate_model`` on that subset; a resumed run extends the file."""
    import json
    from tfgvae.experiments import evaluation
    from tfgvae.core.model import GraphVAE, ModelConfig

    keras.utils.set_random_seed(0)
    model = GraphVAE(ModelConfig(num_nodes=3, node_dim=2), seed=0)
    path, logs = tmp_path / "test_ll.json", tmp_path / "logs"
    make = lambda: callbacks.TestLogLikelihood(str(path), "mnist", tiny_data, every=2, examples=8,
                                               num_samples=4, epochs=3, log_dir=str(logs))
    cb = make()
    cb.set_model(model)
    assert [cb.due(e) for e in (1, 2, 3)] == [False, True, True]
    cb.on_epoch_end(0)
    assert not path.exists()
    epoch_logs = {}
    cb.on_epoch_end(1, epoch_logs)
    want, _ = evaluation.evaluate_model(model, "mnist", data_dir=tiny_data, num_samples=4, chunk_size=4,
                                        batch_size=50, limit=8, progress=False)
    history = json.loads(path.read_text())
    assert history["epochs"] == [2] and history["num_examples"] == 8
    np.testing.assert_allclose(history["log_likelihood"][0], want["log_likelihood"], rtol=1e-6)
    np.testing.assert_allclose(history["kl"][0], want["kl"], rtol=1e-5)
    assert epoch_logs["test_log_likelihood"] == history["log_likelihood"][0]
    resumed = make()
    resumed.set_model(model)
    resumed.on_epoch_end(2)
    resumed.on_epoch_end(1)  # a run resumed before epoch 2's end redoes it: no duplicate
    assert json.loads(path.read_text())["epochs"] == [2]
    assert sorted(_events(logs)["test_log_likelihood"]) == [2, 2, 3]  # two writers, two files


def test_checkpoint_every_steps_that_executions_cannot_honour_is_said(tmp_path, capsys):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=3)
    checkpoint = callbacks.RunCheckpoint(str(tmp_path / "ckpt"), model, every_steps=5)
    x = np.zeros((24, 3), np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, callbacks=[checkpoint])
    err = capsys.readouterr().err
    assert "--checkpoint_every_steps=5 is not a multiple of the 3 steps per execution" in err
    # Saved at step 6 (the call that passed 5) and at the epoch's end.
    assert sorted(int(p.split("-")[-1]) for p in checkpoint.manager.checkpoints) == [6]


def test_train_time_adds_each_finished_epoch_to_what_earlier_runs_recorded(tmp_path):
    """A resumed run's time continues from timing.json: 100 s recorded before, then two epochs of
    which each takes at least the 0.2 s a later callback sleeps, and at most the fit call's wall time."""
    import json
    import time

    path = tmp_path / "timing.json"
    path.write_text(json.dumps({"train_seconds": 100}))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Slow(keras.callbacks.Callback):  # after TrainTime's on_epoch_begin: its sleep is counted
        def on_epoch_begin(self, epoch, logs=None):
            time.sleep(0.2)

    class Reader(keras.callbacks.Callback):  # after TrainTime's on_epoch_end: the file per epoch
        def on_epoch_end(self, epoch, logs=None):
            seen.append(json.loads(path.read_text())["train_seconds"])

    x = np.zeros((4, 3), np.float32)
    start = time.perf_counter()
    model.fit(x, x[:, :1], epochs=2, verbose=0, callbacks=[callbacks.TrainTime(str(path)), Slow(), Reader()])
    wall = time.perf_counter() - start
    assert len(seen) == 2 and 100.2 <= seen[0] and seen[0] + 0.2 <= seen[1] <= 100 + wall
    # A second fit (a resume) starts from the file, not from zero.
    model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[callbacks.TrainTime(str(path)), Slow()])
    assert json.loads(path.read_text())["train_seconds"] >= seen[1] + 0.2
