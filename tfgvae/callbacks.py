"""Training callbacks: temperature annealing, gate-mean history, atomic resumable checkpoints."""
import json
import os

import numpy as np
import tensorflow as tf
import keras


def write_json_atomic(path, payload):
    """Write JSON to ``path`` via a temporary file and a rename, so a kill never leaves half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class TemperatureSchedule(keras.callbacks.Callback):
    """Sets the Gumbel-softmax temperature at the start of each epoch: tau(epoch) (App. B.2)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.model.temperature.assign(self.schedule(epoch))


class GateHistory(keras.callbacks.Callback):
    """Records the gate means mu[j, i] after every epoch into a JSON file (data of Fig. 3a).

    The file holds {"epochs": [...], "temperature": [...], "gate_means": [N x N matrices]};
    an existing file is extended, so a resumed run keeps its history.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.history = {"epochs": [], "temperature": [], "gate_means": []}
        if os.path.exists(path):
            with open(path) as f:
                self.history = json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        keep = [k for k, e in enumerate(self.history["epochs"]) if e < epoch + 1]
        for key in self.history:
            self.history[key] = [self.history[key][k] for k in keep]
        self.history["epochs"].append(epoch + 1)
        self.history["temperature"].append(float(np.asarray(self.model.temperature)))
        self.history["gate_means"].append(np.asarray(self.model.gates.means()).round(6).tolist())
        write_json_atomic(self.path, self.history)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves model, optimizer and epoch count after every epoch with a tf.train.CheckpointManager.

    The manager writes the new checkpoint's files before it atomically rewrites its
    index, so a run killed mid-save resumes from the previous complete checkpoint.
    """

    def __init__(self, directory, model, max_to_keep=3):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        model.optimizer.build(model.trainable_variables)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, epoch=self.epoch)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

    def restore(self):
        """Restore the latest checkpoint if there is one; return the number of finished epochs."""
        if self.manager.latest_checkpoint is None:
            return 0
        self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        return int(self.epoch.numpy())

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=epoch + 1)
