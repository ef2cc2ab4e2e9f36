"""``train_and_evaluate(config, workdir)``: the whole training run behind ``bin/train.py``."""
import json
import os

import keras

from tfgvae import callbacks, data, export
from tfgvae.config import RESUMABLE_FIELDS, TrainConfig
from tfgvae.model import GraphVAE


def prepare_workdir(config, workdir):
    """Create ``workdir`` and record the config; refuse to resume a run with a different model."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path):
        previous = TrainConfig.load(workdir).to_dict()
        changed = sorted(k for k, v in config.to_dict().items()
                         if k not in RESUMABLE_FIELDS and previous.get(k) != v)
        if changed:
            raise ValueError(f"{workdir} holds a run with different settings ({', '.join(changed)}): "
                             "use a new --workdir or the same flags")
    callbacks.write_json_atomic(path, config.to_dict())


def build_model(config, info):
    """An uncompiled GraphVAE for ``config`` on a dataset described by ``info``."""
    return GraphVAE(config.model_config(info.input_dim, info.likelihood), seed=config.seed,
                    temperature=config.temperature(0))


def compile_model(model, config, steps_per_epoch):
    """Adam with the paper's step decay (x lr_decay_factor every lr_decay_epochs epochs)."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate, decay_steps=config.lr_decay_epochs * steps_per_epoch,
        decay_rate=config.lr_decay_factor, staircase=True)
    model.compile(optimizer=keras.optimizers.Adam(schedule), jit_compile=config.jit_compile)
    return model


def datasets(config):
    """(info, train dataset, validation dataset, steps per epoch)."""
    info = data.DATASETS.get(config.dataset)
    if info is None:
        raise ValueError(f"unknown dataset {config.dataset!r}: choose one of {', '.join(data.DATASETS)}")
    train = data.make_dataset(config.dataset, "train", config.data_dir, batch_size=config.batch_size,
                              shuffle=True, seed=config.seed, drop_remainder=True,
                              repeat=config.steps_per_epoch is not None, limit=config.train_limit)
    valid = data.make_dataset(config.dataset, "valid", config.data_dir, batch_size=config.batch_size)
    steps = config.steps_per_epoch or int(train.cardinality())
    if steps < 1:
        raise ValueError(f"the training split of {config.dataset} has fewer examples than one batch "
                         f"of {config.batch_size}")
    return info, train, valid, steps


def default_export_dir(workdir):
    return os.path.join("SavedModels", os.path.basename(os.path.normpath(workdir)))


def train_and_evaluate(config, workdir):
    """Train (resuming from ``workdir`` if it holds a checkpoint), validate, export; return metrics."""
    keras.utils.set_random_seed(config.seed)
    info, train, valid, steps = datasets(config)  # bad data fails before anything is written
    prepare_workdir(config, workdir)
    model = compile_model(build_model(config, info), config, steps)
    checkpoint = callbacks.RunCheckpoint(os.path.join(workdir, "checkpoints"), model)
    initial_epoch = checkpoint.restore()
    if initial_epoch and config.verbose:
        print(f"Resuming {workdir} after epoch {initial_epoch}.")
    if initial_epoch < config.epochs:
        model.fit(train, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                  validation_data=valid, validation_steps=config.validation_steps,
                  verbose=config.verbose, callbacks=[
                      callbacks.TemperatureSchedule(config.temperature),
                      callbacks.GateHistory(os.path.join(workdir, "gate_history.json")),
                      checkpoint,
                      keras.callbacks.TensorBoard(os.path.join(workdir, "logs")),
                  ])
    results = model.evaluate(valid, steps=config.validation_steps, verbose=0, return_dict=True)
    results = {k: float(v) for k, v in results.items()}
    callbacks.write_json_atomic(os.path.join(workdir, "results.json"),
                                {"split": "valid", "dataset": config.dataset,
                                 "structure": config.structure, "metrics": results,
                                 "epochs": config.epochs})
    export.export_saved_model(model, config.export_dir or default_export_dir(workdir))
    return results
