"""Makes dalle-mini 0.1.5 importable on the current JAX stack.

dalle-mini 0.1.5 (the last release) was written against jax 0.3: it names
`jax.numpy.DeviceArray` in type hints and imports
`jax.experimental.PartitionSpec`. Both were removed from jax; the
replacements are drop-in for the way dalle-mini uses them. Everything in the
project imports dalle-mini through `import_dalle_mini()` so the shims are
applied exactly once, before the first import.
"""

from __future__ import annotations

import types
import warnings

import jax
import jax.experimental
import jax.numpy as jnp

from .errors import BenchError

# `pip install dalle-bench` cannot pull dalle-mini in: its pins do not install on current Python.
MISSING = ("dalle-mini is not installed: install it without its dependencies, "
           "`pip install --no-deps dalle-mini==0.1.5` (its own pins, jax 0.3 / flax 0.6 / transformers 4.25, "
           "do not install on current Python; README: Installing)")


def apply_shims() -> None:
    if not hasattr(jnp, "DeviceArray"):
        jnp.DeviceArray = jax.Array
    if not hasattr(jax.experimental, "PartitionSpec"):
        jax.experimental.PartitionSpec = jax.sharding.PartitionSpec


def import_dalle_mini() -> types.ModuleType:
    apply_shims()
    try:
        with warnings.catch_warnings():
            # dalle-mini's regexes are plain strings ("\s+", "(\d)"): Python 3.12 warns 11 times on
            # stderr each time it compiles them, which is every run where no .pyc could be written
            # (pip --no-compile, a read-only site-packages, PYTHONDONTWRITEBYTECODE).
            warnings.simplefilter("ignore", SyntaxWarning)
            import dalle_mini
    except ModuleNotFoundError as e:
        if e.name != "dalle_mini":
            raise
        raise BenchError(MISSING) from None
    return dalle_mini
