"""Training callbacks in process: epoch-only TensorBoard summaries."""
import glob

import numpy as np
import tensorflow as tf
import keras

from tfgvae import callbacks


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
