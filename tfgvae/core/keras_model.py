"""What makes ``GraphVAE`` a first-class Keras model: its config for ``model.save`` and
``keras.saving.load_model``, the checks ``fit`` runs on its data, a progress bar a person can
read, and the output shapes ``summary()`` shows.

The config holds the ``ModelConfig`` and the ``Schedule`` as plain dicts and your own encoder and
decoder as Keras serializes them (App. B's MLPs, rebuilt from the ModelConfig, as None); the
weights, the gates, the temperature and the optimizer with its step count (the schedule's
position) travel in the file as any Keras model's do.
"""
import dataclasses
import json
import os
import uuid

import keras
import tensorflow as tf

from tfgvae.core.model_config import ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.data import sources

PROGRESS_METRICS = ("loss", "elbo", "kl", "reconstruction")  # fit's progress bar: these and their val_
NETWORKS = ("encoder", "decoder")


def one_line(error):
    """An exception's first paragraph on one line (Keras' messages run over several)."""
    text = str(error).strip().split("\n\n")[0]
    return " ".join(text.split()) or type(error).__name__


def plain(record):
    """A frozen dataclass as a dict of JSON values (tuples as lists), for a Keras config."""
    return json.loads(json.dumps(dataclasses.asdict(record)))


def shown(logs):
    """The logs the progress bar prints: ``PROGRESS_METRICS`` and their validation values."""
    logs = logs or {}
    names = [*PROGRESS_METRICS, *(f"val_{name}" for name in PROGRESS_METRICS)]
    return {name: logs[name] for name in names if name in logs}


class ProgressBar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar with the loss and the ELBO's terms only; every other value (gates,
    per-node KL, temperature, KL weight, gate gradients) still reaches History, ``evaluate``,
    TensorBoard and the other callbacks."""

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, shown(logs))


def fit_data(data, where, example_shape):
    """``data`` as ``fit`` takes it, checked as the other entry points check examples
    (``tfgvae.data.sources``): arrays whole (and converted to float32), a tf.data.Dataset by its
    dtype and first batch, (x, y, ...) tuples by x; anything else is left to Keras."""
    if isinstance(data, tf.data.Dataset):
        return sources.check_batches(data, where, example_shape)
    if isinstance(data, tuple) and data:
        return (fit_data(data[0], where, example_shape), *data[1:])
    if hasattr(data, "__array__"):
        return sources.check_examples(data, where, example_shape)
    return data


class KerasModel:
    """Mixed into ``GraphVAE`` before ``keras.Model``: ``get_config``/``from_config``, a ``save`` that
    fails whole, ``fit`` with its checks and progress bar, and ``summary()``'s shapes."""

    def get_config(self):
        """The constructor's arguments as JSON values (``keras.saving``)."""
        networks = {name: None if getattr(self, f"default_{name}") else
                    keras.saving.serialize_keras_object(getattr(self, name)) for name in NETWORKS}
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                "config": plain(self.config), "seed": self.draw_seed(), "schedule": plain(self.schedule),
                "fit_schedule": None if self.fit_schedule is None else plain(self.fit_schedule), **networks}

    def draw_seed(self):
        """The seed of the model's draws (drawn by Keras if none was given): training's gates and
        noise are a function of it and the step count (``GraphVAE.step_draws``)."""
        return int(self.seed_generator.state.numpy()[0])

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model built from ``get_config``'s values, its weights initialized (``load_model`` then
        loads the saved ones)."""
        config = dict(config)
        networks = {name: config.pop(name, None) for name in NETWORKS}
        networks = {name: None if value is None else keras.saving.deserialize_keras_object(
            value, custom_objects=custom_objects) for name, value in networks.items()}
        fit_schedule = config.pop("fit_schedule", None)
        model = cls(ModelConfig(**config.pop("config")), seed=config.pop("seed", None),
                    schedule=Schedule(**config.pop("schedule")), **networks, **config)
        model.fit_schedule = None if fit_schedule is None else Schedule(**fit_schedule)
        return model

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """``keras.Model.save``: a ``.keras`` file is written next to ``filepath`` and renamed onto it,
        so it is whole or absent; a model Keras cannot serialize (e.g. a layer of your network built
        from a Python object) or an existing file with ``overwrite=False`` raises ValueError (one
        line) before anything is written."""
        path = os.fspath(filepath)
        for name in (*NETWORKS, "model"):  # your networks first: the message then names the culprit
            try:
                json.dumps(keras.saving.serialize_keras_object(self if name == "model" else getattr(self, name)))
            except Exception as e:  # Keras raises NotImplementedError, TypeError, ValueError ... here
                what = "the model" if name == "model" else f"its {name}"
                raise ValueError(f"cannot save {path}: Keras cannot serialize {what}: {one_line(e)}") from None
        if os.path.exists(path) and not overwrite:
            raise ValueError(f"cannot save {path}: it exists (overwrite=True replaces it)")
        if "://" not in path and not os.path.isdir(os.path.dirname(path) or "."):
            raise ValueError(f"cannot save {path}: its folder does not exist")
        if getattr(self, "optimizer", None) is not None and not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)  # as load_model will: its slots then load
        if zipped is False or not path.endswith(".keras") or "://" in path:
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        tmp = f"{path[:-len('.keras')]}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.keras"
        try:
            super().save(tmp, overwrite=True, zipped=zipped, **kwargs)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def fit(self, x=None, y=None, *args, callbacks=None, validation_data=None, **kwargs):
        """``keras.Model.fit`` once ``x`` and ``validation_data`` pass the examples' checks (shape, dtype,
        [0, 1]; a Dataset's first batch), with a progress bar of the loss and the ELBO's terms."""
        shape = self.config.example_shape
        x = fit_data(x, "fit", shape)
        if validation_data is not None:
            validation_data = fit_data(validation_data, "fit (validation_data)", shape)
        if kwargs.get("verbose", "auto") != 0 and (callbacks is None or isinstance(callbacks, (list, tuple))) \
                and not any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks or ()):
            callbacks = [*(callbacks or ()), ProgressBar()]
        return super().fit(x, y, *args, callbacks=callbacks, validation_data=validation_data, **kwargs)

    def show_output_shapes(self):
        """Build the gates (their weights exist from the start) and give the layers without a
        Keras call of their own the output shapes ``summary()`` prints."""
        cfg, n, d = self.config, self.config.num_nodes, self.config.node_dim
        if not self.gates.built:
            self.gates.build((None, n, n))
        params = 2 if cfg.likelihood == "gaussian" else 1
        shapes = [(self.bottom_up, ((None, n, d), (None, n, d))), (self.top_down, (None, n - 1, d)),
                  (self.gates, (None, n, n)), (self.head, (None, cfg.input_dim, params))]
        for layer, shape in shapes:
            if layer is not None:
                layer.output_shape = shape
