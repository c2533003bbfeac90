"""Random weights (`--weights random`) are initialised on the default device;
they must leave it, so that placing them for a point leaves one copy on the
devices, not two on accelerator 0. Measured with jax.live_arrays()."""

from __future__ import annotations

import gc

import jax
import jax.numpy as jnp
import numpy as np

from bench.core.models.presets import PRESETS


def _live_bytes(device) -> int:
    gc.collect()
    return sum(a.nbytes for a in jax.live_arrays() if device in a.devices())


def test_random_weights_are_host_copies_and_placement_makes_one_device_copy(tiny_cache):
    from bench.core.models import clip, dallebart
    from bench.core.models.loading import _init
    from bench.core.models.tiny import tiny_folder
    from bench.core.models.vqgan import VQGANConfig, VQModel
    from bench.core.parallel import place_params

    device = jax.devices()[0]
    before = _live_bytes(device)
    tiny = PRESETS["tiny"]
    _, dalle_params = dallebart.load_dallebart("", jnp.float32, random_config=tiny.dalle_config)
    _, clip_params, _ = clip.load_clip(str(tiny_folder() / "clip"), jnp.float32, random_config=tiny.clip_config)
    vqgan_params = _init(VQModel(VQGANConfig(**tiny.vqgan_config), dtype=jnp.float32, _do_init=False))
    params = {"dalle": dalle_params, "clip": clip_params, "vqgan": vqgan_params}
    leaves = jax.tree.leaves(params)
    size = sum(leaf.nbytes for leaf in leaves)
    assert all(isinstance(leaf, np.ndarray) for leaf in leaves)
    assert _live_bytes(device) - before < 0.01 * size  # nothing left behind on the default device

    placed = place_params(params, [device], "single")
    assert _live_bytes(device) - before == size  # exactly one copy, the placed one
    del placed
