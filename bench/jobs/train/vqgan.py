"""VQGAN training with the world's tokens known: every cell is one flat
named colour, so colour c is given code c (codes past the palette stay
unused). The decoder and codebook learn to reconstruct images from those
codes (L2 in [0, 1] pixels); the encoder learns to produce them (cross-
entropy over negative distances to the codebook, whose argmin is the
quantiser's choice). Learning the codes freely (straight-through VQ with
codebook restarts) collapsed to a few grey codes in our runs on this
world; fixing them removes that failure and keeps one token = one cell.

Trained in phases: first on cell-aligned crops (the model is
convolutional; a 4x4-cell crop costs a 16th of an image), half world
scenes, half grids of random cells, then on whole images, because
GroupNorm's statistics are image-wide: a decoder fitted only on crops meets
other statistics on whole images (about 1 % of cells wrong after crops
alone, in our runs).

The outer level has 64 channels (two a group): a pair of channels that
add up to a constant has the same group mean and variance in every image,
so the decoder can carry a flat colour through the last GroupNorm exactly;
with one channel a group the norm rescales it by the image's colour
proportions."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core.models.vqgan import VQGANConfig, VQModel
from bench.shapes.world import CELL, COLOUR_NAMES, grid_image

from .data import training_scenes
from .optimise import jitted_step


def _crops(rng: np.random.Generator, count: int, cells: int) -> np.ndarray:
    """(count, cells, cells) colour-index grids, cell-aligned crops of world scenes and random grids."""
    _, grids = training_scenes(rng, count // 2)
    crops = []
    for grid in grids:
        top, left = rng.integers(grid.shape[0] - cells + 1, size=2)
        crops.append(grid[top:top + cells, left:left + cells])
    crops += list(rng.integers(len(COLOUR_NAMES), size=(count - len(crops), cells, cells)))
    return np.stack(crops)


def start_as_skip_paths(params):
    """Residual branches (each block's conv2, attention's proj_out) start at
    zero and upsampling convs as the identity, so the untrained decoder
    already carries each code's features to its own cell (nearest-neighbour
    upsampling, as Fixup and guided diffusion start their residual nets):
    training learns colours instead of first undoing random spatial mixing."""
    from flax.traverse_util import flatten_dict, unflatten_dict

    flat = flatten_dict(jax.device_get(params))
    for path, value in flat.items():
        if path[-1] != "kernel":
            continue
        if path[-2] in ("conv2", "proj_out"):
            flat[path] = np.zeros_like(value)
        elif path[-2] == "conv" and path[-3] == "upsample":
            identity = np.zeros_like(value)
            identity[1, 1] = np.eye(value.shape[2], value.shape[3], dtype=value.dtype)
            flat[path] = identity
    return unflatten_dict(flat)


@dataclass(frozen=True)
class Phase:
    steps: int
    batch: int
    crop_cells: int  # 16: whole images


def train_vqgan(config: VQGANConfig, *, seed: int, phases: tuple[Phase, ...], learning_rate: float,
                echo=print) -> VQModel:
    if config.n_embed < len(COLOUR_NAMES):
        raise ValueError(f"n_embed {config.n_embed} < {len(COLOUR_NAMES)} colours")
    model = VQModel(config, seed=seed)
    module = model.module
    rng = np.random.default_rng(seed)
    params = start_as_skip_paths(model.params)
    steps = sum(phase.steps for phase in phases)
    warmup = min(20, steps // 2)
    optimizer = optax.adam(optax.warmup_cosine_decay_schedule(0.0, learning_rate, warmup,
                                                              max(steps, 2 * warmup + 1), learning_rate / 10))
    state = optimizer.init(params)

    def forward(m, pixels, codes):
        latents = m.quant_conv(m.encoder(pixels)).reshape(-1, config.embed_dim)
        table = m.quantize.embedding.embedding
        distance = (jnp.sum(latents**2, axis=1, keepdims=True) + jnp.sum(table**2, axis=1)
                    - 2 * latents @ table.T)
        side = pixels.shape[1] // CELL
        recon = m.decode(m.quantize.embedding(codes).reshape(codes.shape[0], side, side, config.embed_dim))
        return recon, -distance

    def loss_fn(params, pixels, codes):
        recon, logits = module.apply({"params": params}, pixels, codes, method=forward)
        reconstruction = jnp.mean((recon - pixels) ** 2)
        encoding = optax.softmax_cross_entropy_with_integer_labels(logits, codes.reshape(-1)).mean()
        accuracy = jnp.mean(jnp.argmax(logits, -1) == codes.reshape(-1))
        return reconstruction + 0.01 * encoding, (reconstruction, accuracy)

    step = jitted_step(loss_fn, optimizer, has_aux=True)

    start, done = time.perf_counter(), 0
    for phase in phases:
        for _ in range(phase.steps):
            done += 1
            grids = _crops(rng, phase.batch, phase.crop_cells)
            pixels = np.stack([grid_image(g) for g in grids]).astype(np.float32) / 255.0
            params, state, (loss, (recon, accuracy)) = step(params, state, pixels, grids.reshape(phase.batch, -1))
            if done % 25 == 0 or done == steps or done <= 3:
                echo(f"vqgan step {done}/{steps} ({phase.crop_cells}x{phase.crop_cells}-cell images, batch "
                     f"{phase.batch}): loss {float(loss):.5f}, reconstruction mse {float(recon):.5f}, "
                     f"encoder code accuracy {float(accuracy):.3f}, {time.perf_counter() - start:.0f} s")
    model.params = params
    return model
