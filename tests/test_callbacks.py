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
        model.fit(x, x[:, :1], batch_size=4, epochs=2, verbose=0, callbacks=[Spy(), board])
    finally:
        board.summary.scalar = real_scalar
    assert len(calls) == 6 and sum(calls) <= 2 * 2  # no per-batch values; epoch ends may write
    assert sorted(_events(tmp_path / "logs")["epoch_loss"]) == [0, 1]
