"""Run configuration: the flags of ``bin/train.py`` and the dataclass they fill.

Flags are defined here once so that every ``bin/`` script shares them; library code
takes a ``TrainConfig`` and never reads flags itself.
"""
import dataclasses
import json
import os

from absl import flags

from tfgvae.distribute import STRATEGIES
from tfgvae.model import ModelConfig
from tfgvae.structure import STRUCTURES, validate_structure


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run (App. B.2 defaults: batch 64, Adam 1e-3, lr x0.25 every 200 epochs, tau x0.99/epoch)."""
    dataset: str = "mnist"
    data_dir: str | None = None
    structure: str = "graph"
    num_nodes: int = 5
    latent_dim: int = 80
    node_dim: int | None = None  # derived as latent_dim / num_nodes when not given
    decode_from: str = "first"
    per_example_gates: bool = True
    batch_size: int = 64
    epochs: int = 2000
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    train_limit: int | None = None
    learning_rate: float = 1e-3
    lr_decay_factor: float = 0.25
    lr_decay_epochs: int = 200
    initial_temperature: float = 1.0
    temperature_decay: float = 0.99
    min_temperature: float = 0.01
    seed: int = 0
    jit_compile: bool = True
    export_dir: str | None = None
    verbose: int = 1
    strategy: str = "default"
    logical_cpus: int = 0
    tpu_address: str | None = None
    sync_batch_norm: bool = True
    checkpoint_every_steps: int | None = None
    steps_per_execution: int = 1  # 0: the largest divisor of an epoch's steps up to 20

    def __post_init__(self):
        validate_structure(self.structure, self.num_nodes, self.latent_dim)
        if self.node_dim is not None and self.node_dim * self.num_nodes != self.latent_dim:
            raise ValueError(f"node_dim N'={self.node_dim} x num_nodes N={self.num_nodes} != "
                             f"latent_dim M={self.latent_dim}: give M and N, or N and N'")
        for name in ("batch_size", "epochs", "lr_decay_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps_per_execution < 0:
            raise ValueError(f"steps_per_execution must be >= 0 (0 picks one), got {self.steps_per_execution}")
        for name in ("steps_per_epoch", "validation_steps", "train_limit", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 when given, got {value}")
        if not 0.0 < self.min_temperature <= self.initial_temperature:
            raise ValueError(f"need 0 < min_temperature <= initial_temperature, got "
                             f"{self.min_temperature}, {self.initial_temperature}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.logical_cpus < 0:
            raise ValueError(f"logical_cpus must be >= 0, got {self.logical_cpus}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")

    def model_config(self, input_dim, likelihood):
        return ModelConfig(input_dim=input_dim, num_nodes=self.num_nodes,
                           node_dim=self.latent_dim // self.num_nodes, structure=self.structure,
                           likelihood=likelihood, decode_from=self.decode_from,
                           per_example_gates=self.per_example_gates)

    def temperature(self, epoch):
        """tau at a 0-based epoch: max(tau_0 * decay^epoch, tau_min) (App. B.2, floored)."""
        return max(self.initial_temperature * self.temperature_decay ** epoch, self.min_temperature)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def load(cls, workdir):
        with open(os.path.join(workdir, "config.json")) as f:
            return cls.from_dict(json.load(f))


# Fields whose change does not alter the run's model or data, so a run may resume with them changed.
# A run may also resume under another strategy or device count: the update does not depend on it.
RESUMABLE_FIELDS = ("epochs", "verbose", "export_dir", "data_dir", "jit_compile", "strategy",
                    "logical_cpus", "tpu_address", "checkpoint_every_steps", "steps_per_execution")


def define_flags():
    """Define one absl flag per TrainConfig field, plus --workdir."""
    d = TrainConfig()
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, TensorBoard logs, config, results.")
    flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (default SavedModels/<run name>).")
    flags.DEFINE_string("data_dir", None, "Dataset root laid out like ../shared/data (or $TFGVAE_DATA_DIR).")
    flags.DEFINE_string("dataset", d.dataset, "Dataset name.")
    flags.DEFINE_enum("structure", d.structure, STRUCTURES, "Latent dependency structure.")
    flags.DEFINE_integer("num_nodes", d.num_nodes, "N, the number of latent nodes.")
    flags.DEFINE_integer("latent_dim", d.latent_dim, "M, the total latent dimension.")
    flags.DEFINE_integer("node_dim", None, "N', dims per node; default M / N (must equal it if given).")
    flags.DEFINE_enum("decode_from", d.decode_from, ["first", "all"], "Decoder reads z_1 or all nodes.")
    flags.DEFINE_bool("per_example_gates", d.per_example_gates,
                      "One relaxed gate sample per example (else one per batch).")
    flags.DEFINE_integer("batch_size", d.batch_size, "Global mini-batch size.")
    flags.DEFINE_integer("epochs", d.epochs, "Number of epochs.")
    flags.DEFINE_integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the data).")
    flags.DEFINE_integer("validation_steps", None, "Validation batches per epoch (default: all).")
    flags.DEFINE_integer("train_limit", None, "Use only the first n training examples.")
    flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.")
    flags.DEFINE_float("lr_decay_factor", d.lr_decay_factor, "Learning-rate multiplier per decay period.")
    flags.DEFINE_integer("lr_decay_epochs", d.lr_decay_epochs, "Epochs per learning-rate decay.")
    flags.DEFINE_float("initial_temperature", d.initial_temperature, "Gumbel-softmax tau at epoch 0.")
    flags.DEFINE_float("temperature_decay", d.temperature_decay, "tau multiplier per epoch.")
    flags.DEFINE_float("min_temperature", d.min_temperature, "Floor of tau.")
    flags.DEFINE_integer("seed", d.seed, "Random seed (initialization, noise, gates, data order).")
    flags.DEFINE_bool("jit_compile", d.jit_compile, "Compile the train step with XLA.")
    flags.DEFINE_integer("verbose", d.verbose,
                         "0 silent; 1 or 2: one compact line per epoch (all metrics in TensorBoard).")
    flags.DEFINE_enum("strategy", d.strategy, STRATEGIES,
                      "tf.distribute strategy: one device, all local GPUs (mirrored), the cluster in "
                      "$TF_CONFIG (multi_worker) or a TPU. --batch_size is the global batch.")
    flags.DEFINE_integer("logical_cpus", d.logical_cpus,
                         "Split the CPU into this many logical devices (mirrored on a CPU-only machine).")
    flags.DEFINE_string("tpu_address", None, "TPU to connect to with --strategy=tpu (default: local).")
    flags.DEFINE_bool("sync_batch_norm", d.sync_batch_norm,
                      "Batch-norm moments over the global batch (all replicas), as on one device.")
    flags.DEFINE_integer("checkpoint_every_steps", None,
                         "Also checkpoint every this many steps, so a killed run resumes mid-epoch.")
    flags.DEFINE_integer("steps_per_execution", d.steps_per_execution,
                         "Train steps per compiled call (fewer host round trips; callbacks, "
                         "checkpoints and the NaN check then run every this many steps). It must "
                         "divide the steps of an epoch; 0 picks the largest divisor up to 20.")


def config_from_flags(values=None):
    """A TrainConfig from parsed flags (absl's FLAGS by default)."""
    values = values or flags.FLAGS
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{name: values[name].value for name in fields})
