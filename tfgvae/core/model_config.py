"""The model's architecture as one frozen record (Sec. 3, App. B): N nodes of N' dims, the
structure, likelihood, gate and head settings; validated when built."""
import dataclasses
import json
import math
from dataclasses import field

from tfgvae.core import likelihoods
from tfgvae.core.nodes import HEAD_INITS
from tfgvae.core.structure import GATE_PARAMETERIZATIONS, STRUCTURES, validate_structure
from tfgvae.settings import check_choices, flag

ENCODER_GRAPHS = ("shared", "fc")  # the posterior's graph: the prior's gates, or fully connected
TOP_DOWN = ("independent", "shared")  # q's top-down MLPs: their own weights (App. B), or p's
DECODE_FROM = ("first", "all")  # the decoder's input: z_1 (App. B.1), or every node


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's architecture; M = num_nodes * node_dim.

    ``input_shape`` is one example's shape, e.g. (28, 28, 1), for networks that want it; None
    means flat (``input_dim``,). ``input_dim`` D (default 784) is its number of values. A field
    with help text is also a flag of ``bin/train.py`` (``tfgvae.settings.flag``); ``--latent_dim`` M
    gives N' = M / N.
    """
    input_dim: int | None = None
    num_nodes: int = field(default=5, metadata=flag("N, the number of latent nodes."))
    node_dim: int = field(default=16, metadata=flag(
        "N', dims per node; default M / N (must equal it if given).", flag_default=None))
    structure: str = field(default="graph", metadata=flag("Latent dependency structure.", choices=STRUCTURES))
    likelihood: str = "bernoulli"  # the data's: Bernoulli (binary) or Gaussian (CIFAR-10)
    decode_from: str = field(default="all", metadata=flag(
        "Decoder input: all nodes (default; docs/results.md) or z_1 only (App. B.1).", choices=DECODE_FROM))
    per_example_gates: bool = field(default=True, metadata=flag(
        "One relaxed gate sample per example (else one per batch)."))
    hidden: int = 128  # width of App. B's hidden layers
    head_hidden: int | None = field(default=None, metadata=flag(
        "Width of the bottom-up heads' hidden layer (default 128); the VAE baseline uses a wider one to match "
        "parameter counts (footnote 2)."))
    gate_init: float = field(default=0.5, metadata=flag("Initial Bernoulli mean of every learned gate."))
    gate_lr_multiplier: float = field(default=1.0, metadata=flag(
        "The gate logits learn this many times faster than the other weights."))
    # The flag names a JSON file (read by tfgvae.training.config); the field holds its matrix.
    adjacency: tuple | None = field(default=None, metadata=flag(
        "JSON file of the fixed DAG c[j][i] (parent j -> child i, 0-based) for --structure=custom: a run's "
        'structure.json, {"adjacency": rows} or rows.', flag_type=str))
    freezable_gates: bool = False  # learned gates carry the variables that freeze them
    encoder_graph: str = field(default="shared", metadata=flag(
        "Posterior graph: the learned gates (shared) or fully connected (fc, Sec. 4.3).",
        choices=ENCODER_GRAPHS))
    gate_parameterization: str = field(default="logit", metadata=flag(
        "The gates' learned weight: logit(mu) (unconstrained), or the Bernoulli mean mu itself (Eq. 9; "
        "projected into [0, 1] after every step, so 0 and 1 are absorbing).", choices=GATE_PARAMETERIZATIONS))
    gate_trainable: bool = field(default=True, metadata=flag(
        "Learn the gate means (--nogate_trainable: keep them at --gate_init, or on --gate_trajectory: "
        "relaxed-gate noise without structure learning, docs/results.md)."))
    edge_cost: float = field(default=0.0, metadata=flag(
        "Sparsity cost lambda: training minimises -ELBO + lambda * (sum of gate means), nats per edge and "
        "example (a Bernoulli edge prior of log-odds -lambda); 0: Eq. 8."))
    log_gate_gradients: bool = field(default=False, metadata=flag(
        "Log d ELBO / d mu of every gate, split into reconstruction and KL parts, as epoch means "
        "(gate_history.json, TensorBoard grad_*); one more backward pass per step."))
    top_down: str = field(default="independent", metadata=flag(
        "q's top-down MLPs: independent weights (App. B) or p's own (shared: one MLP per node, as in the "
        "public PyTorch re-implementation).", choices=TOP_DOWN))
    head_init: str = field(default="per_node", metadata=flag(
        "Initial weights of the per-node head layers: Glorot with each node's fans (per_node), or Keras' "
        "Glorot over the stack of nodes, sqrt(stack) smaller (stacked: runs before 0.2.0; docs/results.md).",
        choices=HEAD_INITS))
    input_shape: tuple | None = None

    def __post_init__(self):
        if self.adjacency is not None:  # JSON gives lists: keep tuples, so configs compare equal
            object.__setattr__(self, "adjacency", tuple(tuple(int(v) for v in row) for row in self.adjacency))
        if self.input_shape is not None:
            object.__setattr__(self, "input_shape", tuple(int(v) for v in self.input_shape))
            if not self.input_shape or min(self.input_shape) < 1:
                raise ValueError(f"input_shape must be a tuple of sizes >= 1, got {self.input_shape}")
            if self.input_dim not in (None, math.prod(self.input_shape)):
                raise ValueError(f"input_dim={self.input_dim} is not the {math.prod(self.input_shape)} "
                                 f"values of input_shape={self.input_shape}: give one of them")
        object.__setattr__(self, "input_dim", self.input_dim or (
            784 if self.input_shape is None else math.prod(self.input_shape)))
        validate_structure(self.structure, self.num_nodes, adjacency=self.adjacency)
        check_choices(self)
        if self.node_dim < 1 or self.input_dim < 1:
            raise ValueError(f"node_dim and input_dim must be >= 1, got {self.node_dim}, {self.input_dim}")
        if self.head_hidden is not None and self.head_hidden < 1:
            raise ValueError(f"head_hidden must be >= 1, got {self.head_hidden}")
        if not 0.0 < self.gate_init < 1.0:
            raise ValueError(f"gate_init is a Bernoulli mean and must lie in (0, 1), got {self.gate_init}")
        if self.gate_lr_multiplier <= 0:
            raise ValueError(f"gate_lr_multiplier must be > 0, got {self.gate_lr_multiplier}")
        if self.edge_cost < 0:
            raise ValueError(f"edge_cost must be >= 0, got {self.edge_cost}")
        if self.top_down == "shared" and self.encoder_graph == "fc":
            raise ValueError("top_down 'shared' needs encoder_graph 'shared': one MLP cannot read "
                             "gated parents for p and ungated ones for q")
        if self.likelihood not in likelihoods.LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.likelihood!r}: choose one of "
                             f"{', '.join(likelihoods.LIKELIHOODS)}")

    @property
    def latent_dim(self):
        """M = N N'."""
        return self.num_nodes * self.node_dim

    @property
    def example_shape(self):
        """One example's shape: ``input_shape``, or (input_dim,)."""
        return self.input_shape or (self.input_dim,)

    def to_json(self):
        """The config as JSON, every field by name."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        """The config of ``to_json``'s text."""
        return cls(**json.loads(text))

    @property
    def bottom_up_hidden(self):
        """Width of the bottom-up heads' hidden layer: ``head_hidden``, else ``hidden``."""
        return self.hidden if self.head_hidden is None else self.head_hidden
