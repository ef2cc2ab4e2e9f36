"""Training callbacks: gate-mean history, NaN guard, atomic resumable checkpoints, epoch-level
TensorBoard summaries, periodic test log-likelihood, structure freezing, training time. (The
temperature and the KL weight are annealed by the model itself: ``tfgvae.core.schedules``.)"""
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf
import keras

from tfgvae.atomic import write_json as write_json_atomic
from tfgvae.core import importance
from tfgvae.data import sources


class GateHistory(keras.callbacks.Callback):
    """Records the gate means mu[j, i] after every epoch into a JSON file (data of Fig. 3a).

    The file holds {"epochs": [...], "temperature": [...], "gate_means": [N x N matrices]}
    and, with ``log_gate_gradients``, "gate_gradients": per epoch {"reconstruction": {gate_j_i:
    epoch-mean d E[log p(x|z)] / d mu}, "kl": {gate_j_i: -d KL / d mu}} (``tfgvae.core.gate_gradients``);
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
        grads = {part: {f"gate_{name[len(f'grad_{part}_'):]}": float(v) for name, v in (logs or {}).items()
                        if name.startswith(f"grad_{part}_")} for part in ("reconstruction", "kl")}
        if grads["reconstruction"]:
            self.history.setdefault("gate_gradients", []).append(grads)
        write_json_atomic(self.path, self.history)


class GateTrajectory(keras.callbacks.Callback):
    """Moves unlearned gate means along a recorded run's (the noise-only control, docs/results.md).

    ``path``: that run's gate_history.json; before each (compiled) batch the means are set to its
    epoch-end values linearly interpolated at the step's position in its epoch, from ``initial``
    (the means before epoch 1) on, and held at the last recorded epoch's after it.
    """

    def __init__(self, path, steps_per_epoch, initial):
        super().__init__()
        with open(path) as f:
            history = json.load(f)
        if not history.get("gate_means"):
            raise ValueError(f"{path} records no gate means")
        means = [np.asarray(m, np.float64) for m in history["gate_means"]]
        self.trajectory = np.stack([np.full_like(means[0], initial)] + means)  # row e: after epoch e
        self.steps = steps_per_epoch

    def means_at(self, step):
        """The means (N, N) at a global step: rows e and e + 1 of the trajectory, interpolated."""
        epoch, offset = divmod(int(step), self.steps)
        last = len(self.trajectory) - 1
        if epoch >= last:
            return self.trajectory[last]
        f = offset / self.steps
        return (1.0 - f) * self.trajectory[epoch] + f * self.trajectory[epoch + 1]

    def on_train_batch_begin(self, batch, logs=None):
        self.model.gates.set_means(self.means_at(int(self.model.optimizer.iterations)))


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard callback with epoch-level summaries only (``update_freq="epoch"``).

    Keras 3.15 calls ``tf.summary.scalar`` for every logged value after every batch even
    then; with no writer active nothing is written, but the ~25 calls cost ~4 ms per step
    here (MNIST config, 14.4 -> 18.3 ms). This drops the per-batch values.
    """

    def __init__(self, log_dir, **kwargs):
        super().__init__(log_dir, update_freq="epoch", **kwargs)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs=None)

    def on_test_end(self, logs=None):  # validation as epoch_<name> only, not also evaluation_*
        self._pop_writer()

    def on_epoch_end(self, epoch, logs=None):
        # Epoch k (1-based, as in gate_history.json) at step k; no validation copies of the
        # gate means and temperature, which validation does not change.
        logs = {k: v for k, v in (logs or {}).items()
                if not (k.startswith("val_gate_") or k == "val_temperature")}
        super().on_epoch_end(epoch + 1, logs)


class NonFiniteLossError(ValueError):
    """Training met a NaN or infinite loss (or weights); nothing of that state was saved."""


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or inf, before any checkpoint sees it.

    The logged loss is the epoch's running mean, which stays non-finite from the bad step
    on, so the first non-finite value names the bad step. Put this callback before
    ``RunCheckpoint``: Keras runs callbacks in order, so the error is raised before the
    checkpoint's batch-end save and the last checkpoint on disk is the last good state.
    """

    def __init__(self, checkpoint_dir):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not np.isfinite(loss):
            step = int(self.model.optimizer.iterations.numpy())
            where = f"at step {step}"
            if self.model.steps_per_execution > 1:  # the bad step is one of the last k run together
                where = f"in steps {step - self.model.steps_per_execution + 1}-{step}"
            raise NonFiniteLossError(
                f"non-finite loss ({loss}) {where} (epoch {self.epoch + 1}, batch {batch + 1}); "
                f"training stopped without saving it; last good checkpoint: "
                f"{tf.train.latest_checkpoint(self.checkpoint_dir) or 'none'}")


class RunCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer (with its step count) after every epoch and every K steps.

    The optimizer's ``iterations`` is the resume point: ``restore`` returns it and the
    trainer finishes the interrupted epoch from there. The tf.train.CheckpointManager
    writes a checkpoint's files before it atomically rewrites its index, so a run killed
    mid-save resumes from the previous complete checkpoint. A state with non-finite
    weights is never saved. ``write_directory`` (a scratch dir on non-chief workers)
    receives the saves; ``directory`` is where restores read from.
    """

    def __init__(self, directory, model, every_steps=None, max_to_keep=3, write_directory=None):
        super().__init__()
        self.directory = directory
        self.every_steps = every_steps
        model.optimizer.build(model.trainable_variables)
        self.iterations = model.optimizer.iterations
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        self.manager = tf.train.CheckpointManager(self.checkpoint, write_directory or directory,
                                                  max_to_keep=max_to_keep)
        self.last_saved = None
        self.noted = False

    def on_train_begin(self, logs=None):
        k = self.model.steps_per_execution
        if self.every_steps and self.every_steps % k and not self.noted:
            self.noted = True
            print(f"note: --checkpoint_every_steps={self.every_steps} is not a multiple of the {k} steps "
                  f"per execution: each checkpoint is written after the first call of {k} steps that "
                  f"passes a multiple of {self.every_steps}", file=sys.stderr)

    def restore(self):
        """Restore the latest checkpoint if there is one; return the number of steps done."""
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return 0
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        self.last_saved = int(self.iterations.numpy())
        return self.last_saved

    def save(self):
        step = int(self.iterations.numpy())
        if step == self.last_saved:
            return
        finite = [bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.model.trainable_variables]
        if not all(finite):
            raise NonFiniteLossError(f"non-finite weights after step {step}; not saved; last good "
                                     f"checkpoint: {tf.train.latest_checkpoint(self.directory) or 'none'}")
        self.manager.save(checkpoint_number=step)
        self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        # Save when the step count crossed a multiple of every_steps since the last save (with
        # steps_per_execution > 1 the callback sees every k-th step only).
        step = int(self.iterations.numpy())
        if self.every_steps and step // self.every_steps != (self.last_saved or 0) // self.every_steps:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        self.save()


class TrainTime(keras.callbacks.Callback):
    """Adds each finished epoch's wall-clock seconds to ``train_seconds`` in ``path`` (JSON), so
    a run stopped and resumed any number of times counts each finished epoch once (Table 1's
    training minutes). Put it last: an epoch's time then includes the other callbacks' work."""

    def __init__(self, path):
        super().__init__()
        self.path, self.start = path, None

    def on_train_begin(self, logs=None):
        self.seconds = 0.0
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.seconds = float(json.load(f)["train_seconds"])

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.start
        write_json_atomic(self.path, {"train_seconds": self.seconds})


class TestLogLikelihood(keras.callbacks.Callback):
    """Importance-sampled log p(x) on a fixed test subset every ``every`` epochs (Fig. 5).

    The subset (the split's first ``examples`` images, fixed binarization) and the samples'
    seed are the same at every evaluation, so the curve moves only with the weights. Values
    go to ``path`` ({"epochs", "log_likelihood", "stderr", "kl", "elbo", ...}, extended on
    resume) and to TensorBoard as ``test_log_likelihood`` under ``log_dir`` (epochs 1-based).
    """

    def __init__(self, path, dataset, data_dir, every, examples=1000, num_samples=100, epochs=None,
                 log_dir=None, batch_size=50):
        super().__init__()
        self.path, self.every, self.last_epoch = path, every, epochs
        self.num_samples, self.batch_size = num_samples, batch_size
        source = sources.resolve(dataset, data_dir, where="evaluation")  # the evaluation's test images
        self.info, self.data = source.info, source.evaluation_batches("test", batch_size, limit=examples, seed=0)
        self.total = min(examples, self.info.num_test)
        self.writer = tf.summary.create_file_writer(log_dir) if log_dir else None
        self.history = {"epochs": [], "log_likelihood": [], "stderr": [], "kl": [], "elbo": [],
                        "num_examples": self.total, "num_importance_samples": num_samples}
        if os.path.exists(path):
            with open(path) as f:
                self.history = json.load(f)
        self.batch_fn = None

    def due(self, epoch):
        """Whether to evaluate after 1-based ``epoch``: every ``every`` epochs and after the last."""
        return epoch % self.every == 0 or epoch == self.last_epoch

    def on_epoch_end(self, epoch, logs=None):
        epoch += 1
        if not self.due(epoch):
            return
        if self.batch_fn is None:
            self.batch_fn = importance.model_batch_fn(self.model, self.num_samples, min(self.num_samples, 500))
        per_example = importance.run_batches(self.batch_fn, self.data, self.batch_size, self.total, progress=False)
        ll, stderr = importance.mean_and_stderr(per_example["log_likelihood"])
        keep = [k for k, e in enumerate(self.history["epochs"]) if e < epoch]
        for key in ("epochs", "log_likelihood", "stderr", "kl", "elbo"):
            self.history[key] = [self.history[key][k] for k in keep]
        self.history["epochs"].append(epoch)
        self.history["log_likelihood"].append(ll)
        self.history["stderr"].append(stderr)
        self.history["kl"].append(float(np.mean(per_example["kl"])))
        self.history["elbo"].append(float(np.mean(per_example["elbo"])))
        write_json_atomic(self.path, self.history)
        if logs is not None:
            logs["test_log_likelihood"] = ll
        if self.writer is not None:
            with self.writer.as_default():
                tf.summary.scalar("test_log_likelihood", ll, step=epoch)
            self.writer.flush()


class FreezeStructure(keras.callbacks.Callback):
    """``--freeze_structure_epoch=E``: after E epochs of learning the gates, fix them at the MAP
    structure c* (mu > 0.5, Eq. 17) at the start of epoch E + 1 and train on with c = c*.

    The switch is a model variable (``DependencyGates.freeze``), so checkpoints carry it and a
    resumed run stays frozen (or freezes at the same point from the same gate means). ``path``
    (the chief's ``structure_frozen.json``) records when it froze and what it froze.
    """

    def __init__(self, epoch, path=None):
        super().__init__()
        self.epoch = epoch
        self.path = path

    def on_epoch_begin(self, epoch, logs=None):
        gates = self.model.gates
        if epoch < self.epoch or gates.is_frozen():
            return
        means = np.asarray(gates.means())
        adjacency = gates.freeze()
        if self.path:
            write_json_atomic(self.path, {
                "epoch": self.epoch, "step": int(self.model.optimizer.iterations.numpy()),
                "first_frozen_epoch": epoch + 1, "gate_means": means.round(6).tolist(),
                "map_adjacency": adjacency.astype(int).tolist()})
