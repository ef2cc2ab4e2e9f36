"""Custom fixed structures (``--structure=custom --adjacency=FILE``): reading and checking a DAG.

An adjacency c[j][i] = 1 means an edge z_j -> z_i (0-based parent j, child i), the layout of
``structure.json``'s ``map_adjacency``. A Graph VAE's node order allows only edges from a
later node to an earlier one (j > i, Sec. 3.1), so any such matrix is a DAG; every check
fails with one line.
"""
import json

import numpy as np


def _cycle(adjacency):
    """A cycle [k0, k1, ..., k0] of 0-based nodes of the directed graph j -> i, or None."""
    n = len(adjacency)
    state = [0] * n  # 0 unseen, 1 on the current path, 2 done
    path = []

    def visit(j):
        state[j] = 1
        path.append(j)
        for i in range(n):
            if adjacency[j][i]:
                if state[i] == 1:
                    return path[path.index(i):] + [i]
                if state[i] == 0:
                    found = visit(i)
                    if found:
                        return found
        state[j] = 2
        path.pop()
        return None

    for j in range(n):
        if state[j] == 0:
            found = visit(j)
            if found:
                return found
    return None


def check_adjacency(adjacency, num_nodes, source="adjacency"):
    """The adjacency as a tuple of tuples of 0/1 ints; ValueError (one line) unless it is a DAG
    over ``num_nodes`` nodes whose edges all run from a later node to an earlier one."""
    try:
        a = np.asarray(adjacency, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: the adjacency must be a square matrix of 0/1 values") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{source}: the adjacency must be a square matrix, got shape {a.shape}")
    if a.shape[0] != num_nodes:
        raise ValueError(f"{source}: the adjacency is {a.shape[0]} x {a.shape[1]} but the model has "
                         f"num_nodes={num_nodes}")
    if not np.all((a == 0) | (a == 1)):
        raise ValueError(f"{source}: adjacency entries must be 0 or 1")
    a = a.astype(int)
    cycle = _cycle(a)
    if cycle:
        raise ValueError(f"{source}: the adjacency has a cycle "
                         f"{' -> '.join(f'z_{k + 1}' for k in cycle)}")
    against = [(j, i) for j in range(num_nodes) for i in range(num_nodes) if a[j, i] and j < i]
    if against:
        j, i = against[0]
        raise ValueError(f"{source}: edge z_{j + 1} -> z_{i + 1} runs against the node order (a "
                         f"node's parents must come after it: z_{i + 1}'s are z_{i + 2}..z_{num_nodes})")
    return tuple(tuple(int(v) for v in row) for row in a)


def read_adjacency(path):
    """The matrix in a JSON file: a run's ``structure.json`` (its ``map_adjacency``), an object
    with an ``adjacency`` key, or a bare list of rows. Its size is checked by ``check_adjacency``."""
    try:
        with open(path) as f:
            payload = json.load(f)
    except OSError as e:
        raise ValueError(f"cannot read the adjacency file {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON: {e.msg} (line {e.lineno})") from None
    if isinstance(payload, dict):
        for key in ("map_adjacency", "adjacency"):
            if key in payload:
                return payload[key]
        raise ValueError(f"{path} has no 'map_adjacency' or 'adjacency' matrix")
    return payload
