"""DalleBart training: teacher-forced cross-entropy of the 256 image tokens
given the caption, with the caption dropped (the empty prompt, as the
processor encodes it) for a share of the rows, so super-conditioning has an
unconditioned model to push away from.

Trained on cell tokens (the colour index of each cell); `to_codes` maps
them to the VQGAN's codes afterwards. A relabelling of token ids permutes
rows of the input embedding and columns of the output layer, so it changes
nothing else."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.core.models.dallebart import dalle_mini

from .data import training_scenes
from .optimise import jitted_step


def train_dallebart(config, processor, *, seed: int, steps: int, batch: int, learning_rate: float,
                    drop_caption: float, echo=print):
    dm = dalle_mini()
    model = dm.DalleBart(config, seed=seed)
    module, params = model.module, model.params
    rng = np.random.default_rng(seed)
    image_length = config.image_length
    start = config.decoder_start_token_id
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(
        optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(50, steps // 2),
                                           max(steps, 2 * min(50, steps // 2) + 1), learning_rate / 10),
        weight_decay=0.01))
    state = optimizer.init(params)

    def loss_fn(params, ids, mask, tokens):
        inputs = jnp.concatenate([jnp.full((tokens.shape[0], 1), start, tokens.dtype), tokens[:, :-1]], axis=1)
        logits = module.apply({"params": params}, ids, mask, inputs, jnp.ones_like(inputs),
                              jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape),
                              jnp.broadcast_to(jnp.arange(image_length), inputs.shape)).logits
        return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), tokens).mean()

    step = jitted_step(loss_fn, optimizer)

    clock = time.perf_counter()
    for i in range(1, steps + 1):
        captions, grids = training_scenes(rng, batch)
        captions = ["" if rng.random() < drop_caption else c for c in captions]
        text = processor(captions)
        params, state, loss = step(params, state, np.asarray(text["input_ids"]), np.asarray(text["attention_mask"]),
                                   grids.reshape(batch, -1).astype(np.int32))
        if i % 50 == 0 or i == steps or i <= 3:
            echo(f"dallebart step {i}/{steps}: loss {float(loss):.4f}, {time.perf_counter() - clock:.0f} s")
    model.params = params
    return model


def to_codes(params: dict, table: np.ndarray, codebook_size: int) -> dict:
    """Cell-token parameters -> VQGAN-code parameters: token c becomes code
    table[c]; codes no colour uses take the remaining rows in order."""
    order = list(table) + [code for code in range(codebook_size) if code not in set(table)]
    if len(order) != codebook_size or len(set(order)) != codebook_size:
        raise ValueError(f"colour -> code table {list(table)} is not one-to-one within {codebook_size} codes")
    permutation = np.empty(codebook_size + 1, np.int64)  # + the start token, which keeps its id
    permutation[np.array(order)] = np.arange(codebook_size)
    permutation[codebook_size] = codebook_size
    params = jax.tree.map(lambda x: x, params)
    model = params["model"]
    embed = model["decoder"]["embed_tokens"]["embedding"]
    model["decoder"]["embed_tokens"]["embedding"] = embed[permutation]
    params["lm_head"]["kernel"] = params["lm_head"]["kernel"][:, permutation]
    return params
