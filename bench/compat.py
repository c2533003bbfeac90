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

import jax
import jax.experimental
import jax.numpy as jnp


def apply_shims() -> None:
    if not hasattr(jnp, "DeviceArray"):
        jnp.DeviceArray = jax.Array
    if not hasattr(jax.experimental, "PartitionSpec"):
        jax.experimental.PartitionSpec = jax.sharding.PartitionSpec


def import_dalle_mini() -> types.ModuleType:
    apply_shims()
    import dalle_mini

    return dalle_mini
