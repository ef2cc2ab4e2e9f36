"""The training schedule of App. B.2 as a function of the optimizer's step count.

``GraphVAE.train_step`` reads both values from ``optimizer.iterations``: plain ``compile`` +
``fit`` anneals the Gumbel-softmax temperature and warms up the KL weight with no callback,
and a run resumed from a checkpoint (which holds the step count) continues exactly.
"""
import dataclasses
import math
from dataclasses import field

import keras
import numpy as np
import tensorflow as tf

from tfgvae.settings import flag

MAX_TABLE_EPOCHS = 100_000  # tau is looked up per epoch up to here (or the floor, or the last epoch)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """tau(s) = max(tau_0 decay^e, tau_min) in epoch e = s // steps_per_epoch; KL weight
    beta(s) = min(1, (s + 1) / W), W = round(kl_warmup_fraction x epochs x steps_per_epoch), or
    round(kl_warmup_epochs x steps_per_epoch) (a fixed length, whatever the run's), 1 if W = 0.

    ``steps_per_epoch`` and ``epochs`` left None are those of the ``fit`` call (``resolved``). A field
    with help text is also a flag of ``bin/train.py`` (``tfgvae.settings.flag``).
    """
    initial_temperature: float = field(default=1.0, metadata=flag("Gumbel-softmax tau at epoch 0."))
    temperature_decay: float = field(default=0.99, metadata=flag("tau multiplier per epoch."))
    min_temperature: float = field(default=0.01, metadata=flag("Floor of tau."))
    kl_warmup_fraction: float = field(default=0.5, metadata=flag(
        "KL warm-up: the KL term's weight rises linearly from 0 to 1 over this fraction of the epochs "
        "(Sonderby et al., 2016; docs/results.md); 0 trains the plain ELBO from the start."))
    kl_warmup_epochs: float = field(default=0.0, metadata=flag(
        "KL warm-up of a fixed length: the weight rises linearly from 0 to 1 over this many epochs, whatever "
        "--epochs is (with --kl_warmup_fraction=0)."))
    steps_per_epoch: int | None = field(default=None, metadata=flag(
        "Steps per epoch (default: one pass over the data)."))
    epochs: int | None = field(default=None, metadata=flag("Number of epochs."))

    def __post_init__(self):
        if not 0.0 < self.min_temperature <= self.initial_temperature:
            raise ValueError(f"need 0 < min_temperature <= initial_temperature, got "
                             f"{self.min_temperature}, {self.initial_temperature}")
        if not 0.0 < self.temperature_decay <= 1.0:
            raise ValueError(f"temperature_decay must lie in (0, 1], got {self.temperature_decay}")
        if not 0.0 <= self.kl_warmup_fraction <= 1.0:
            raise ValueError(f"kl_warmup_fraction must lie in [0, 1], got {self.kl_warmup_fraction}")
        if self.kl_warmup_epochs < 0 or (self.kl_warmup_epochs and self.kl_warmup_fraction):
            raise ValueError(f"kl_warmup_epochs must be >= 0, and given only with kl_warmup_fraction=0; got "
                             f"{self.kl_warmup_epochs:g} with {self.kl_warmup_fraction:g}")
        for name in ("steps_per_epoch", "epochs"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 when given, got {getattr(self, name)}")

    @classmethod
    def constant(cls, temperature=1.0):
        """No annealing: tau fixed at ``temperature`` and the plain ELBO (KL weight 1) from step 0."""
        return cls(temperature, 1.0, temperature, 0.0, 0.0)

    @property
    def anneals(self):
        """Whether tau decays with the epochs."""
        return self.temperature_decay < 1.0 and self.min_temperature < self.initial_temperature

    @property
    def is_resolved(self):
        """Whether the schedule needs no length from a ``fit`` call."""
        needs_epochs = self.kl_warmup_fraction > 0
        needs_steps = self.anneals or needs_epochs or self.kl_warmup_epochs > 0
        return (self.steps_per_epoch is not None or not needs_steps) and (
            self.epochs is not None or not needs_epochs)

    def resolved(self, steps_per_epoch, epochs):
        """This schedule with the missing ``steps_per_epoch`` and ``epochs`` taken from a fit call."""
        filled = dataclasses.replace(self, steps_per_epoch=self.steps_per_epoch or steps_per_epoch,
                                     epochs=self.epochs or epochs)
        if not filled.is_resolved:
            raise ValueError("the temperature and KL schedule needs the epoch length: give fit "
                             "steps_per_epoch (the data has no known size) or Schedule(steps_per_epoch=...)")
        return filled

    @property
    def kl_warmup_steps(self):
        """W, the steps over which the KL weight rises to 1 (0: no warm-up)."""
        if self.kl_warmup_epochs:
            return int(round(self.kl_warmup_epochs * self.steps_per_epoch))
        if not self.kl_warmup_fraction:
            return 0
        return int(round(self.kl_warmup_fraction * self.epochs * self.steps_per_epoch))

    def epoch_temperature(self, epoch):
        """tau at a 0-based (possibly fractional) epoch: max(tau_0 decay^epoch, tau_min), a float."""
        return max(self.initial_temperature * self.temperature_decay ** epoch, self.min_temperature)

    def temperature_table(self):
        """float32 tau of epochs 0, 1, ... up to the floor or the last epoch (then constant)."""
        last = 0
        if self.anneals:
            last = math.ceil(math.log(self.min_temperature / self.initial_temperature)
                             / math.log(self.temperature_decay))
            last = min(last, self.epochs or last, MAX_TABLE_EPOCHS)
        return np.array([self.epoch_temperature(e) for e in range(last + 1)], np.float32)

    def temperature(self, step):
        """tau at optimizer step ``step`` (an int tensor): ``epoch_temperature`` of its epoch, float32."""
        table = self.temperature_table()
        if len(table) == 1:
            return tf.constant(table[0])
        epoch = tf.cast(step, tf.int64) // self.steps_per_epoch
        return tf.gather(tf.constant(table), tf.minimum(epoch, len(table) - 1))

    def kl_weight(self, step):
        """beta at optimizer step ``step`` (the count of steps already taken), float32."""
        warmup = self.kl_warmup_steps
        if not warmup:
            return tf.constant(1.0)
        return tf.minimum(1.0, tf.cast(step + 1, tf.float32) / float(warmup))


class ScheduledModel:
    """What a model needs to follow its ``schedule`` (mixed into ``GraphVAE``): ``compile`` takes
    one, ``fit`` sizes it, ``anneal`` and ``kl_weight`` read it at a step."""

    def compile(self, *args, schedule=None, **kwargs):
        """``keras.Model.compile``; ``schedule`` (a ``tfgvae.Schedule``) replaces the model's."""
        if schedule is not None:
            self.schedule, self.fit_schedule = schedule, None
        return super().compile(*args, **kwargs)

    def compile_from_config(self, config):
        """Compile a model loaded by ``keras.saving.load_model`` as it was saved (Keras' own method
        skips an overridden ``compile``); the schedule comes back with the model's config."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, *args, callbacks=None, **kwargs):
        """``keras.Model.fit``; a schedule left without ``steps_per_epoch`` or ``epochs`` takes this call's."""
        if callbacks is None or isinstance(callbacks, (list, tuple)):
            callbacks = [SizeSchedule(), *(callbacks or [])]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def size_schedule(self, steps_per_epoch, epochs):
        """Fill the schedule's missing length from a fit call (retracing the step if that changes it)."""
        sized = self.schedule.resolved(steps_per_epoch, epochs)
        if sized != self.fit_schedule:
            self.fit_schedule = sized
            if self.train_function is not None:
                self.make_train_function(force=True)

    def active_schedule(self):
        """The schedule the training step follows: ``schedule``, sized by the fit call if need be.

        Outside ``fit`` (``train_on_batch``, your own loop) a schedule without ``steps_per_epoch``
        and ``epochs`` holds tau at its initial value and the KL weight at 1 (``Schedule.constant``).
        """
        if self.schedule.is_resolved:
            return self.schedule
        return self.fit_schedule or Schedule.constant(self.schedule.initial_temperature)

    def anneal(self, step):
        """Set tau to the schedule's value at optimizer step ``step`` (App. B.2)."""
        self.temperature.assign(self.active_schedule().temperature(step))

    def kl_weight(self, step):
        """KL warm-up (Sonderby et al., 2016): beta = min(1, (step + 1) / W) (``Schedule.kl_weight``).

        Training minimises -(reconstruction - beta * KL); the logged ``elbo`` is always the
        true one (beta = 1). ``step`` is the optimizer's count of steps already taken.
        """
        return self.active_schedule().kl_weight(step)


class SizeSchedule(keras.callbacks.Callback):
    """Gives the model's schedule the fit call's steps per epoch and epochs (``GraphVAE.fit`` adds it)."""

    def on_train_begin(self, logs=None):
        self.model.size_schedule(self.params.get("steps"), self.params.get("epochs"))
