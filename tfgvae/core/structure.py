"""Latent dependency structures and their gates (Sec. 3.1-3.3, Eq. 9).

Nodes are numbered 0..N-1 internally; node ``i``'s possible parents are the nodes
``j > i`` (the paper's z_{n+1..N}); node N-1 is the root. User-facing names use the
paper's 1-based numbering: gate ``c_{j,i}`` carries z_j into z_i. A gate tensor
``c`` is indexed ``c[..., j, i]`` (parent, child), so it lives on the strict lower
triangle (j > i) and is zero elsewhere.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import keras

from tfgvae.core.adjacency import check_adjacency

tfd = tfp.distributions
STRUCTURES = ("graph", "fc", "ladder", "vae", "custom")
"""The latent structures: ``graph`` (gates learned, Eq. 8-9), ``fc`` (every gate 1), ``ladder`` (the chain
z_N -> ... -> z_1), ``vae`` (one node of M dims) and ``custom`` (a fixed DAG, ``fixed_adjacency``)."""
GATE_PARAMETERIZATIONS = ("logit", "mean")  # what the learned weight is: logit(mu), or mu itself (Eq. 9)
GATE_READINGS = ("map", "sampled", "relaxed")  # what evaluation feeds the gates (``DependencyGates.draw``)
GATE_EPS = 1e-6
MEAN_FLOOR = 1e-20  # floor of mu and 1 - mu in Eq. 9's logs (``mean_logits``)


def edge_mask(num_nodes):
    """(N, N) float32 mask: 1 at [j, i] where j > i, i.e. every edge of the fully-connected DAG."""
    return np.tril(np.ones((num_nodes, num_nodes), np.float32), k=-1)


def fixed_adjacency(structure, num_nodes, adjacency=None):
    """Adjacency c[j, i] of a predefined structure (``custom``: ``adjacency``); ``graph`` has none."""
    if structure == "custom":
        return np.asarray(check_adjacency(adjacency, num_nodes), np.float32)
    if structure == "fc":
        return edge_mask(num_nodes)
    if structure == "ladder":
        return np.eye(num_nodes, k=-1, dtype=np.float32)  # c[i+1, i] = 1
    if structure == "vae":
        return np.zeros((num_nodes, num_nodes), np.float32)
    raise ValueError(f"structure {structure!r} has no fixed adjacency")


def validate_structure(structure, num_nodes, latent_dim=None, adjacency=None):
    """Raise ValueError with a one-line message if the node layout is impossible."""
    if structure not in STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}: choose one of {', '.join(STRUCTURES)}")
    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    if structure == "vae" and num_nodes != 1:
        raise ValueError(f"structure 'vae' is one node of M dims: set num_nodes=1 (got {num_nodes})")
    if latent_dim is not None and latent_dim % num_nodes:
        raise ValueError(
            f"latent_dim M={latent_dim} is not divisible by num_nodes N={num_nodes}: "
            "every node has N' = M / N dims")
    if (structure == "custom") != (adjacency is not None):
        raise ValueError("structure 'custom' needs an adjacency (--adjacency=FILE), and only it takes one")
    if adjacency is not None:
        check_adjacency(adjacency, num_nodes)


def mean_logits(mu):
    """Eq. 9's log mu - log(1 - mu), each of mu and 1 - mu floored at ``MEAN_FLOOR``.

    The floor keeps the logit finite (|logit| <= 46) where mu is exactly 0 or 1, and the
    clip passes no gradient there, so a gate at 0 or 1 (or beyond the floors) stays there:
    0 and 1 are absorbing, as in the public re-implementations that store mu. Beyond the
    floor no Logistic draw (|L| <= 16.1) opens a gate with mu < 1e-13 at tau <= 2, and a gate
    at exactly 0 or 1 is set to it outright (``DependencyGates.absorbed``). (A floor of 1e-6,
    logit -13.8, let one draw in ~10^6 open an absorbed edge fully: docs/results.md.)
    """
    mu = tf.convert_to_tensor(mu)
    floor = tf.constant(MEAN_FLOOR, mu.dtype)
    return tf.math.log(tf.maximum(mu, floor)) - tf.math.log(tf.maximum(1.0 - mu, floor))


class UnitInterval(keras.constraints.Constraint):
    """Projection onto [0, upper] after every optimizer step (Keras applies it in ``apply``)."""

    def __init__(self, upper=1.0):
        self.upper = float(upper)

    def __call__(self, w):
        return tf.clip_by_value(w, 0.0, self.upper)

    def get_config(self):
        return {"upper": self.upper}


def logistic_noise(uniform):
    """log u - log(1 - u): a Logistic(0, 1) sample, the difference of Eq. 9's two Gumbel samples."""
    uniform = tf.clip_by_value(uniform, 1e-7, 1.0 - 1e-7)
    return tf.math.log(uniform) - tf.math.log1p(-uniform)


def relaxed_gate(logits, temperature, noise):
    """Eq. 9 in logit space: c = sigmoid((logit(mu) + noise) / tau), noise ~ Logistic(0, 1).

    This is the Gumbel-softmax / RelaxedBernoulli sample. It is finite for every logit
    and tau > 0, and its gradient w.r.t. the logits is sigmoid'(.) / tau, which
    underflows to 0 rather than to NaN at saturation. Samples are kept in
    [GATE_EPS, 1 - GATE_EPS], strictly inside (0, 1) even where float32's sigmoid would
    round to 0 or 1.
    """
    return tf.clip_by_value(tf.sigmoid((logits + noise) / temperature), GATE_EPS, 1.0 - GATE_EPS)


def relaxed_bernoulli(logits, temperature, uniform):
    """Eq. 9 from U(0, 1) draws ``uniform`` (broadcast against ``logits``)."""
    return relaxed_gate(logits, temperature, logistic_noise(uniform))


class DependencyGates(keras.layers.Layer):
    """The gates c of one structure: learned Bernoulli means for ``graph``, constants otherwise.

    ``sample`` gives relaxed gates (Eq. 9) for training; ``map`` the MAP structure
    (gate mean > 0.5), which is what evaluation uses. Both return (batch or 1, N, N).
    ``freezable`` learned gates can be frozen (``freeze``) at their MAP structure: two
    non-trainable variables, so a checkpoint carries the switch; from then on every method
    returns that 0/1 adjacency (Eq. 16 with p(c) = delta at c*, Eq. 17).

    ``trainable_means=False`` keeps the means at their initial (or assigned) values: the relaxed
    gates' noise without structure learning (the noise-only control, docs/results.md).

    ``parameterization``: the learned weight is logit(mu) (``logit``, unconstrained), or mu
    itself (``mean``, the paper's Eq. 9 and the public re-implementations): projected back
    into [0, 1] after every optimizer step, and read through ``mean_logits``, so 0 and 1
    are absorbing.
    """

    def __init__(self, num_nodes, structure, per_example=True, adjacency=None, freezable=False,
                 init_mean=0.5, lr_multiplier=1.0, parameterization="logit", trainable_means=True,
                 **kwargs):
        super().__init__(**kwargs)
        validate_structure(structure, num_nodes, adjacency=adjacency)
        self.num_nodes = num_nodes
        self.structure = structure
        self.per_example = per_example
        self.mask = tf.constant(edge_mask(num_nodes), self.compute_dtype)
        self.num_edges = num_nodes * (num_nodes - 1) // 2
        # Row-major position j * N + i of edge k = (j, i) of edge_names, for scatter_nd: (E, 1).
        self.edge_index = tf.constant([[j * num_nodes + i] for j, i, _ in self.edge_names()],
                                      tf.int32, shape=(self.num_edges, 1))
        self.learned = structure == "graph"
        if parameterization not in GATE_PARAMETERIZATIONS:
            raise ValueError(f"gate parameterization must be one of {', '.join(GATE_PARAMETERIZATIONS)}, "
                             f"got {parameterization!r}")
        self.parameterization = parameterization
        # The logits (or means) are lr_multiplier * the stored weight: Adam's steps are invariant
        # to the gradient's scale, so they then move lr_multiplier times as fast.
        self.lr_multiplier = float(lr_multiplier)
        if self.learned and parameterization == "logit":
            init = float(np.log(init_mean) - np.log1p(-init_mean)) / self.lr_multiplier
            self.logits = self.add_weight(shape=(num_nodes, num_nodes),
                                          initializer=keras.initializers.Constant(init),
                                          trainable=trainable_means, name="gate_logits")
        elif self.learned:
            self.mu = self.add_weight(shape=(num_nodes, num_nodes),
                                      initializer=keras.initializers.Constant(init_mean / self.lr_multiplier),
                                      constraint=UnitInterval(1.0 / self.lr_multiplier),
                                      trainable=trainable_means, name="gate_means")
        else:
            self.fixed = tf.constant(fixed_adjacency(structure, num_nodes, adjacency))
        self.freezable = self.learned and freezable
        if self.freezable:
            self.frozen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="frozen")
            self.frozen_adjacency = self.add_weight(shape=(num_nodes, num_nodes), initializer="zeros",
                                                    trainable=False, name="frozen_adjacency")

    def _unless_frozen(self, gates):
        """``gates``, or the frozen 0/1 adjacency (broadcast) once ``freeze`` ran."""
        if not self.freezable:
            return gates
        return tf.where(self.frozen > 0.5, tf.convert_to_tensor(self.frozen_adjacency), gates)

    def is_frozen(self):
        """Whether the learned gates are frozen at their MAP structure (eager)."""
        return self.freezable and bool(self.frozen.numpy() > 0.5)

    def freeze(self):
        """Fix the gates at the current MAP structure c* (mu > 0.5); returns it, (N, N) numpy."""
        if not self.freezable:
            raise ValueError("only learned gates built with freezable=True can be frozen")
        adjacency = self.map()[0]
        self.frozen_adjacency.assign(adjacency)
        self.frozen.assign(1.0)
        return adjacency.numpy()

    @property
    def variable(self):
        """The learned weight: ``logits`` or ``mu`` by the parameterization (None if fixed)."""
        if not self.learned:
            return None
        return self.logits if self.parameterization == "logit" else self.mu

    def _scaled(self):
        raw = tf.convert_to_tensor(self.variable)
        return raw if self.lr_multiplier == 1.0 else raw * self.lr_multiplier

    def gate_logits(self):
        """logit(mu[j, i]) of every gate (N, N), from the stored weight times ``lr_multiplier``
        (``mean``: through ``mean_logits``, floored)."""
        scaled = self._scaled()
        return scaled if self.parameterization == "logit" else mean_logits(scaled)

    def means(self):
        """Bernoulli means mu[j, i] on the edges, 0 elsewhere (fixed: the adjacency): sigmoid of the
        logit, or the stored mean itself (exactly 0 or 1 where it is)."""
        if not self.learned:
            return self.fixed
        if self.parameterization == "logit":
            return self._unless_frozen(tf.sigmoid(self.gate_logits()) * self.mask)
        return self._unless_frozen(tf.clip_by_value(self._scaled(), 0.0, 1.0) * self.mask)

    def set_means(self, means):
        """Store Bernoulli means (N, N) (the edges' entries are read) in the learned weight."""
        means = np.clip(np.asarray(means, np.float64), MEAN_FLOOR, 1.0 - 1e-7)
        stored = np.log(means) - np.log1p(-means) if self.parameterization == "logit" else means
        self.variable.assign((stored / self.lr_multiplier).astype(np.float32))

    def expected_edges(self):
        """E_p(c)[number of edges] = sum of the edges' means (the quantity ``edge_cost`` prices)."""
        return tf.reduce_sum(self.means() * self.mask)

    def map(self):
        """The MAP structure (1, N, N): mu > 0.5, i.e. logit > 0."""
        if not self.learned:
            return self.fixed[None]
        return self._unless_frozen(
            tf.cast(self.gate_logits() > 0.0, self.compute_dtype) * self.mask)[None]

    def sample(self, batch_size, temperature, seed, uniform=None):
        """Relaxed gates (B, N, N), one structure per example (or (1, N, N) shared by the batch).

        Only the N(N-1)/2 edges are drawn: ``uniform`` (rows, N(N-1)/2), in ``edge_names``
        order, replaces the U(0, 1) draw from ``seed`` if given.
        """
        if not self.learned:
            return self.fixed[None]
        rows = batch_size if self.per_example else 1
        if uniform is None:
            uniform = keras.random.uniform((rows, self.num_edges), seed=seed)
        return self.draw("relaxed", uniform, temperature)

    def scatter(self, edges):
        """Edge values (rows, E), in ``edge_names`` order, as gate tensors (rows, N, N)."""
        n = self.num_nodes
        gates = tf.scatter_nd(self.edge_index, tf.transpose(edges), (n * n, tf.shape(edges)[0]))
        return tf.reshape(tf.transpose(gates), (-1, n, n))

    def draw(self, kind, uniform, temperature=None):
        """Gates (rows, N, N) of one evaluation reading from U(0, 1) draws ``uniform`` (rows, E).

        ``kind``: "map" (the MAP structure, (1, N, N), ``uniform`` unused), "sampled" (hard
        c ~ Bernoulli(mu): c = 1 where logit(mu) + logit(u) > 0, i.e. u > 1 - mu) or "relaxed"
        (Eq. 9 at ``temperature``, the same uniforms: as tau -> 0 it tends to "sampled").
        Fixed and frozen structures give their adjacency whatever the kind.
        """
        if kind not in GATE_READINGS:
            raise ValueError(f"unknown gate reading {kind!r}: choose one of {', '.join(GATE_READINGS)}")
        if kind == "map" or not self.learned:
            return self.map()
        if kind == "relaxed":  # Eq. 9 on the edges only, then scattered into (rows, N, N): faster
            if temperature is None:  # than gathering the edges' values into (rows, N, N) (docs/performance.md)
                raise ValueError("the relaxed reading needs a temperature")
            edges = relaxed_bernoulli(self.edge_logits(), temperature, uniform)
        else:
            probs = tf.gather(tf.reshape(self.means(), [-1]), self.edge_index[:, 0])
            edges = tf.cast(uniform > 1.0 - probs, self.compute_dtype)
        if self.parameterization == "mean":  # an absorbed gate is exactly off (on): see absorbed()
            edges = self.absorbed(edges)
        return self._unless_frozen(self.scatter(edges))

    def absorbed(self, edges):
        """Relaxed edge samples (rows, E) with the gates whose stored mean is exactly 0 (1) set to
        exactly 0 (1). Batch norm follows the gated first layer, so a gate held at GATE_EPS does
        not cut its parent out: BN rescales GATE_EPS * z_j back to (almost) unit size, and a run
        with every edge at 0 learned to read its parents through it (docs/results.md)."""
        mu = tf.gather(tf.reshape(self._scaled(), [-1]), self.edge_index[:, 0])
        edges = tf.where(mu <= 0.0, tf.zeros_like(edges), edges)
        return tf.where(mu >= 1.0, tf.ones_like(edges), edges)

    def edge_logits(self):
        """logit(mu) of the learned gates' edges (E,), in ``edge_names`` order."""
        return tf.gather(tf.reshape(self.gate_logits(), [-1]), self.edge_index[:, 0])

    def distribution(self, temperature):
        """The relaxed gates of the edges (E,), in ``edge_names`` order: Eq. 9 as
        tfd.RelaxedBernoulli(tau, logits). ``sample`` draws the same values from the same uniforms
        (``relaxed_bernoulli``); its log_prob is not used in training (Eq. 8 has no term in c)."""
        if not self.learned or self.is_frozen():
            raise ValueError(f"the {'frozen' if self.learned else self.structure} structure has fixed "
                             "gates: no relaxed distribution (see bernoulli())")
        return tfd.RelaxedBernoulli(temperature, logits=self.edge_logits())

    def bernoulli(self):
        """The gates of the edges (E,) as tfd.Bernoulli: means mu (its mean), MAP structure (its mode)
        at mu > 0.5. Learned gates by their logits, fixed or frozen ones by 0/1 probabilities."""
        if self.learned and not self.is_frozen():
            return tfd.Bernoulli(logits=self.edge_logits(), dtype=self.compute_dtype)
        probs = tf.gather(tf.reshape(self.means(), [-1]), self.edge_index[:, 0])
        return tfd.Bernoulli(probs=probs, dtype=self.compute_dtype)

    def edge_names(self):
        """Paper-style names 'c_{j}_{i}' (1-based) of the edges, in (j, i) order."""
        n = self.num_nodes
        return [(j, i, f"gate_{j + 1}_{i + 1}") for j in range(n) for i in range(j)]
