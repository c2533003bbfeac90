"""The optax update every training stage shares: one jitted step of
gradient descent on a loss function of (params, *batch)."""

from __future__ import annotations

import jax
import optax


def jitted_step(loss_fn, optimizer: optax.GradientTransformation, has_aux: bool = False):
    """(params, state, *batch) -> (params, state, loss) — or (params, state,
    (loss, aux)) when `loss_fn` returns auxiliary figures (`has_aux`)."""

    @jax.jit
    def step(params, state, *batch):
        value, grads = jax.value_and_grad(loss_fn, has_aux=has_aux)(params, *batch)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    return step
