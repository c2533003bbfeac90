"""The names a user chooses among, defined once. The CLI's choices, the sweep
definition's checks and the code that acts on a name all read them from here
(no JAX: the CLI imports this before JAX may start)."""

PARALLEL_MODES = ("single", "pmap", "sharded")
"""single (one device), pmap (the notebook's way), sharded (jit over a mesh)."""

DTYPES = ("float32", "bfloat16", "float16")
"""Parameter and compute dtypes, by their jax.numpy names."""

WEIGHTS = ("pretrained", "random")
"""Published (or given) checkpoints, or the same architecture randomly initialised."""
