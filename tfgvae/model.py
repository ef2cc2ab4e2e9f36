"""The Graph VAE model and its expected-ELBO objective (Sec. 3, Eqs. 5-8, App. B).

One ``GraphVAE`` class serves all four structures (``graph``, ``fc``, ``ladder``,
``vae``): they differ only in their gates (``tfgvae.structure``). Layers pass tensors;
distributions are built inside the step where log-probabilities are needed.
"""
import dataclasses
import json

import tensorflow as tf
import keras

from tfgvae import distribute, distributions, likelihoods, networks
from tfgvae.nodes import BottomUpHeads, TopDownHeads, sample_node
from tfgvae.schedules import Schedule
from tfgvae.structure import DependencyGates, validate_structure

MAX_LOGGED_NODES = 10  # per-node KL and per-gate means appear in the logs up to this many nodes
LOOP_MIN_NODES = 8  # descend in a tf.while_loop from this many nodes on (docs/performance.md)
ENCODER_GRAPHS = ("shared", "fc")  # the posterior's graph: the prior's gates, or fully connected


def random_algorithm():
    """Threefry inside an XLA-compiled function, Philox elsewhere, for the per-step draws.

    XLA on CPU fuses its Philox generator into the consumers and runs it there several
    times slower: at N=80 the 64 x 3,160 gate draws took ~3.4 ms with Philox against
    ~0.7 ms with Threefry (docs/performance.md). TensorFlow's CPU kernels have no Threefry.
    """
    return "threefry" if tf.__internal__.get_enclosing_xla_context() is not None else "philox"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes a model's architecture; M = num_nodes * node_dim."""
    input_dim: int = 784
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
    adjacency: tuple | None = None  # structure "custom": c[j][i], 0/1 (tfgvae.adjacency)
    freezable_gates: bool = False  # learned gates carry the variables that freeze them (--freeze_structure_epoch)
    encoder_graph: str = "shared"  # "shared": q's top-down heads read c * z_pa; "fc": all parents (Sec. 4.3)

    def __post_init__(self):
        if self.adjacency is not None:  # JSON gives lists: keep tuples, so configs compare equal
            object.__setattr__(self, "adjacency", tuple(tuple(int(v) for v in row) for row in self.adjacency))
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
        if self.likelihood not in likelihoods.LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.likelihood!r}: choose one of "
                             f"{', '.join(likelihoods.LIKELIHOODS)}")

    @property
    def latent_dim(self):
        return self.num_nodes * self.node_dim

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))

    @property
    def bottom_up_hidden(self):
        return self.hidden if self.head_hidden is None else self.head_hidden


class GraphVAE(keras.Model):
    """VAE whose latent nodes z_1..z_N form a gated, fully-connected DAG (Fig. 1b, Alg. 1).

    ``schedule`` (``tfgvae.Schedule``, default the paper's, sized by each ``fit`` call) anneals tau
    and warms up the KL weight inside ``train_step``; ``compile(..., schedule=...)`` replaces it.
    """

    descent = "auto"  # latent pass: "unrolled" (Python loop), "looped" (tf.while_loop) or by N

    def __init__(self, config, seed=None, schedule=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.schedule = Schedule() if schedule is None else schedule
        self.fit_schedule = None  # ``schedule`` sized by the current fit call (``size_schedule``)
        n, d = config.num_nodes, config.node_dim
        self.encoder = networks.encoder(config.hidden)
        self.bottom_up = BottomUpHeads(n, d, config.bottom_up_hidden, name="bottom_up")
        self.top_down = TopDownHeads(n, d, config.hidden, name="top_down") if n > 1 else None
        self.gates = DependencyGates(n, config.structure, config.per_example_gates, name="gates",
                                     init_mean=config.gate_init, lr_multiplier=config.gate_lr_multiplier,
                                     adjacency=config.adjacency, freezable=config.freezable_gates)
        if self.top_down is not None:
            self.top_down.ungated_posterior = config.encoder_graph == "fc"
        self.decoder = networks.decoder(config.input_dim)
        self.head = likelihoods.ObservationHead(config.likelihood, config.input_dim, name="observation")
        self.temperature = keras.Variable(self.schedule.initial_temperature, trainable=False,
                                          name="temperature")
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["loss", "elbo", "reconstruction", "kl"]
        if n <= MAX_LOGGED_NODES and n > 1:
            names += [f"kl_node_{k + 1}" for k in range(n)]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.build((None, config.input_dim))

    def build(self, input_shape):
        h_shape = (None, self.config.hidden)
        self.encoder.build(input_shape)
        self.bottom_up.build(h_shape)
        if self.top_down is not None:
            self.top_down.build()
        dec_in = self.config.node_dim if self.config.decode_from == "first" else self.config.latent_dim
        self.decoder.build((None, dec_in))
        self.head.build((None, self.config.input_dim))
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ----------------------------------------------------------------------------- structure
    def structure_gates(self, batch_size, training):
        """Gates c for this pass: relaxed samples (Eq. 9) in training, the MAP structure otherwise."""
        if training:
            return self.gates.sample(batch_size, self.temperature, self.seed_generator)
        return self.gates.map()

    # ----------------------------------------------------------------------------- latent pass
    def descend(self, gates, noise, bottom_up=None, training=False):
        """Top-down pass from the root z_N to z_1 (Eqs. 6, 7, 18).

        With ``bottom_up`` = (mu, logvar), each (B, N, N'), z is drawn from the posterior
        q(z_n | x, c * z_pa(n)) = fusion of bottom-up and top-down Gaussians; without it,
        from the gated prior p(z_n | c * z_pa(n)). The root's prior is N(0, I) and its
        posterior the bottom-up Gaussian. Returns z (B, N, N'), log q (B, N) or None, and
        log p (B, N), each log-density evaluated at the sampled z.
        """
        root_bu = None if bottom_up is None else (bottom_up[0][:, -1], bottom_up[1][:, -1])
        zero = tf.zeros_like(noise[:, -1])
        z_root, lq_root, lp_root = sample_node(noise[:, -1], (zero, zero), root_bu)
        if self.top_down is None:
            return z_root[:, None], None if lq_root is None else lq_root[:, None], lp_root[:, None]
        # Same maths either way (tests/test_fast_path.py); the loop compiles in O(1) in N.
        looped = self.descent == "looped" or (
            self.descent == "auto" and self.config.num_nodes >= LOOP_MIN_NODES
            and not self.top_down.bn1.synchronized  # cross-replica moments stay out of while loops
            and not self.top_down.ungated_posterior)  # the loop gates both streams alike
        pass_ = self.top_down.descend_looped if looped else self.top_down.descend_unrolled
        z, log_q, log_p = pass_(z_root, gates, noise, bottom_up, training)
        log_q = None if bottom_up is None else tf.concat([log_q, lq_root[:, None]], axis=1)
        return tf.concat([z, z_root[:, None]], axis=1), log_q, tf.concat([log_p, lp_root[:, None]], axis=1)

    def posterior_gates(self, gates):
        """The gates q's top-down heads read: ``gates`` (shared), or every edge at 1 (fc encoder)."""
        if self.config.encoder_graph == "shared":
            return gates
        return self.gates.mask[None]

    def decode(self, z, training=False):
        """Likelihood parameters (B, D, P) from latents z (B, N, N')."""
        if self.config.decode_from == "first":
            inputs = z[:, 0]
        else:
            inputs = tf.reshape(z, (-1, self.config.latent_dim))
        return self.head(self.decoder(inputs, training=training))

    def encode(self, x, training=False):
        """Bottom-up Gaussians (mu, logvar), each (B, N, N'), from x (B, D)."""
        return self.bottom_up(self.encoder(x, training=training), training=training)

    def draw_noise(self, batch):
        n, d = self.config.num_nodes, self.config.node_dim
        return keras.random.normal((batch, n, d), seed=self.seed_generator)

    # ----------------------------------------------------------------------------- objective
    def elbo_terms(self, x, training=False, gates=None, noise=None):
        """Per-example terms of the ELBO L_c for one gate sample c (Eq. 8's integrand).

        KL is the Monte Carlo estimate sum_n [log q(z_n | .) - log p(z_n | .)] at the
        sampled z (Eq. 5), against the gated top-down prior. Returns a dict of (B,)
        tensors ``elbo``, ``reconstruction``, ``kl`` and ``kl_per_node`` (B, N). ``gates`` and
        ``noise`` (B, N, N') default to fresh draws from the model's seed generator.
        """
        x = tf.convert_to_tensor(x, self.compute_dtype)
        batch = tf.shape(x)[0]
        if gates is None:
            gates = self.structure_gates(batch, training)
        bottom_up = self.encode(x, training)
        noise = self.draw_noise(batch) if noise is None else noise
        z, log_q, log_p = self.descend(gates, noise, bottom_up, training)
        params = self.decode(z, training)
        recon = likelihoods.log_likelihood(self.config.likelihood, x, params)
        kl_per_node = log_q - log_p
        kl = tf.reduce_sum(kl_per_node, axis=1)
        return {"elbo": recon - kl, "reconstruction": recon, "kl": kl, "kl_per_node": kl_per_node,
                "z": z, "params": params}

    def call(self, x, training=False):
        """Reconstruction means E[x | z], z ~ q(z | x, c) under the MAP (or fixed) structure."""
        return likelihoods.mean(self.config.likelihood, self.elbo_terms(x, training)["params"])

    def sample(self, num, training=False):
        """Ancestral samples from p(x, z | c_MAP): returns the likelihood means (num, D)."""
        z, _, _ = self.descend(self.gates.map(), self.draw_noise(num), None, training)
        return likelihoods.mean(self.config.likelihood, self.decode(z, training))

    # ----------------------------------------------------------------------------- Keras steps
    def step_draws(self, batch, stream, training):
        """Gates and noise of one Keras step, drawn statelessly from the key (seed, ``stream``).

        Every example gets its rows of one draw for the global batch
        (``distribute.replica_rows``), so R replicas draw exactly what one device would and a
        resumed run redraws what the killed run drew at the same step. Training steps use
        the optimizer's step count as ``stream``; evaluation uses the MAP structure and a
        fixed stream, so validation is a deterministic function of the weights. XLA-compiled
        and uncompiled steps draw with different generators (``random_algorithm``).
        """
        n, d = self.config.num_nodes, self.config.node_dim
        alg = random_algorithm()
        seed = tf.cast(self.seed_generator.state[0], tf.int64)
        key = tf.stack([seed, tf.cast(stream, tf.int64)])
        gate_key, noise_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        noise = distribute.replica_rows(
            lambda rows: tf.random.stateless_normal((rows, n, d), noise_key, alg=alg), batch)
        if not training:
            return self.gates.map(), noise
        edges = self.gates.num_edges  # only the edges are drawn
        if self.gates.per_example:
            uniform = distribute.replica_rows(
                lambda rows: tf.random.stateless_uniform((rows, edges), gate_key, alg=alg), batch)
        else:
            uniform = tf.random.stateless_uniform((1, edges), gate_key, alg=alg)
        return self.gates.sample(batch, self.temperature, None, uniform=uniform), noise

    # ----------------------------------------------------------------------------- schedule
    def compile(self, *args, schedule=None, **kwargs):
        """``keras.Model.compile``; ``schedule`` (a ``tfgvae.Schedule``) replaces the model's."""
        if schedule is not None:
            self.schedule, self.fit_schedule = schedule, None
        return super().compile(*args, **kwargs)

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
        """The schedule the training step follows: ``schedule``, sized by the fit call if need be."""
        schedule = self.schedule if self.schedule.is_resolved else self.fit_schedule
        if schedule is None:
            raise ValueError("the schedule has no steps_per_epoch or epochs: train with fit, or give "
                             "GraphVAE(schedule=tfgvae.Schedule(steps_per_epoch=..., epochs=...))")
        return schedule

    def anneal(self, step):
        """Set tau to the schedule's value at optimizer step ``step`` (App. B.2)."""
        self.temperature.assign(self.active_schedule().temperature(step))

    def kl_weight(self, step):
        """KL warm-up (Sonderby et al., 2016): beta = min(1, (step + 1) / W) (``Schedule.kl_weight``).

        Training minimises -(reconstruction - beta * KL); the logged ``elbo`` is always the
        true one (beta = 1). ``step`` is the optimizer's count of steps already taken.
        """
        return self.active_schedule().kl_weight(step)

    def _update_metrics(self, terms):
        """Update the trackers; return logs of global-batch means (summed over replicas)."""
        beta = terms.get("kl_weight", tf.constant(1.0))
        values = {"elbo": terms["elbo"], "reconstruction": terms["reconstruction"], "kl": terms["kl"],
                  "loss": beta * terms["kl"] - terms["reconstruction"]}
        for k in range(self.config.num_nodes):
            values[f"kl_node_{k + 1}"] = terms["kl_per_node"][:, k]
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        # Tracker variables are per replica (sync on read): sum them so every replica logs the same.
        # (tf.identity gives the reads a device, which MultiWorkerMirroredStrategy's all-reduce needs.)
        sums = distribute.all_reduce_sum({name: (tf.identity(t.total), tf.identity(t.count))
                                          for name, t in self.trackers.items()})
        logs = {name: tf.math.divide_no_nan(total, count) for name, (total, count) in sums.items()}
        if self.gates.learned and self.config.num_nodes <= MAX_LOGGED_NODES:
            means = self.gates.means()
            for j, i, name in self.gates.edge_names():
                logs[name] = means[j, i]
        logs["temperature"] = tf.convert_to_tensor(self.temperature)
        if "kl_weight" in terms:  # a function of the step, like the temperature: no tracker
            logs["kl_weight"] = terms["kl_weight"]
        return distribute.step_logs(logs)

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        self.anneal(self.optimizer.iterations)
        with tf.GradientTape() as tape:
            gates, noise = self.step_draws(tf.shape(x)[0], self.optimizer.iterations, training=True)
            terms = self.elbo_terms(x, training=True, gates=gates, noise=noise)
            terms["kl_weight"] = self.kl_weight(self.optimizer.iterations)
            loss = -tf.reduce_mean(terms["reconstruction"] - terms["kl_weight"] * terms["kl"])
            # The optimizer sums replica gradients: scale so the update is the global-batch mean.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_metrics(terms)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        gates, noise = self.step_draws(tf.shape(x)[0], -1, training=False)
        return self._update_metrics(self.elbo_terms(x, training=False, gates=gates, noise=noise))

    # ----------------------------------------------------------------------------- distributions
    def prior_distribution(self, z, gates=None):
        """p(z_n | c * z_pa(n)) of every node at parent values z (B, N, N'), as a tfd object
        (batch (B, N), event (N',); ``tfgvae.distributions``). gates default to the MAP structure."""
        return distributions.prior(self, z, self.gates.map() if gates is None else gates)

    def posterior_distribution(self, x, z, gates=None):
        """q(z_n | x, c * z_pa(n)) of every node at parent values z, as ``prior_distribution``."""
        return distributions.posterior(self, x, z, self.gates.map() if gates is None else gates)

    def gate_distribution(self, temperature=None):
        """The relaxed gates of the edges at ``temperature`` (default the current tau):
        tfd.RelaxedBernoulli (``DependencyGates.distribution``); ``self.gates.bernoulli()`` their means."""
        return self.gates.distribution(tf.convert_to_tensor(
            self.temperature if temperature is None else temperature, self.compute_dtype))


class SizeSchedule(keras.callbacks.Callback):
    """Gives the model's schedule the fit call's steps per epoch and epochs (``GraphVAE.fit`` adds it)."""

    def on_train_begin(self, logs=None):
        self.model.size_schedule(self.params.get("steps"), self.params.get("epochs"))
