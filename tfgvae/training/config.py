"""A training run's settings: ``TrainConfig``, its config.json, and the flags of ``bin/train.py``.

A ``TrainConfig`` holds the model's ``ModelConfig``, its annealing ``Schedule`` and the settings
only a run has. Each setting is one field in one place, with its default, help text and choices
(``tfgvae.settings.flag``); ``define_flags`` makes one flag per field that has help text, named as the
field, so a flagfile and config.json's flat form name settings alike. Library code takes a
``TrainConfig`` and never reads flags itself.
"""
import dataclasses
import json
import os
import types
from dataclasses import field

from absl import flags

from tfgvae import flagfiles
from tfgvae.core.adjacency import check_adjacency, read_adjacency
from tfgvae.core.model_config import ModelConfig
from tfgvae.core.schedules import Schedule
from tfgvae.core.structure import validate_structure
from tfgvae.data import DATASETS
from tfgvae.data.info import TRAINING_SPLITS
from tfgvae.data.sources import is_dataset_name, unknown_dataset_message
from tfgvae.settings import check_choices, flag
from tfgvae.training.distribute import STRATEGIES

PAPER_EPOCHS = 2000  # App. B.2's training length (CIFAR-10's: 3,000, in its configs)
LATENT_DIM_HELP = "M, the total latent dimension; N' = M / N."  # a flag, not a field: ModelConfig.latent_dim


def paper_schedule():
    """The paper's annealing (``Schedule``'s defaults) over its ``PAPER_EPOCHS``."""
    return Schedule(epochs=PAPER_EPOCHS)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run: the model (``model``), its annealing (``schedule``, whose ``epochs`` is the
    run's length) and what only a run has: data, Adam with App. B.2's step decay, seed, devices,
    checkpoints, export.

    ``TrainConfig.from_dict`` takes settings named as the flags, e.g. ``TrainConfig.from_dict(
    {"num_nodes": 3, "latent_dim": 12, "epochs": 4})`` (M = ``latent_dim`` gives N' = M / N). On a
    registered dataset the model's ``input_dim`` and ``likelihood`` are the dataset's.
    """
    dataset: str = field(default="mnist", metadata=flag(
        f"Dataset: {', '.join(DATASETS)} (docs/data.md), or an .npz file of "
        "train/valid/test arrays in [0, 1] (your own data).",
        validator=(is_dataset_name, unknown_dataset_message())))
    data_dir: str | None = field(default=None, metadata=flag(
        "Dataset root laid out like ../shared/data (or $TFGVAE_DATA_DIR)."))
    train_split: str = field(default="train", metadata=flag(
        "Training data: the training split, or train+valid (the whole training source, MNIST's 60,000 images; "
        "validation then reports images trained on).", choices=TRAINING_SPLITS))
    train_limit: int | None = field(default=None, metadata=flag("Use only the first n training examples."))
    model: ModelConfig = field(default_factory=ModelConfig)
    schedule: Schedule = field(default_factory=paper_schedule)
    batch_size: int = field(default=64, metadata=flag("Global mini-batch size."))
    validation_steps: int | None = field(default=None, metadata=flag(
        "Validation batches per epoch (default: all)."))
    learning_rate: float = field(default=1e-3, metadata=flag("Adam learning rate."))
    lr_decay_factor: float = field(default=0.75, metadata=flag("Learning-rate multiplier per decay period."))
    lr_decay_epochs: float = field(default=200, metadata=flag("Epochs per learning-rate decay."))
    seed: int = field(default=0, metadata=flag("Random seed (initialization, noise, gates, data order)."))
    jit_compile: bool = field(default=True, metadata=flag("Compile the train step with XLA."))
    steps_per_execution: int = field(default=1, metadata=flag(
        "Train steps per compiled call (fewer host round trips; callbacks, checkpoints and the NaN check then "
        "run every this many steps). Each epoch's last call runs the steps left; with a tf.data.Dataset of your "
        "own k must divide the steps of an epoch. 0 picks 20 (your own Dataset: the largest divisor up to 20)."))
    verbose: int = field(default=1, metadata=flag(
        "0 silent; 1 or 2: one compact line per epoch (all metrics in TensorBoard)."))
    strategy: str = field(default="default", metadata=flag(
        "tf.distribute strategy: one device, all local GPUs (mirrored), the cluster in $TF_CONFIG "
        "(multi_worker) or a TPU. --batch_size is the global batch.", choices=STRATEGIES))
    logical_cpus: int = field(default=0, metadata=flag(
        "Split the CPU into this many logical devices (mirrored on a CPU-only machine)."))
    tpu_address: str | None = field(default=None, metadata=flag(
        "TPU to connect to with --strategy=tpu (default: local)."))
    sync_batch_norm: bool = field(default=True, metadata=flag(
        "Batch-norm moments over the global batch (all replicas), as on one device."))
    checkpoint_every_steps: int | None = field(default=None, metadata=flag(
        "Also checkpoint every this many steps, so a killed run resumes mid-epoch."))
    test_ll_every_epochs: int = field(default=0, metadata=flag(
        "Every this many epochs, estimate the test log-likelihood on a fixed subset (Fig. 5; "
        "test_ll_history.json and TensorBoard); 0: never."))
    test_ll_examples: int = field(default=1000, metadata=flag("Test images in that estimate."))
    test_ll_samples: int = field(default=100, metadata=flag("Importance samples k in that estimate."))
    freeze_structure_epoch: int | None = field(default=None, metadata=flag(
        "Learn the gates for this many epochs, then fix the MAP structure and train on."))
    gate_trajectory: str | None = field(default=None, metadata=flag(
        "With --nogate_trainable: a graph run's gate_history.json; the means follow its epoch-end values, "
        "linearly interpolated within each epoch."))
    export_dir: str | None = field(default=None, metadata=flag(
        "Where the SavedModel goes (default SavedModels/<run name>)."))
    export: bool = field(default=True, metadata=flag(
        "Write the SavedModel when training ends (--noexport: skip it; bin/export.py --workdir=RUN writes one "
        "from the checkpoint later)."))

    def __post_init__(self):
        if self.schedule.epochs is None:
            raise ValueError("a run needs its length: schedule=Schedule(epochs=...)")
        check_choices(self)
        model = dataclasses.replace(self.model, freezable_gates=self.freeze_structure_epoch is not None)
        if self.dataset in DATASETS:  # the registered data's example size and likelihood
            info = DATASETS[self.dataset]
            model = dataclasses.replace(model, likelihood=info.likelihood,
                                        input_dim=None if model.input_shape else info.input_dim)
        object.__setattr__(self, "model", model)
        if self.freeze_structure_epoch is not None and (
                model.structure != "graph" or self.freeze_structure_epoch < 1):
            raise ValueError(f"freeze_structure_epoch needs --structure=graph and a value >= 1, got "
                             f"{self.freeze_structure_epoch} with structure {model.structure!r}")
        for name in ("batch_size", "test_ll_examples", "test_ll_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("validation_steps", "train_limit", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 when given, got {value}")
        for name in ("learning_rate", "lr_decay_epochs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("test_ll_every_epochs", "steps_per_execution", "logical_cpus"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.gate_trajectory is not None and (model.structure != "graph" or model.gate_trainable):
            raise ValueError("gate_trajectory needs --structure=graph and --nogate_trainable")

    def to_dict(self):
        """The config as config.json holds it: the run's fields, with ``model`` and ``schedule``
        as dicts of theirs."""
        return dataclasses.asdict(self)

    def flat_dict(self):
        """Every setting under its flag name: the run's, the model's and the schedule's fields, and
        M = ``latent_dim`` (``from_dict`` reads it back)."""
        values = self.to_dict()
        return dict(values.pop("model"), **values.pop("schedule"), **values, latent_dim=self.model.latent_dim)

    @classmethod
    def from_dict(cls, values):
        """A config of a dict: nested as ``to_dict`` writes it, or flat, every setting under its flag
        name (``flat_dict``, config.json of runs that predate the nested form, the flags), where
        ``latent_dim`` M (default 80) gives N' = M / N and a ``likelihood`` of None the data's.
        Settings left out take their defaults; unknown keys are dropped."""
        values = dict(values)
        nested = isinstance(values.get("model"), dict)
        model = {k: v for k, v in (values.pop("model", None) or {}).items() if k in MODEL_FIELDS}
        schedule = {k: v for k, v in (values.pop("schedule", None) or {}).items() if k in SCHEDULE_FIELDS}
        model.update((k, values.pop(k)) for k in list(values) if k in MODEL_FIELDS)
        schedule.update((k, values.pop(k)) for k in list(values) if k in SCHEDULE_FIELDS)
        if not nested:
            model["node_dim"] = node_dim(model, values.pop("latent_dim", None))
            if model.get("likelihood", "") is None:
                del model["likelihood"]
        return cls(model=ModelConfig(**model), schedule=dataclasses.replace(DEFAULTS.schedule, **schedule),
                   **{k: v for k, v in values.items() if k in RUN_FIELDS})

    @classmethod
    def load(cls, workdir):
        """A run's config.json, nested or flat; a flat one without ``head_init`` was trained before it
        existed: stacked."""
        with open(os.path.join(workdir, "config.json")) as f:
            values = json.load(f)
        if "model" not in values:
            values.setdefault("head_init", "stacked")
        return cls.from_dict(values)


def node_dim(model, latent_dim):
    """N' = M / N of model settings named as the flags (M default 80); a given ``node_dim`` must agree."""
    n = model.get("num_nodes", DEFAULTS.model.num_nodes)
    m = DEFAULTS.model.latent_dim if latent_dim is None else latent_dim
    validate_structure(model.get("structure", DEFAULTS.model.structure), n, m, model.get("adjacency"))
    given = model.get("node_dim")
    if given is not None and given * n != m:
        raise ValueError(f"node_dim N'={given} x num_nodes N={n} != latent_dim M={m}: give M and N, or N and N'")
    return m // n


DEFAULTS = TrainConfig()
MODEL_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelConfig))
SCHEDULE_FIELDS = frozenset(f.name for f in dataclasses.fields(Schedule))
RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig)) - {"model", "schedule"}

# Settings whose change does not alter the run's model or data, so a run may resume with them changed.
# A run may also resume under another strategy or device count: the update does not depend on it,
# and with another head_init: a resumed run starts from its checkpoint, not from initial weights.
RESUMABLE_FIELDS = ("epochs", "head_init", "verbose", "export_dir", "export", "data_dir", "jit_compile",
                    "strategy", "logical_cpus", "tpu_address", "checkpoint_every_steps", "steps_per_execution",
                    "test_ll_every_epochs", "test_ll_examples", "test_ll_samples")


def flag_fields():
    """(field, default) of every setting that is a flag, in TrainConfig's order with the model's and
    the schedule's fields in the places of ``model`` and ``schedule``."""
    for outer in dataclasses.fields(TrainConfig):
        if outer.name in ("model", "schedule"):
            part = getattr(DEFAULTS, outer.name)
            pairs = [(f, getattr(part, f.name)) for f in dataclasses.fields(part)]
        else:
            pairs = [(outer, getattr(DEFAULTS, outer.name))]
        for f, default in pairs:
            if f.metadata.get("help"):
                yield f, f.metadata.get("flag_default", default)


def _flag_type(setting):
    kind = setting.metadata.get("flag_type", setting.type)
    if isinstance(kind, types.UnionType):  # int | None and the like
        kind = next(k for k in kind.__args__ if k is not type(None))
    return kind


def define_flags(flag_values=None):
    """Define --workdir and one absl flag per setting with help text (``flag_fields``), plus M's
    ``--latent_dim``, in ``flag_values`` (absl's FLAGS by default): type, default, choices and help
    from the field."""
    fv = flags.FLAGS if flag_values is None else flag_values
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, TensorBoard logs, config, results.",
                        flag_values=fv)
    define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
              str: flags.DEFINE_string}
    for setting, default in flag_fields():
        if setting.name == "node_dim":
            flags.DEFINE_integer("latent_dim", DEFAULTS.model.latent_dim, LATENT_DIM_HELP, flag_values=fv)
        meta = setting.metadata
        if meta["choices"]:
            flags.DEFINE_enum(setting.name, default, list(meta["choices"]), meta["help"], flag_values=fv)
        else:
            define[_flag_type(setting)](setting.name, default, meta["help"], flag_values=fv)
        if "validator" in meta:
            checker, message = meta["validator"]
            flags.register_validator(setting.name, checker, message=message, flag_values=fv)


def config_from_flags(values=None):
    """A TrainConfig from parsed flags (absl's FLAGS by default); --adjacency names a file."""
    values = values or flags.FLAGS
    settings = {f.name: values[f.name].value for f, _ in flag_fields()}
    settings["latent_dim"] = values["latent_dim"].value
    if settings["adjacency"] is not None:  # the flag names a file; the config holds its matrix
        path = settings["adjacency"]
        settings["adjacency"] = check_adjacency(read_adjacency(path), settings["num_nodes"], source=path)
    return TrainConfig.from_dict(settings)


def config_from_flagfile(path, **overrides):
    """(TrainConfig, workdir) of a flagfile such as configs/mnist.cfg (nested flagfiles and shipped
    config names resolved by ``tfgvae.flagfiles``), parsed by absl in a fresh FlagValues (absl's FLAGS
    untouched); ``overrides`` are flags given after it, e.g. epochs=2."""
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["config", *flagfiles.expand([f"--flagfile={path}", *(f"--{k}={v}" for k, v in overrides.items())])])
    return config_from_flags(fv), fv["workdir"].value
