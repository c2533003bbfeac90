"""Random weights for the published architectures (`--weights random`), made
without running the model: the parameter tree's shapes come from tracing its
initialiser (`jax.eval_shape`: nothing compiled, nothing run), and the values
are windows of one random vector, copied on the host. Compiling and running
the initialisers themselves took about a minute for mini on a CPU (the
models' forward passes compiled once more, then a billion threefry draws),
and every process of a benchmark paid it before measuring anything.

The values follow the usual transformer initialisation in distribution
(BART's, CLIP's): normal with standard deviation 0.02 for kernels, embeddings
and codebooks, ones for normalisation scales, zeros for biases. Throughput does
not depend on them (the programs are dense); quality columns of such runs are
marked meaningless."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

STD = 0.02
BASE_SIZE = 1 << 20  # values the leaves are cut from; each leaf starts at its own offset


def _leaf_name(path) -> str:
    last = path[-1]
    return str(getattr(last, "key", getattr(last, "name", last)))


def random_weights(init, input_shape, *, dtype=jnp.float32, seed: int = 0) -> dict:
    """Host (numpy) parameters shaped as `init(rng, input_shape)` returns them,
    floating leaves in `dtype`."""
    shapes = jax.eval_shape(functools.partial(init, input_shape=input_shape), jax.random.PRNGKey(seed))
    leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
    rng = np.random.default_rng(seed)
    base = (STD * rng.standard_normal(2 * BASE_SIZE, dtype=np.float32)).astype(jnp.dtype(dtype))
    out = []
    for index, (path, leaf) in enumerate(leaves):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            out.append(np.zeros(leaf.shape, leaf.dtype))
            continue
        name = _leaf_name(path)
        if name == "bias":
            out.append(np.zeros(leaf.shape, jnp.dtype(dtype)))
        elif name == "scale":
            out.append(np.ones(leaf.shape, jnp.dtype(dtype)))
        else:
            start = int(rng.integers(BASE_SIZE))
            out.append(np.resize(base[start:start + BASE_SIZE], leaf.shape))
    return jax.tree_util.tree_unflatten(treedef, out)
