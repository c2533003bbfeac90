"""DalleBart (dalle-mini 0.1.5) as the pipeline uses it: loading, and the
two functions the sampling loop needs (encode the prompts, one cached
decoder step). dalle-mini's own `generate` does not run on current jax, so
only its `encode`, `init_cache` and `decode` are used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from ..compat import import_dalle_mini


def dalle_mini():
    """dalle_mini.model (DalleBart, its config, processor and tokenizer), shims applied."""
    import_dalle_mini()
    import dalle_mini.model

    return dalle_mini.model


@dataclass(frozen=True)
class TextGeometry:
    """What the sampler needs to know of a DalleBart configuration."""

    image_length: int
    image_vocab_size: int
    start_token: int
    forbidden_token: int

    @classmethod
    def of(cls, config) -> "TextGeometry":
        # dalle-mini's generate applies the min-length processor over the whole
        # image, so the end-of-sequence id is never drawn.
        return cls(config.image_length, config.image_vocab_size, config.decoder_start_token_id,
                   config.eos_token_id)


def load_dallebart(source: str, dtype=jnp.float32, *, random_config: dict | None = None, seed: int = 0):
    """(model, params) from a Hub id, local folder or wandb artifact; with
    `random_config`, a randomly initialised model of that configuration."""
    dm = dalle_mini()
    if random_config is not None:
        config = dm.DalleBartConfig(**random_config)
        model = dm.DalleBart(config, dtype=dtype, _do_init=False)
        params = jax.jit(model.init_weights, static_argnums=1)(jax.random.PRNGKey(seed), model.input_shape)
    else:
        model, params = dm.DalleBart.from_pretrained(source, dtype=dtype, _do_init=False)
    return model, cast_floating(params, dtype)


def load_processor(source: str):
    return dalle_mini().DalleBartProcessor.from_pretrained(source)


def cast_floating(params, dtype):
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)


def encode(model, params, input_ids: jax.Array, attention_mask: jax.Array):
    return model.encode(input_ids=input_ids, attention_mask=attention_mask, params=params)


def empty_cache(model, batch: int, length: int, encoder_outputs) -> Any:
    """The decoder's KV cache, zero-filled: `init_cache`'s structure without
    running its throw-away initialisation inside the compiled program."""
    shapes = jax.eval_shape(lambda: model.init_cache(batch, length, encoder_outputs))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def decoder_step(model, params, encoder_outputs, encoder_mask: jax.Array, cache_length: int):
    """A `step(tokens, position, cache)` function for the sampling loop."""
    rows = encoder_mask.shape[0]
    decoder_mask = jnp.ones((rows, cache_length), jnp.int32)

    def step(tokens, position, cache):
        out = model.decode(tokens, encoder_outputs, encoder_attention_mask=encoder_mask,
                           decoder_attention_mask=decoder_mask,
                           decoder_position_ids=jnp.full((rows, 1), position, jnp.int32),
                           past_key_values=cache, params=params, return_dict=True)
        return out.logits[:, -1], out.past_key_values

    return step
