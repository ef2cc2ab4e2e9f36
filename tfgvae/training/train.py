"""``train_and_evaluate(config, workdir)``: the whole training run behind ``bin/train.py``."""
import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

from tfgvae import atomic
from tfgvae.data import sources
from tfgvae.serving import export
from tfgvae.training import artifacts, callbacks, distribute, summaries
from tfgvae.training.config import RESUMABLE_FIELDS, TrainConfig
from tfgvae.training.runs import build_model  # noqa: F401  (also tfgvae.training.train.build_model)


def prepare_workdir(config, workdir, write=True):
    """Create ``workdir`` and record the config (unless ``write`` is False); refuse to resume a
    run with a different model."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"workdir {workdir} is a file; it must name a folder (new or existing)")
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):  # config.json of any version: nested, or flat (TrainConfig.load)
        previous = TrainConfig.load(workdir).flat_dict()
        changed = sorted(k for k, v in config.flat_dict().items()
                         if k not in RESUMABLE_FIELDS and previous.get(k) != v)
        if changed:
            raise ValueError(f"{workdir} holds a run with different settings ({', '.join(changed)}): "
                             "use a new --workdir or the same flags")
    if write:
        atomic.write_json(path, config.to_dict())


def check_budget(config, workdir, done, steps):
    """Refuse to 'resume' a run already trained past its ``epochs`` (its config.json would then
    name fewer epochs than its weights had), or a started run with a KL warm-up under other
    ``epochs``: the warm-up is a fraction of them, so it would change mid-run."""
    epochs, fraction = config.schedule.epochs, config.schedule.kl_warmup_fraction
    if done > epochs * steps:
        raise ValueError(f"{workdir} was trained for {done} steps ({done / steps:g} epochs), more than "
                         f"--epochs={epochs}: use a new --workdir or --epochs >= {math.ceil(done / steps)}")
    if not done or not fraction or not os.path.exists(os.path.join(workdir, "config.json")):
        return
    planned = TrainConfig.load(workdir).schedule.epochs
    if planned != epochs:
        raise ValueError(f"{workdir} warms the KL up over {fraction:g} of its {planned} "
                         f"epochs: --epochs={epochs} would change the warm-up mid-run; use a new "
                         f"--workdir or --epochs={planned}")


def optimizer(config, steps_per_epoch):
    """Adam with the paper's step decay: x lr_decay_factor every lr_decay_epochs epochs."""
    return keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=config.lr_decay_epochs * steps_per_epoch,
        decay_rate=config.lr_decay_factor, staircase=True))


def compile_model(model, config, steps_per_epoch, steps_per_execution=1):
    """``optimizer`` and the run's schedule (``TrainConfig.schedule`` with epochs of ``steps_per_epoch``
    steps): tau annealed per epoch and the KL warm-up over the first ``kl_warmup_fraction`` of them."""
    schedule = dataclasses.replace(config.schedule, steps_per_epoch=steps_per_epoch)
    model.compile(optimizer=optimizer(config, steps_per_epoch), jit_compile=config.jit_compile,
                  steps_per_execution=steps_per_execution, schedule=schedule)
    return model


def source_of(config, data=None):
    """(Source, config) of a run: ``data`` (your own, ``tfgvae.data.sources``) or ``config.dataset``;
    for your own data the config records its name, example shape and likelihood."""
    where = "train_and_evaluate"
    source = sources.resolve(config.dataset if data is None else data, config.data_dir,
                             likelihood=config.model.likelihood, where=where)
    if not source.registered:
        model = dataclasses.replace(config.model, input_dim=None, input_shape=source.example_shape,
                                    likelihood=source.info.likelihood)
        config = dataclasses.replace(config, dataset=source.info.name, model=model)
    return source, config


def datasets(config, data=None):
    """(info, train(k, count=None), validation dataset, steps per epoch) of ``config.dataset`` or ``data``.

    ``train(k)`` is the endless training stream from batch k on; batch k is a function of
    (seed, k) only, so a resumed run sees the batches of the uninterrupted one
    (docs/distributed.md). ``train(cursor, count)``, with ``cursor`` a tf.Variable, is the
    ``count`` batches from batch ``cursor`` as each new iterator finds it: one epoch per
    iteration (``fit``), where ``train.bounded`` (not for a tf.data.Dataset of your own:
    ``Source.indexed``).
    The validation dataset holds ``validation_steps`` batches when that is set. Bad data fail
    here, before anything is written.
    """
    source, config = source_of(config, data)
    steps = config.schedule.steps_per_epoch
    if steps is None:  # one pass over the (limited) training split
        size = source.size(config.train_split, config.train_limit)
        if size is None:
            raise ValueError("the training data do not say how many examples they hold: give steps_per_epoch")
        steps = size // config.batch_size
        if steps < 1:
            raise ValueError(f"the training split of {source.info.name} has fewer examples than one batch "
                             f"of {config.batch_size}")
    options = tf.data.Options()  # in-memory data: each worker takes its share of every batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA

    def train(start_step, count=None):
        if count is not None and not (train.bounded and isinstance(start_step, tf.Variable)):
            raise ValueError("train(cursor, count) needs a tf.Variable cursor and indexed data")
        ds = source.train_stream(config.batch_size, config.seed, start_step, config.train_limit,
                                 split=config.train_split)
        if count is not None:
            ds = ds.take(count).apply(tf.data.experimental.assert_cardinality(count))
        return ds.with_options(options)

    train.bounded = source.indexed(config.train_split)
    train(0)  # fail early on bad training data
    valid = source.batches("valid", config.batch_size)
    if config.validation_steps:  # a finite dataset, so that executions of k steps end with it
        valid = valid.take(config.validation_steps)
    return source.info, train, valid.with_options(options), steps


AUTO_STEPS_PER_EXECUTION = 20  # the most steps per compiled call that --steps_per_execution=0 picks


def steps_per_execution(k, counts, bounded=False):
    """Steps per compiled call for fit calls of ``counts`` steps: {count: what it is}.

    ``bounded``: each fit epoch is a dataset of its own steps (``datasets``' ``train(cursor,
    count)``), so the epoch's last call runs the steps left and any k will do; k = 0 picks
    ``AUTO_STEPS_PER_EXECUTION``. Otherwise Keras runs whole executions of k steps, so k must
    divide every count (else it would silently run more), and k = 0 picks the largest such k up
    to ``AUTO_STEPS_PER_EXECUTION`` (11 for 781 steps, 1 for a prime such as 937).
    """
    if bounded:
        return k or AUTO_STEPS_PER_EXECUTION
    if k == 0:
        common = math.gcd(*counts)
        return max(d for d in range(1, AUTO_STEPS_PER_EXECUTION + 1) if common % d == 0)
    for steps, what in counts.items():
        if steps % k:
            divisors = [d for d in range(1, steps + 1) if steps % d == 0]
            raise ValueError(f"--steps_per_execution={k} does not divide the {steps} {what} (Keras would "
                             f"run {-(-steps // k) * k}); use one of {', '.join(map(str, divisors[:10]))}, "
                             "or 0 to pick one")
    return k


def default_export_dir(workdir):
    return os.path.join("SavedModels", os.path.basename(os.path.normpath(workdir)))


class EpochCursor(keras.callbacks.Callback):
    """Points ``cursor`` (the first batch of ``train(cursor, count)``) at each epoch's first
    batch, or at ``done`` in the epoch a resumed run finishes, before its iterator starts."""

    def __init__(self, cursor, steps, done):
        super().__init__()
        self.cursor, self.steps, self.done = cursor, steps, done

    def on_epoch_begin(self, epoch, logs=None):
        self.cursor.assign(max(epoch * self.steps, self.done))


def epoch_feed(train, steps, done=0):
    """(feed, callbacks) for ``fit`` calls from step ``done``: ``feed(first_epoch, count)`` is the
    data of a call whose epochs are ``count`` steps, as ``fit`` keyword arguments.

    Where ``train.bounded``, each epoch is ``train(cursor, count)``, which ends with its data
    whatever the steps per execution, and ``callbacks`` is the ``EpochCursor`` that moves the
    cursor; else the endless ``train(k)`` from that epoch's first step, cut by ``steps_per_epoch``.
    """
    if train.bounded:
        cursor = tf.Variable(done, dtype=tf.int64, trainable=False, name="epoch_cursor")
        return (lambda first_epoch, count: {"x": train(cursor, count)}), [EpochCursor(cursor, steps, done)]
    return (lambda first_epoch, count: {"x": train(first_epoch * steps + steps - count),
                                         "steps_per_epoch": count}), []


def fit(model, config, train, valid, steps, done, callback_list):
    """Train from step ``done`` to the run's epochs x ``steps``: first the rest of an interrupted epoch
    (the data of each call: ``epoch_feed``). Returns the last epoch's validation metrics (validation
    is a deterministic function of the weights, so these are the final model's), or None when there
    was nothing to train.
    """
    epoch, offset = divmod(done, steps)
    epochs = config.schedule.epochs
    feed, cursor_callbacks = epoch_feed(train, steps, done)
    common = dict(validation_data=valid, shuffle=False, verbose=0,
                  callbacks=cursor_callbacks + callback_list)  # the console is summaries.ConsoleLog
    history = None
    if offset and epoch < epochs:
        history = model.fit(**feed(epoch, steps - offset), epochs=epoch + 1, initial_epoch=epoch, **common)
        epoch += 1
    if epoch < epochs:
        history = model.fit(**feed(epoch, steps), epochs=epochs, initial_epoch=epoch, **common)
    if history is None:
        return None
    return {k[len("val_"):]: float(np.mean(v[-1])) for k, v in history.history.items()
            if k.startswith("val_")}


def train_and_evaluate(config, workdir, data=None, encoder=None, decoder=None):
    """Train (resuming from ``workdir`` if it holds a checkpoint), validate, export (unless
    ``config.export`` is False); return metrics.

    ``data``: your own data instead of ``config.dataset`` (``tfgvae.data.sources``: a dict of
    train/valid(/test) arrays or tf.data.Datasets, or an .npz file); ``encoder``, ``decoder``:
    your own networks (``GraphVAE``). Runs under ``config.strategy``; every process of a
    multi-worker run calls this with the same (shared) ``workdir``, and only the chief writes.
    """
    strategy = distribute.make_strategy(config.strategy, config.logical_cpus, config.tpu_address)
    chief = distribute.is_chief(strategy)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas of --strategy={config.strategy}")
    keras.utils.set_random_seed(config.seed)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    source, config = source_of(config, data)
    info, train, valid, steps = datasets(config, source)  # bad data fails before anything is written
    k = steps_per_execution(config.steps_per_execution, {steps: "training steps of an epoch"}, train.bounded)
    if chief:  # refuse other settings before restoring; config.json is written after the restore
        prepare_workdir(config, workdir, write=False)
    with strategy.scope():
        model = compile_model(build_model(config, info, encoder, decoder), config, steps, k)
        if config.sync_batch_norm:
            distribute.synchronize_batch_norm(model)
        scratch = distribute.write_dir(ckpt_dir, strategy)
        checkpoint = callbacks.RunCheckpoint(ckpt_dir, model, config.checkpoint_every_steps,
                                             write_directory=scratch)
    done = checkpoint.restore()
    check_budget(config, workdir, done, steps)
    if chief:
        prepare_workdir(config, workdir)
    epochs = config.schedule.epochs
    if not train.bounded and done % steps and done < epochs * steps:  # the first fit call ends the interrupted epoch
        model.steps_per_execution = steps_per_execution(config.steps_per_execution, {
            steps: "training steps of an epoch",
            steps - done % steps: f"steps left of the epoch interrupted at step {done}"})
    if done and chief and config.verbose:
        print(f"Resuming {workdir} at step {done} (epoch {done // steps + 1}, batch {done % steps + 1}).")
    callback_list = [callbacks.NonFiniteGuard(ckpt_dir), checkpoint]
    if config.gate_trajectory:
        callback_list.insert(0, callbacks.GateTrajectory(config.gate_trajectory, steps, config.model.gate_init))
    if config.freeze_structure_epoch is not None:  # before the epoch's first step
        callback_list.insert(0, callbacks.FreezeStructure(
            config.freeze_structure_epoch, os.path.join(workdir, "structure_frozen.json") if chief else None))
    if chief:
        callback_list += [callbacks.GateHistory(os.path.join(workdir, "gate_history.json"))]
        if config.test_ll_every_epochs:  # before TensorBoard and the console, which then log its value
            callback_list.append(callbacks.TestLogLikelihood(
                os.path.join(workdir, "test_ll_history.json"), source, config.data_dir,
                config.test_ll_every_epochs, config.test_ll_examples, config.test_ll_samples,
                epochs=epochs, log_dir=os.path.join(workdir, "logs", "test")))
        callback_list.append(callbacks.EpochTensorBoard(os.path.join(workdir, "logs")))
        if config.strategy != "multi_worker":  # model calls on the chief alone could wait on the others
            callback_list.append(summaries.ImageSummaries(os.path.join(workdir, "logs"), valid, info.image_shape))
        if config.verbose:
            callback_list.append(summaries.ConsoleLog(epochs))
        callback_list.append(callbacks.TrainTime(os.path.join(workdir, "timing.json")))
    results = fit(model, config, train, valid, steps, done, callback_list)
    distribute.discard(scratch, strategy)
    if results is None:  # the run had already finished: validate the restored weights
        results = model.evaluate(valid, verbose=0, return_dict=True)
        results = {k: float(np.mean(v)) for k, v in results.items()}
    export_dir = config.export_dir or default_export_dir(workdir)
    if chief:
        atomic.write_json(os.path.join(workdir, "results.json"),
                          {"split": "valid", "dataset": config.dataset, "structure": config.model.structure,
                           "metrics": results, "data_note": info.note, "epochs": epochs})
        artifacts.write_structure_artifacts(model, workdir)
    if config.export:
        target = distribute.write_dir(export_dir, strategy)  # saving is collective: every worker exports
        export.export_saved_model(model, target, image_shape=info.image_shape)
        distribute.discard(target, strategy)
    return results
