"""DalleBart (dalle-mini 0.1.5) as the pipeline uses it: loading, and the
two functions the sampling loop needs (encode the prompts, one cached
decoder step). dalle-mini's own `generate` does not run on current jax, so
only its `encode`, `init_cache` and `decode` are used.

Decoding runs dalle-mini's own modules, with two changes of schedule that
leave the arithmetic alone (see `CachedDecoder`)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from bench.base.compat import import_dalle_mini


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


def random_weights(init, input_shape, *, dtype, seed: int):
    from .random_init import random_weights as draw

    return draw(init, input_shape, dtype=dtype, seed=seed)


def load_dallebart(source: str, dtype=jnp.float32, *, random_config: dict | None = None, seed: int = 0):
    """(model, params) from a Hub id, local folder or wandb artifact; with
    `random_config`, a randomly initialised model of that configuration."""
    dm = dalle_mini()
    if random_config is not None:
        config = dm.DalleBartConfig(**random_config)
        model = dm.DalleBart(config, dtype=dtype, _do_init=False)
        params = random_weights(model.init_weights, model.input_shape, dtype=dtype, seed=seed)
    else:
        model, params = dm.DalleBart.from_pretrained(source, dtype=dtype, _do_init=False)
    return model, cast_floating(params, dtype)


def on_host(params):
    """Freshly initialised weights, moved off the default device: the runners
    place their own copies, and a second one left on accelerator 0 would
    count in its memory (and run mini/mega out of it early)."""
    return jax.device_get(params)


def load_processor(source: str):
    return dalle_mini().DalleBartProcessor.from_pretrained(source)


def cast_floating(params, dtype):
    return jax.tree.map(lambda x: x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x, params)


def encode(model, params, input_ids: jax.Array, attention_mask: jax.Array):
    return model.encode(input_ids=input_ids, attention_mask=attention_mask, params=params)


def _supports_fast_decoding(config) -> bool:
    """The attention variants `_decoder_attention` re-implements. Others (cosine
    attention, Swin biases, head scales, sub-LN) decode through dalle-mini's
    code unchanged, correct but slower."""
    return not (config.use_cosine_attention or config.use_swin_position_embeddings or config.use_head_scale
                or config.ln_positions in ("subln", "postln", "swinv2"))


_DECODERS: "weakref.WeakKeyDictionary[Any, CachedDecoder]" = weakref.WeakKeyDictionary()


def cached_decoder(model) -> "CachedDecoder":
    """The model's `CachedDecoder`, built once: building one constructs a
    second transformers model, whose shape inference traces the whole
    initialisation (0.7 s a time, once per sweep point before this)."""
    if model not in _DECODERS:
        _DECODERS[model] = CachedDecoder(model)
    return _DECODERS[model]


class CachedDecoder:
    """dalle-mini's decoder, scheduled for 256 single-token steps.

    - Layers unrolled: dalle-mini scans its layers (`use_scan`), which slices
      the stacked weights and threads the whole key/value cache through the
      layer loop at every step. The unrolled model has the same layers and
      parameter values; `prepare` unstacks the weights once per program call.
      (The two differ only for post-LN layouts, where the last layer's norm
      has no scale when unrolled; those keep the scan.)
    - Attention keys and values kept as (batch, heads, length, head_dim), the
      layout the attention products read, instead of dalle-mini's
      (batch, length, heads, head_dim) which XLA transposes, whole cache,
      every step. Cross-attention keys and values depend only on the prompt:
      they are projected once, not at each of the 256 steps.

    Both are done by a Flax method interceptor on the decoder's attention
    modules; projections, norms and feed-forward layers are dalle-mini's.
    """

    def __init__(self, model):
        self.model = model
        config = model.config
        self.fast = _supports_fast_decoding(config)
        self.unroll = self.fast and config.use_scan
        if self.unroll:
            unrolled = type(config).from_dict({**config.to_dict(), "use_scan": False})
            self.decoding_model = type(model)(unrolled, dtype=model.dtype, _do_init=False)
        else:
            self.decoding_model = model
        self.heads = config.decoder_attention_heads
        self.head_dim = config.d_model // self.heads

    def prepare(self, params: dict) -> dict:
        """Parameters for the decoding model: scanned decoder layers unstacked."""
        if not self.unroll:
            return params
        layers = params["model"]["decoder"]["layers"]
        stacked = layers["FlaxBartDecoderLayers"]
        count = jax.tree.leaves(stacked)[0].shape[0]
        unstacked = {f"FlaxBartDecoderLayer_{i}": jax.tree.map(lambda x, i=i: x[i], stacked) for i in range(count)}
        decoder = {**params["model"]["decoder"], "layers": unstacked}
        return {**params, "model": {**params["model"], "decoder": decoder}}

    def initial_cache(self, params: dict, batch: int, length: int, encoder_outputs) -> Any:
        """The cache before the first step. Fast path: per layer, empty
        self-attention keys/values and the prompt's cross-attention keys/values."""
        if not self.fast:
            shapes = jax.eval_shape(lambda: self.model.init_cache(batch, length, encoder_outputs))
            return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        hidden = encoder_outputs[0]
        dtype = self.model.dtype
        layers = params["model"]["decoder"]["layers"]
        cache = {}
        for name, layer in layers.items():
            cross = layer[CROSS_ATTENTION]
            empty = jnp.zeros((batch, self.heads, length, self.head_dim), dtype)
            cache[name] = {
                SELF_ATTENTION: {"keys": empty, "values": empty, "index": jnp.zeros((), jnp.int32)},
                CROSS_ATTENTION: {"keys": self._heads(_dense(cross["k_proj"], hidden, dtype)),
                                  "values": self._heads(_dense(cross["v_proj"], hidden, dtype))},
            }
        return {"model": {"decoder": {"layers": cache}}}

    def _heads(self, x: jax.Array) -> jax.Array:
        """(batch, length, d_model) -> (batch, heads, length, head_dim)."""
        return x.reshape(*x.shape[:2], self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def step(self, params: dict, encoder_outputs, encoder_mask: jax.Array, cache_length: int):
        """A `step(tokens, position, cache) -> (logits, cache)` function for the sampling loop."""
        rows = encoder_mask.shape[0]
        decoder_mask = jnp.ones((rows, cache_length), jnp.int32)
        model = self.decoding_model

        def step(tokens, position, cache):
            def decode():
                return model.decode(tokens, encoder_outputs, encoder_attention_mask=encoder_mask,
                                    decoder_attention_mask=decoder_mask,
                                    decoder_position_ids=jnp.full((rows, 1), position, jnp.int32),
                                    past_key_values=cache, params=params, return_dict=True)

            if self.fast:
                with nn.intercept_methods(_decoder_attention):
                    out = decode()
            else:
                out = decode()
            return out.logits[:, -1], out.past_key_values

        return step


SELF_ATTENTION, CROSS_ATTENTION = "FlaxBartAttention_0", "FlaxBartAttention_1"  # module names in a decoder layer


def _dense(params: dict, x: jax.Array, dtype) -> jax.Array:
    """nn.Dense's arithmetic on one set of parameters."""
    y = jnp.einsum("...d,de->...e", x.astype(dtype), params["kernel"].astype(dtype))
    return y + params["bias"].astype(dtype) if "bias" in params else y


def _decoder_attention(next_fun, args, kwargs, context):
    """Interceptor for the decoder's attention modules: one query token
    attends to keys/values kept in the cache in (batch, heads, length,
    head_dim) layout. The arithmetic is dalle-mini's (scaled dot products,
    masked positions at -inf, softmax in the compute dtype)."""
    module = context.module
    if (context.method_name != "__call__" or type(module).__name__ != "FlaxBartAttention" or module.is_encoder
            or not module.has_variable("cache", "keys")):
        return next_fun(*args, **kwargs)
    hidden = kwargs.get("hidden_states", args[0] if args else None)
    mask = kwargs.get("attention_mask")
    batch, heads, dtype = hidden.shape[0], module.num_heads, module.dtype
    query = module.q_proj(hidden).reshape(batch, heads, -1)
    keys, values = module.get_variable("cache", "keys"), module.get_variable("cache", "values")
    positions = jnp.arange(keys.shape[2])
    if module.is_cross_attention:
        visible = (mask[:, None, :] > 0) if mask is not None else jnp.ones((batch, 1, keys.shape[2]), bool)
    else:
        index = module.get_variable("cache", "index")
        key = module.k_proj(hidden).reshape(batch, heads, 1, -1)
        value = module.v_proj(hidden).reshape(batch, heads, 1, -1)
        keys = jax.lax.dynamic_update_slice(keys, key.astype(keys.dtype), (0, 0, index, 0))
        values = jax.lax.dynamic_update_slice(values, value.astype(values.dtype), (0, 0, index, 0))
        module.put_variable("cache", "keys", keys)
        module.put_variable("cache", "values", values)
        module.put_variable("cache", "index", index + 1)
        visible = (positions <= index)[None, None, :]
        if mask is not None:
            visible = visible & (mask[:, None, :] > 0)
    scores = jnp.einsum("bhd,bhkd->bhk", query, keys) / jnp.sqrt(query.shape[-1]).astype(dtype)
    scores = scores + jnp.where(visible, 0.0, -jnp.inf).astype(dtype)
    weights = jax.nn.softmax(scores).astype(dtype)
    attended = jnp.einsum("bhk,bhkd->bhd", weights, values).reshape(batch, 1, -1)
    return module.out_proj(attended), weights
