"""Run configuration: the flags of ``bin/train.py`` and the dataclass they fill.

Flags are defined here once so that every ``bin/`` script shares them; library code
takes a ``TrainConfig`` and never reads flags itself.
"""
import dataclasses
import functools
import json
import os

from absl import flags

from tfgvae.core.adjacency import check_adjacency, read_adjacency
from tfgvae.data import DATASETS
from tfgvae.training.distribute import STRATEGIES
from tfgvae.core.model_config import ENCODER_GRAPHS, TOP_DOWN, ModelConfig
from tfgvae.core.nodes import HEAD_INITS
from tfgvae.core.schedules import Schedule
from tfgvae.data.sources import is_dataset_name, unknown_dataset_message
from tfgvae.core.structure import GATE_PARAMETERIZATIONS, STRUCTURES, validate_structure


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run (App. B.2 defaults: batch 64, Adam 1e-3, lr x0.25 every 200 epochs, tau x0.99/epoch)."""
    dataset: str = "mnist"
    data_dir: str | None = None
    structure: str = "graph"
    num_nodes: int = 5
    latent_dim: int = 80
    node_dim: int | None = None  # derived as latent_dim / num_nodes when not given
    decode_from: str = "all"
    per_example_gates: bool = True
    batch_size: int = 64
    epochs: int = 2000
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    train_limit: int | None = None
    learning_rate: float = 1e-3
    lr_decay_factor: float = 0.75
    lr_decay_epochs: float = 200
    initial_temperature: float = 1.0
    temperature_decay: float = 0.99
    min_temperature: float = 0.01
    seed: int = 0
    jit_compile: bool = True
    export_dir: str | None = None
    export: bool = True
    verbose: int = 1
    strategy: str = "default"
    logical_cpus: int = 0
    tpu_address: str | None = None
    sync_batch_norm: bool = True
    checkpoint_every_steps: int | None = None
    steps_per_execution: int = 1  # 0: the largest divisor of an epoch's steps up to 20
    kl_warmup_fraction: float = 0.5  # KL weight from 0 to 1 linearly over this part of training
    gate_init: float = 0.5
    gate_lr_multiplier: float = 1.0
    head_hidden: int | None = None
    test_ll_every_epochs: int = 0  # 0: no periodic test log-likelihood (Fig. 5)
    test_ll_examples: int = 1000
    test_ll_samples: int = 100
    adjacency: tuple | None = None  # structure "custom": the matrix (--adjacency reads it from a file)
    freeze_structure_epoch: int | None = None  # learn gates for this many epochs, then fix c* (Eq. 17)
    encoder_graph: str = "shared"  # "fc": q's top-down heads read every parent (Sec. 4.3 ablation)
    gate_parameterization: str = "logit"  # the gates' learned weight: logit(mu), or mu (Eq. 9)
    edge_cost: float = 0.0  # lambda of the sparsity cost lambda * sum(mu) (nats per edge and example)
    log_gate_gradients: bool = False  # per-edge d ELBO / d mu by part, in gate_history.json and TensorBoard
    top_down: str = "independent"  # "shared": one top-down MLP per node for p and q (ys1998's code)
    head_init: str = "per_node"  # "stacked": the per-node kernels' initialization before 2026-12-06
    # Not flags: what a run on your own data (tfgvae.data.sources) records of it; None: the dataset's.
    input_shape: tuple | None = None
    likelihood: str | None = None

    def __post_init__(self):
        if self.adjacency is not None:  # config.json gives lists: keep tuples, so configs compare equal
            object.__setattr__(self, "adjacency", tuple(tuple(int(v) for v in row) for row in self.adjacency))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
        validate_structure(self.structure, self.num_nodes, self.latent_dim, self.adjacency)
        if self.freeze_structure_epoch is not None and (
                self.structure != "graph" or self.freeze_structure_epoch < 1):
            raise ValueError(f"freeze_structure_epoch needs --structure=graph and a value >= 1, got "
                             f"{self.freeze_structure_epoch} with structure {self.structure!r}")
        if self.node_dim is not None and self.node_dim * self.num_nodes != self.latent_dim:
            raise ValueError(f"node_dim N'={self.node_dim} x num_nodes N={self.num_nodes} != "
                             f"latent_dim M={self.latent_dim}: give M and N, or N and N'")
        for name in ("batch_size", "epochs", "test_ll_examples", "test_ll_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr_decay_epochs",):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.test_ll_every_epochs < 0:
            raise ValueError(f"test_ll_every_epochs must be >= 0, got {self.test_ll_every_epochs}")
        if self.steps_per_execution < 0:
            raise ValueError(f"steps_per_execution must be >= 0 (0 picks one), got {self.steps_per_execution}")
        for name in ("steps_per_epoch", "validation_steps", "train_limit", "checkpoint_every_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 when given, got {value}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if self.logical_cpus < 0:
            raise ValueError(f"logical_cpus must be >= 0, got {self.logical_cpus}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        self.model_config(None, self.likelihood or "bernoulli")  # ModelConfig and Schedule check theirs
        self.schedule(1)

    def model_config(self, input_dim, likelihood, input_shape=None):
        """The run's ModelConfig: every field of the same name, node_dim = M / N, and the data's
        ``input_dim``, ``likelihood`` and ``input_shape`` (default the run's)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(ModelConfig)
                  if f.name in TRAIN_FIELDS}
        input_shape = self.input_shape if input_shape is None else input_shape
        if input_shape is not None:
            input_dim = None  # the shape's
        return ModelConfig(**dict(shared, input_dim=input_dim, likelihood=likelihood, input_shape=input_shape,
                                  node_dim=self.latent_dim // self.num_nodes,
                                  freezable_gates=self.freeze_structure_epoch is not None))

    def schedule(self, steps_per_epoch):
        """The run's annealing (``tfgvae.Schedule``, fields of the same name) for epochs of
        ``steps_per_epoch`` steps."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Schedule) if f.name in TRAIN_FIELDS}
        return Schedule(**dict(shared, steps_per_epoch=steps_per_epoch))

    def temperature(self, epoch):
        """tau at a 0-based epoch: max(tau_0 * decay^epoch, tau_min) (App. B.2, floored)."""
        return self.schedule(1).epoch_temperature(epoch)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def load(cls, workdir):
        """A run's config.json; one without ``head_init`` was trained before it existed: stacked."""
        with open(os.path.join(workdir, "config.json")) as f:
            return cls.from_dict(dict({"head_init": "stacked"}, **json.load(f)))


TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))
NON_FLAG_FIELDS = frozenset({"input_shape", "likelihood"})  # set by train_and_evaluate for your own data

# Fields whose change does not alter the run's model or data, so a run may resume with them changed.
# A run may also resume under another strategy or device count: the update does not depend on it,
# and with another head_init: a resumed run starts from its checkpoint, not from initial weights.
RESUMABLE_FIELDS = ("epochs", "head_init", "verbose", "export_dir", "export", "data_dir", "jit_compile",
                    "strategy", "logical_cpus", "tpu_address", "checkpoint_every_steps", "steps_per_execution",
                    "test_ll_every_epochs", "test_ll_examples", "test_ll_samples")


def define_flags(flag_values=None):
    """Define one absl flag per TrainConfig field (but NON_FLAG_FIELDS), plus --workdir, in
    ``flag_values`` (absl's FLAGS)."""
    fv = flags.FLAGS if flag_values is None else flag_values
    d = TrainConfig()
    string, enum = (functools.partial(f, flag_values=fv) for f in (flags.DEFINE_string, flags.DEFINE_enum))
    integer, float_, bool_ = (functools.partial(f, flag_values=fv)
                              for f in (flags.DEFINE_integer, flags.DEFINE_float, flags.DEFINE_bool))

    def choice(name, choices, help_):  # an enum flag whose default is TrainConfig's
        enum(name, getattr(d, name), list(choices), help_)

    string("workdir", None, "Run directory: checkpoints, TensorBoard logs, config, results.")
    string("export_dir", None, "Where the SavedModel goes (default SavedModels/<run name>).")
    bool_("export", d.export, "Write the SavedModel when training ends (--noexport: skip it; "
          "bin/export.py --workdir=RUN writes one from the checkpoint later).")
    string("data_dir", None, "Dataset root laid out like ../shared/data (or $TFGVAE_DATA_DIR).")
    string("dataset", d.dataset, f"Dataset: {', '.join(DATASETS)} (docs/data.md), or an .npz file "
           "of train/valid/test arrays in [0, 1] (your own data).")
    flags.register_validator("dataset", is_dataset_name, flag_values=fv, message=unknown_dataset_message())
    choice("structure", STRUCTURES, "Latent dependency structure.")
    integer("num_nodes", d.num_nodes, "N, the number of latent nodes.")
    integer("latent_dim", d.latent_dim, "M, the total latent dimension.")
    integer("node_dim", None, "N', dims per node; default M / N (must equal it if given).")
    choice("decode_from", ["first", "all"],
         "Decoder input: all nodes (default; docs/results.md) or z_1 only (App. B.1).")
    bool_("per_example_gates", d.per_example_gates,
          "One relaxed gate sample per example (else one per batch).")
    integer("batch_size", d.batch_size, "Global mini-batch size.")
    integer("epochs", d.epochs, "Number of epochs.")
    integer("steps_per_epoch", None, "Steps per epoch (default: one pass over the data).")
    integer("validation_steps", None, "Validation batches per epoch (default: all).")
    integer("train_limit", None, "Use only the first n training examples.")
    float_("learning_rate", d.learning_rate, "Adam learning rate.")
    float_("lr_decay_factor", d.lr_decay_factor, "Learning-rate multiplier per decay period.")
    float_("lr_decay_epochs", d.lr_decay_epochs, "Epochs per learning-rate decay.")
    float_("initial_temperature", d.initial_temperature, "Gumbel-softmax tau at epoch 0.")
    float_("temperature_decay", d.temperature_decay, "tau multiplier per epoch.")
    float_("min_temperature", d.min_temperature, "Floor of tau.")
    integer("seed", d.seed, "Random seed (initialization, noise, gates, data order).")
    bool_("jit_compile", d.jit_compile, "Compile the train step with XLA.")
    integer("verbose", d.verbose,
            "0 silent; 1 or 2: one compact line per epoch (all metrics in TensorBoard).")
    choice("strategy", STRATEGIES,
         "tf.distribute strategy: one device, all local GPUs (mirrored), the cluster in "
         "$TF_CONFIG (multi_worker) or a TPU. --batch_size is the global batch.")
    integer("logical_cpus", d.logical_cpus,
            "Split the CPU into this many logical devices (mirrored on a CPU-only machine).")
    string("tpu_address", None, "TPU to connect to with --strategy=tpu (default: local).")
    bool_("sync_batch_norm", d.sync_batch_norm,
          "Batch-norm moments over the global batch (all replicas), as on one device.")
    integer("checkpoint_every_steps", None,
            "Also checkpoint every this many steps, so a killed run resumes mid-epoch.")
    integer("steps_per_execution", d.steps_per_execution,
            "Train steps per compiled call (fewer host round trips; callbacks, "
            "checkpoints and the NaN check then run every this many steps). It must "
            "divide the steps of an epoch; 0 picks the largest divisor up to 20.")
    float_("kl_warmup_fraction", d.kl_warmup_fraction,
           "KL warm-up: the KL term's weight rises linearly from 0 to 1 over this "
           "fraction of the epochs (Sonderby et al., 2016; docs/results.md); 0 trains "
           "the plain ELBO from the start.")
    float_("gate_init", d.gate_init, "Initial Bernoulli mean of every learned gate.")
    float_("gate_lr_multiplier", d.gate_lr_multiplier,
           "The gate logits learn this many times faster than the other weights.")
    integer("head_hidden", None, "Width of the bottom-up heads' hidden layer (default "
            "128); the VAE baseline uses a wider one to match parameter counts.")
    integer("test_ll_every_epochs", d.test_ll_every_epochs,
            "Every this many epochs, estimate the test log-likelihood on a fixed "
            "subset (Fig. 5; test_ll_history.json and TensorBoard); 0: never.")
    integer("test_ll_examples", d.test_ll_examples, "Test images in that estimate.")
    integer("test_ll_samples", d.test_ll_samples, "Importance samples k in that estimate.")
    string("adjacency", None,
           "JSON file of the fixed DAG c[j][i] (parent j -> child i, 0-based) for "
           "--structure=custom: a run's structure.json, {\"adjacency\": rows} or rows.")
    integer("freeze_structure_epoch", None,
            "Learn the gates for this many epochs, then fix the MAP structure and train on.")
    choice("encoder_graph", ENCODER_GRAPHS,
         "Posterior graph: the learned gates (shared) or fully connected (fc, Sec. 4.3).")
    choice("gate_parameterization", GATE_PARAMETERIZATIONS,
         "The gates' learned weight: logit(mu) (unconstrained), or the Bernoulli mean mu itself "
         "(Eq. 9; projected into [0, 1] after every step, so 0 and 1 are absorbing).")
    float_("edge_cost", d.edge_cost,
           "Sparsity cost lambda: training minimises -ELBO + lambda * (sum of gate means), "
           "nats per edge and example (a Bernoulli edge prior of log-odds -lambda); 0: Eq. 8.")
    choice("top_down", TOP_DOWN,
         "q's top-down MLPs: independent weights (App. B) or p's own (shared: one MLP per node, "
         "as in the public PyTorch re-implementation).")
    choice("head_init", HEAD_INITS,
         "Initial weights of the per-node head layers: Glorot with each node's fans (per_node), "
         "or Keras' Glorot over the stack of nodes, sqrt(stack) smaller (stacked: runs before "
         "2026-12-06; docs/results.md).")
    bool_("log_gate_gradients", d.log_gate_gradients,
          "Log d ELBO / d mu of every gate, split into reconstruction and KL parts, as epoch "
          "means (gate_history.json, TensorBoard grad_*); one more backward pass per step.")


def config_from_flags(values=None):
    """A TrainConfig from parsed flags (absl's FLAGS by default)."""
    values = values or flags.FLAGS
    kwargs = {name: values[name].value for name in TRAIN_FIELDS - NON_FLAG_FIELDS}
    if kwargs["adjacency"] is not None:  # the flag names a file; the config holds its matrix
        path = kwargs["adjacency"]
        kwargs["adjacency"] = check_adjacency(read_adjacency(path), kwargs["num_nodes"], source=path)
    return TrainConfig(**kwargs)


def config_from_flagfile(path, **overrides):
    """(TrainConfig, workdir) of a flagfile such as configs/mnist.cfg, parsed by absl in a fresh
    FlagValues (absl's FLAGS untouched); ``overrides`` are flags given after it, e.g. epochs=2."""
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["config", f"--flagfile={path}", *(f"--{k}={v}" for k, v in overrides.items())])
    return config_from_flags(fv), fv["workdir"].value
