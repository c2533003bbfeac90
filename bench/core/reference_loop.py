"""The baseline the pipeline is measured against: a plain loop over
dalle-mini's own `decode`, as its `generate` is structured: the conditioned
and unconditioned prompts encoded and decoded as two separate passes, each
with its own `init_cache`, the scanned layers as published, the
cross-attention keys and values projected again at every step, and one
jitted step per token called from Python, its token read back to the host.
VQGAN decoding and CLIP scoring are the pipeline's own (the comparison is
about the token loop).

Used by the benchmarks only; it is what a user would write from the
dalle-mini notebook on current JAX."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .models.loading import Models
from .pipeline import build_stages
from .sampling import SamplingConfig
from .sampling.warpers import forbid_token, super_condition, warp


class PlainLoop:
    def __init__(self, models: Models, sampling: SamplingConfig):
        self.models, self.sampling = models, sampling
        model, geometry = models.dalle, models.geometry
        self.length = geometry.image_length

        @jax.jit
        def start(params, ids, mask):
            encoded = model.encode(input_ids=ids, attention_mask=mask, params=params)
            return encoded, model.init_cache(ids.shape[0], self.length, encoded)

        def decode(params, token, position, encoded, mask, cache):
            rows = token.shape[0]
            out = model.decode(token[:, None], encoded, encoder_attention_mask=mask,
                               decoder_attention_mask=jnp.ones((rows, self.length), jnp.int32),
                               decoder_position_ids=jnp.full((rows, 1), position, jnp.int32),
                               past_key_values=cache, params=params, return_dict=True)
            return out.logits[:, -1].astype(jnp.float32), out.past_key_values

        @jax.jit
        def step(params, token, position, keys, cond, uncond, cond_cache, uncond_cache):
            logits, cond_cache = decode(params, token, position, cond[0], cond[1], cond_cache)
            if sampling.unconditioned_pass:
                uncond_logits, uncond_cache = decode(params, token, position, uncond[0], uncond[1], uncond_cache)
                logits = super_condition(logits, uncond_logits, sampling.cond_scale)
            logits = warp(forbid_token(logits, geometry.forbidden_token), sampling)
            step_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, position)
            token = jax.vmap(jax.random.categorical)(step_keys, logits).astype(jnp.int32)
            return token, cond_cache, uncond_cache

        stages = build_stages(models, sampling.structure)
        self._start, self._step = start, step
        self._decode = jax.jit(stages.decode)
        self._score = jax.jit(stages.score)

    def __call__(self, batch: dict) -> dict:
        """Host batch (as PromptTable.batch gives) -> {tokens, images, clip_scores} on the host."""
        params = self.models.params
        dalle = params["dalle"]
        ids, mask = jnp.asarray(batch["input_ids"]), jnp.asarray(batch["attention_mask"])
        processor = self.models.processor
        uncond_ids = jnp.broadcast_to(jnp.asarray(processor.input_ids_uncond, jnp.int32)[:1], ids.shape)
        uncond_mask = jnp.broadcast_to(jnp.asarray(processor.attention_mask_uncond, jnp.int32)[:1], mask.shape)
        cond_encoded, cond_cache = self._start(dalle, ids, mask)
        uncond_encoded, uncond_cache = (self._start(dalle, uncond_ids, uncond_mask)
                                        if self.sampling.unconditioned_pass else (None, None))
        keys = jnp.asarray(batch["keys"])
        token = jnp.full((ids.shape[0],), self.models.geometry.start_token, jnp.int32)
        tokens = []
        for position in range(self.length):
            token, cond_cache, uncond_cache = self._step(dalle, token, position, keys, (cond_encoded, mask),
                                                         (uncond_encoded, uncond_mask), cond_cache, uncond_cache)
            tokens.append(np.asarray(token))
        tokens = jnp.asarray(np.stack(tokens, axis=1))
        images = self._decode(params, tokens)
        scores = self._score(params, {"images": images, "clip_ids": jnp.asarray(batch["clip_ids"]),
                                      "clip_mask": jnp.asarray(batch["clip_mask"])})
        return {"tokens": np.asarray(tokens), "images": np.asarray(images), "clip_scores": np.asarray(scores)}
