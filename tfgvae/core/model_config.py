"""The model's architecture as one frozen record (Sec. 3, App. B): N nodes of N' dims, the
structure, likelihood, gate and head settings; validated when built."""
import dataclasses
import json
import math

from tfgvae.core import likelihoods
from tfgvae.core.nodes import kernel_initializer
from tfgvae.core.structure import GATE_PARAMETERIZATIONS, validate_structure

ENCODER_GRAPHS = ("shared", "fc")  # the posterior's graph: the prior's gates, or fully connected
TOP_DOWN = ("independent", "shared")  # q's top-down MLPs: their own weights (App. B), or p's


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's architecture; M = num_nodes * node_dim.

    ``input_shape`` is one example's shape, e.g. (28, 28, 1), for networks that want it; None
    means flat (``input_dim``,). ``input_dim`` D (default 784) is its number of values.
    """
    input_dim: int | None = None
    num_nodes: int = 5
    node_dim: int = 16
    structure: str = "graph"
    likelihood: str = "bernoulli"
    decode_from: str = "all"  # "all": the decoder reads every node; "first": z_1 only (App. B.1)
    per_example_gates: bool = True  # one relaxed structure per example, else one per batch
    hidden: int = 128
    head_hidden: int | None = None  # width of MLP_BU's hidden layer (default ``hidden``); footnote 2
    gate_init: float = 0.5  # initial Bernoulli mean of every learned gate
    gate_lr_multiplier: float = 1.0  # the gates' logits move this many times faster (see DependencyGates)
    adjacency: tuple | None = None  # structure "custom": c[j][i], 0/1 (tfgvae.core.adjacency)
    freezable_gates: bool = False  # learned gates carry the variables that freeze them (--freeze_structure_epoch)
    encoder_graph: str = "shared"  # "shared": q's top-down heads read c * z_pa; "fc": all parents (Sec. 4.3)
    gate_parameterization: str = "logit"  # the learned weight: logit(mu), or mu itself (Eq. 9; DependencyGates)
    edge_cost: float = 0.0  # lambda: training minimises -ELBO + lambda * sum of gate means (nats per edge)
    log_gate_gradients: bool = False  # log d ELBO / d mu per edge, split into reconstruction and KL parts
    top_down: str = "independent"  # "shared": q's top-down Gaussian is p's (one MLP, as ys1998's code)
    head_init: str = "per_node"  # the per-node kernels' Glorot fans: each node's, or the stack's (HEAD_INITS)
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
        if self.encoder_graph not in ENCODER_GRAPHS:
            raise ValueError(f"encoder_graph must be one of {', '.join(ENCODER_GRAPHS)}, got {self.encoder_graph!r}")
        if self.node_dim < 1 or self.input_dim < 1:
            raise ValueError(f"node_dim and input_dim must be >= 1, got {self.node_dim}, {self.input_dim}")
        if self.decode_from not in ("first", "all"):
            raise ValueError(f"decode_from must be 'first' or 'all', got {self.decode_from!r}")
        if self.head_hidden is not None and self.head_hidden < 1:
            raise ValueError(f"head_hidden must be >= 1, got {self.head_hidden}")
        if not 0.0 < self.gate_init < 1.0:
            raise ValueError(f"gate_init is a Bernoulli mean and must lie in (0, 1), got {self.gate_init}")
        if self.gate_lr_multiplier <= 0:
            raise ValueError(f"gate_lr_multiplier must be > 0, got {self.gate_lr_multiplier}")
        if self.gate_parameterization not in GATE_PARAMETERIZATIONS:
            raise ValueError(f"gate_parameterization must be one of {', '.join(GATE_PARAMETERIZATIONS)}, "
                             f"got {self.gate_parameterization!r}")
        if self.edge_cost < 0:
            raise ValueError(f"edge_cost must be >= 0, got {self.edge_cost}")
        kernel_initializer(self.head_init, 1)  # a bad name fails here, with the message
        if self.top_down not in TOP_DOWN:
            raise ValueError(f"top_down must be one of {', '.join(TOP_DOWN)}, got {self.top_down!r}")
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
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    @property
    def bottom_up_hidden(self):
        return self.hidden if self.head_hidden is None else self.head_hidden
