"""The Graph VAE model and its expected-ELBO objective (Sec. 3, Eqs. 5-8, App. B).

One ``GraphVAE`` class serves all four structures (``graph``, ``fc``, ``ladder``,
``vae``): they differ only in their gates (``tfgvae.core.structure``). Layers pass tensors;
distributions are built inside the step where log-probabilities are needed.
"""
import math

import tensorflow as tf
import keras

from tfgvae.core import distributions, gate_gradients, importance, likelihoods, networks, replicas
from tfgvae.core.keras_model import KerasModel
from tfgvae.core.model_config import ENCODER_GRAPHS, TOP_DOWN, ModelConfig  # noqa: F401  (public here too)
from tfgvae.core.nodes import BottomUpHeads, TopDownHeads, sample_node
from tfgvae.core.schedules import Schedule, ScheduledModel
from tfgvae.core.structure import DependencyGates

MAX_LOGGED_NODES = 10  # per-node KL and per-gate means appear in the logs up to this many nodes
LOOP_MIN_NODES = 8  # descend in a tf.while_loop from this many nodes on (docs/performance.md)


def seed_keys(seed, num):
    """``num`` independent stateless keys (2,) from an int (or int32 scalar tensor) ``seed``."""
    seed = tf.cast(seed, tf.int32)
    return tf.unstack(tf.random.experimental.stateless_split(tf.stack([seed, 0]), num))


def random_algorithm():
    """Threefry inside an XLA-compiled function, Philox elsewhere, for the per-step draws.

    XLA on CPU fuses its Philox generator into the consumers and runs it there several
    times slower: at N=80 the 64 x 3,160 gate draws took ~3.4 ms with Philox against
    ~0.7 ms with Threefry (docs/performance.md). TensorFlow's CPU kernels have no Threefry.
    """
    return "threefry" if tf.__internal__.get_enclosing_xla_context() is not None else "philox"


@keras.saving.register_keras_serializable(package="tfgvae")
class GraphVAE(KerasModel, ScheduledModel, keras.Model):
    """VAE whose latent nodes z_1..z_N form a gated, fully-connected DAG (Fig. 1b, Alg. 1).

    ``schedule`` (``tfgvae.Schedule``, default the paper's, sized by each ``fit`` call) anneals tau
    and warms up the KL weight inside ``train_step``; ``compile(..., schedule=...)`` replaces it.
    ``model.save("m.keras")`` and ``keras.saving.load_model`` round-trip it (``KerasModel``).
    """

    descent = "auto"  # latent pass: "unrolled" (Python loop), "looped" (tf.while_loop) or by N

    def __init__(self, config, encoder=None, decoder=None, seed=None, schedule=None, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.default_encoder, self.default_decoder = encoder is None, decoder is None  # App. B's MLPs
        self.schedule = Schedule() if schedule is None else schedule
        self.fit_schedule = None  # ``schedule`` sized by the current fit call (``size_schedule``)
        n, d = config.num_nodes, config.node_dim
        self.encoder = networks.encoder(config.hidden, config.example_shape) if encoder is None else encoder
        self.bottom_up = BottomUpHeads(n, d, config.bottom_up_hidden, config.head_init, name="bottom_up")
        self.top_down = TopDownHeads(n, d, config.hidden, config.head_init, name="top_down") if n > 1 else None
        self.gates = DependencyGates(n, config.structure, config.per_example_gates, name="gates",
                                     init_mean=config.gate_init, lr_multiplier=config.gate_lr_multiplier,
                                     adjacency=config.adjacency, freezable=config.freezable_gates,
                                     parameterization=config.gate_parameterization,
                                     trainable_means=config.gate_trainable)
        if self.top_down is not None:
            self.top_down.ungated_posterior = config.encoder_graph == "fc"
            self.top_down.shared_weights = config.top_down == "shared"
        self.decoder = networks.decoder(config.input_dim) if decoder is None else decoder
        self.head = likelihoods.ObservationHead(config.likelihood, config.input_dim, name="observation")
        self.temperature = keras.Variable(self.schedule.initial_temperature, trainable=False,
                                          name="temperature")
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ["loss", "elbo", "reconstruction", "kl"]
        if n <= MAX_LOGGED_NODES and n > 1:
            names += [f"kl_node_{k + 1}" for k in range(n)]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        if self.logs_gate_gradients:  # (E,) epoch means of d ELBO / d mu per edge, by part
            edges = self.gates.num_edges
            self.trackers.update({f"gate_grad_{part}": gate_gradients.VectorMean(edges, name=f"gate_grad_{part}")
                                  for part in gate_gradients.PARTS})
        self.build((None, *config.example_shape))

    def build(self, input_shape):
        """Build the networks for examples of ``config.example_shape`` (``input_shape`` is not read); an
        encoder or decoder whose output does not fit is refused with one line."""
        cfg = self.config
        features = networks.built_output_shape(self.encoder, (None, *cfg.example_shape), "encoder")
        if len(features) != 2:
            raise ValueError(f"encoder: its output must be (batch, F) features, got {features}: end it "
                             "with Flatten or Dense")
        self.bottom_up.build(features)
        if self.top_down is not None:
            self.top_down.build((None, cfg.num_nodes, cfg.node_dim))  # the shape of its parents z
        dec_in = cfg.node_dim if cfg.decode_from == "first" else cfg.latent_dim
        out = networks.built_output_shape(self.decoder, (None, dec_in), "decoder")
        if None in out[1:] or math.prod(out[1:]) != cfg.input_dim:
            raise ValueError(f"decoder: its output must hold the D = {cfg.input_dim} values of an "
                             f"example {cfg.example_shape}, got {out}")
        self.head.build((None, cfg.input_dim))
        self.show_output_shapes()
        self.built = True

    @property
    def metrics(self):
        """The metric trackers whose means ``fit`` and ``evaluate`` log: the ELBO, its terms, and more."""
        return list(self.trackers.values())

    @property
    def logs_gate_gradients(self):
        """Whether steps log the per-edge gate gradients (``log_gate_gradients``, learned gates only)."""
        return self.config.log_gate_gradients and self.gates.learned and self.gates.num_edges > 0

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
            and not self.top_down.ungated_posterior  # the loop gates both streams alike
            and not self.top_down.shared_weights)
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
        """Likelihood parameters (B, D, P) from latents z (B, N, N'), the decoder's output flattened."""
        if self.config.decode_from == "first":
            inputs = z[:, 0]
        else:
            inputs = tf.reshape(z, (-1, self.config.latent_dim))
        out = self.decoder(inputs, training=training)
        return self.head(out if out.shape.rank == 2 else tf.reshape(out, (-1, self.config.input_dim)))

    def bottom_up_gaussians(self, x, training=False):
        """Bottom-up Gaussians (mu, logvar), each (B, N, N'), from x (B, D) or (B, *input_shape)."""
        if self.config.input_shape is not None:
            x = tf.reshape(x, (-1, *self.config.input_shape))
        return self.bottom_up(self.encoder(x, training=training), training=training)

    def as_examples(self, flat):
        """(B, D) values, such as likelihood means, as (B, *input_shape) examples."""
        if self.config.input_shape is None:
            return flat
        return tf.reshape(flat, (-1, *self.config.input_shape))

    def draw_noise(self, batch):
        """Standard normal noise (batch, N, N') from the model's seed generator, reparameterizing z."""
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
        bottom_up = self.bottom_up_gaussians(x, training)
        noise = self.draw_noise(batch) if noise is None else noise
        z, log_q, log_p = self.descend(gates, noise, bottom_up, training)
        params = self.decode(z, training)
        if x.shape.rank != 2:
            x = tf.reshape(x, (-1, self.config.input_dim))
        recon = likelihoods.log_likelihood(self.config.likelihood, x, params)
        kl_per_node = log_q - log_p
        kl = tf.reduce_sum(kl_per_node, axis=1)
        return {"elbo": recon - kl, "reconstruction": recon, "kl": kl, "kl_per_node": kl_per_node,
                "z": z, "params": params}

    def call(self, x, training=False):
        """Reconstruction means E[x | z], z ~ q(z | x, c) under the MAP (or fixed) structure,
        shaped as x's examples ((B, D) or (B, *input_shape))."""
        x = tf.convert_to_tensor(x, self.compute_dtype)
        means = likelihoods.mean(self.config.likelihood, self.elbo_terms(x, training)["params"])
        return means if x.shape.rank == 2 else self.as_examples(means)

    # ----------------------------------------------------------------------------- a trained model
    def sample(self, num, seed=None, return_latents=False):
        """Ancestral samples from p(x, z | c_MAP): likelihood means (num, *input_shape), and z
        (num, N, N') with ``return_latents``. An int ``seed`` fixes them (the SavedModel's
        ``sample(num, seed)`` draws the same); None draws from the model's seed generator."""
        if seed is None:
            noise = self.draw_noise(num)
        else:
            shape = (num, self.config.num_nodes, self.config.node_dim)
            noise = tf.random.stateless_normal(shape, seed=seed_keys(seed, 2)[0])
        z, _, _ = self.descend(self.gates.map(), noise, None, training=False)
        means = self.as_examples(likelihoods.mean(self.config.likelihood, self.decode(z)))
        return (means, z) if return_latents else means

    def posterior_parameters(self, x):
        """Mean and log-variance (B, N, N') of q(z_n | x, c_MAP) per node along the mean pass,
        each node's parents at their posterior means (the SavedModel's ``encode``)."""
        gates = self.gates.map()
        bottom_up = self.bottom_up_gaussians(tf.convert_to_tensor(x, self.compute_dtype))
        z, _, _ = self.descend(gates, tf.zeros_like(bottom_up[0]), bottom_up, training=False)
        return distributions.posterior_given_parents(self, bottom_up, z, gates)

    def encode(self, x):
        """Posterior means per node (B, N, N') of x (B, D) or (B, *input_shape): ``posterior_parameters``."""
        return self.posterior_parameters(x)[0]

    def log_likelihood(self, x, num_samples=5000, seed=0, batch_size=None, gates="map"):
        """Importance-sampled log p(x | c_MAP) per example in nats (numpy (B,)), k = ``num_samples``;
        in one batch (``batch_size`` None) the SavedModel's ``log_likelihood(x, k, seed)``.
        ``gates="sampled"`` ("relaxed") marginalises the gates as trained (``importance_terms``)."""
        return importance.examples_log_likelihood(self, x, num_samples, seed, batch_size, gates)

    def elbo(self, x, seed=0, batch_size=None):
        """Single-sample ELBO per example (Eq. 5) under c_MAP in nats (numpy (B,)), as the
        SavedModel's ``elbo(x, seed)``."""
        return importance.examples_elbo(self, x, seed, batch_size)

    # ----------------------------------------------------------------------------- Keras steps
    def step_draws(self, batch, stream, training):
        """Gates and noise of one Keras step, drawn statelessly from the key (seed, ``stream``).

        Every example gets its rows of one draw for the global batch
        (``replicas.replica_rows``), so R replicas draw exactly what one device would and a
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
        noise = replicas.replica_rows(
            lambda rows: tf.random.stateless_normal((rows, n, d), noise_key, alg=alg), batch)
        if not training:
            return self.gates.map(), noise
        edges = self.gates.num_edges  # only the edges are drawn
        if self.gates.per_example:
            uniform = replicas.replica_rows(
                lambda rows: tf.random.stateless_uniform((rows, edges), gate_key, alg=alg), batch)
        else:
            uniform = tf.random.stateless_uniform((1, edges), gate_key, alg=alg)
        return self.gates.sample(batch, self.temperature, None, uniform=uniform), noise

    def _update_metrics(self, terms):
        """Update the trackers; return logs of global-batch means (summed over replicas)."""
        beta = terms.get("kl_weight", tf.constant(1.0))
        values = {"elbo": terms["elbo"], "reconstruction": terms["reconstruction"], "kl": terms["kl"],
                  "loss": beta * terms["kl"] - terms["reconstruction"]}
        for k in range(self.config.num_nodes):
            values[f"kl_node_{k + 1}"] = terms["kl_per_node"][:, k]
        values.update(terms.get("gate_gradients", {}))  # training steps only
        for name, tracker in self.trackers.items():
            if name in values:  # the gate gradients exist in training steps only
                tracker.update_state(values[name])
        # Tracker variables are per replica (sync on read): sum them so every replica logs the same.
        # (tf.identity gives the reads a device, which MultiWorkerMirroredStrategy's all-reduce needs.)
        sums = replicas.all_reduce_sum({name: (tf.identity(t.total), tf.identity(t.count))
                                          for name, t in self.trackers.items()})
        logs = {name: tf.math.divide_no_nan(total, count) for name, (total, count) in sums.items()}
        edge_names = self.gates.edge_names()
        for part in gate_gradients.PARTS if self.logs_gate_gradients else ():
            vector = logs.pop(f"gate_grad_{part}")
            if "gate_gradients" in terms and self.config.num_nodes <= MAX_LOGGED_NODES:
                logs.update({f"grad_{part}_{name[len('gate_'):]}": vector[k]
                             for k, (_, _, name) in enumerate(edge_names)})
        if self.gates.learned and self.config.num_nodes <= MAX_LOGGED_NODES:
            means = self.gates.means()
            for j, i, name in edge_names:
                logs[name] = means[j, i]
        logs["temperature"] = tf.convert_to_tensor(self.temperature)
        if "kl_weight" in terms:  # a function of the step, like the temperature: no tracker
            logs["kl_weight"] = terms["kl_weight"]
        return replicas.step_logs(logs)

    def edge_penalty(self):
        """lambda * sum of the gate means: the sparsity cost ``edge_cost`` adds to the loss (nats
        per example). It is -E_p(c)[log p0(c)] + const for a Bernoulli edge prior p0 of log-odds
        -lambda, so lambda = 0 is Eq. 8 as the paper writes it."""
        if not self.config.edge_cost or not self.gates.learned:
            return tf.constant(0.0)
        return self.config.edge_cost * self.gates.expected_edges()

    def train_step(self, data):
        """One update of ``fit``: ascend the KL-weighted ELBO of one relaxed gate sample (Eq. 8's
        integrand, Eq. 9's Gumbel-softmax gates at the annealed tau), less ``edge_penalty``."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        self.anneal(self.optimizer.iterations)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=self.logs_gate_gradients) as tape:
            gates, noise = self.step_draws(tf.shape(x)[0], self.optimizer.iterations, training=True)
            terms = self.elbo_terms(x, training=True, gates=gates, noise=noise)
            terms["kl_weight"] = self.kl_weight(self.optimizer.iterations)
            mean_kl = tf.reduce_mean(terms["kl"])
            loss = terms["kl_weight"] * mean_kl - tf.reduce_mean(terms["reconstruction"])
            # The optimizer sums replica gradients: scale so the update is the global-batch mean.
            penalty = self.edge_penalty()
            scaled = (loss + penalty) / replicas
        grads = tape.gradient(scaled, self.trainable_variables)
        if self.logs_gate_gradients:
            terms["gate_gradients"] = gate_gradients.split(self, tape, grads, mean_kl, penalty,
                                                            terms["kl_weight"], replicas)
            del tape
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_metrics(terms)

    def test_step(self, data):
        """One step of ``evaluate``: the ELBO and its terms, logged as in ``train_step``."""
        x = data[0] if isinstance(data, (tuple, list)) else data
        gates, noise = self.step_draws(tf.shape(x)[0], -1, training=False)
        return self._update_metrics(self.elbo_terms(x, training=False, gates=gates, noise=noise))

    # ----------------------------------------------------------------------------- distributions
    def prior_distribution(self, z, gates=None):
        """p(z_n | c * z_pa(n)) of every node at parent values z (B, N, N'), as a tfd object
        (batch (B, N), event (N',); ``tfgvae.core.distributions``). gates default to the MAP structure."""
        return distributions.prior(self, z, self.gates.map() if gates is None else gates)

    def posterior_distribution(self, x, z, gates=None):
        """q(z_n | x, c * z_pa(n)) of every node at parent values z, as ``prior_distribution``."""
        return distributions.posterior(self, x, z, self.gates.map() if gates is None else gates)

    def gate_distribution(self, temperature=None):
        """The relaxed gates of the edges at ``temperature`` (default the current tau):
        tfd.RelaxedBernoulli (``DependencyGates.distribution``); ``self.gates.bernoulli()`` their means."""
        return self.gates.distribution(tf.convert_to_tensor(
            self.temperature if temperature is None else temperature, self.compute_dtype))
