"""The generate -> decode -> score program: one pure function of (params,
batch), compiled once per sampling configuration and batch shape. It does
not know how it is parallelised or timed."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .models import clip as clip_lib
from .models import dallebart
from .models.loading import Models
from .sampling import SamplingConfig, image_keys, sample_image_tokens

Program = Callable[[dict, dict], dict]


def build_token_program(dalle, geometry: dallebart.TextGeometry, sampling: SamplingConfig,
                        uncond_ids: np.ndarray, uncond_mask: np.ndarray) -> Program:
    """(dalle params, batch) -> image tokens (B, image_length): text encode and token sampling."""
    uncond_ids, uncond_mask = np.asarray(uncond_ids, np.int32), np.asarray(uncond_mask, np.int32)
    decoder = dallebart.CachedDecoder(dalle)

    def tokens_program(dalle_params, batch: dict) -> jax.Array:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if sampling.unconditioned_pass:
            # One encoder and one decoder pass over the stacked conditioned and
            # unconditioned rows, instead of two passes of half the size.
            ids = jnp.concatenate([ids, jnp.broadcast_to(uncond_ids, ids.shape)])
            mask = jnp.concatenate([mask, jnp.broadcast_to(uncond_mask, mask.shape)])
        encoded = dallebart.encode(dalle, dalle_params, ids, mask)
        decoder_params = decoder.prepare(dalle_params)
        cache = decoder.initial_cache(decoder_params, ids.shape[0], geometry.image_length, encoded)
        step = decoder.step(decoder_params, encoded, mask, geometry.image_length)
        return sample_image_tokens(step, cache, batch["keys"], num_tokens=geometry.image_length,
                                   start_token=geometry.start_token, forbidden_token=geometry.forbidden_token,
                                   config=sampling)

    return tokens_program


def build_program(models: Models, sampling: SamplingConfig, with_clip: bool = True) -> Program:
    """(params, batch) -> {tokens, images in [0, 1], clip_scores}: the whole pipeline in one program."""
    tokens_program = build_token_program(models.dalle, models.geometry, sampling,
                                         models.processor.input_ids_uncond, models.processor.attention_mask_uncond)
    vqgan = models.vqgan
    codebook_size = vqgan.config.n_embed

    def program(params: dict, batch: dict) -> dict:
        tokens = tokens_program(params["dalle"], batch)
        # Ids past the codebook (mega pads its vocabulary for sharding) are
        # clamped, as the reference's gather did; current jnp.take would give NaN.
        codes = jnp.minimum(tokens, codebook_size - 1)
        images = jnp.clip(vqgan.decode_code(codes, params=params["vqgan"]).astype(jnp.float32), 0.0, 1.0)
        out = {"tokens": tokens, "images": images}
        if with_clip:
            out["clip_scores"] = clip_lib.clip_scores(models.clip, params["clip"], images, batch["clip_ids"],
                                                      batch["clip_mask"], models.clip_prep)
        return out

    return program


class PromptTable:
    """Tokenised prompts, computed once on the host; batches gather rows from it."""

    def __init__(self, models: Models, prompts: list[str]):
        text = models.processor(prompts)
        self.input_ids = np.asarray(text["input_ids"], np.int32)
        self.attention_mask = np.asarray(text["attention_mask"], np.int32)
        self.clip_ids, self.clip_mask = clip_lib.tokenize(models.clip_processor, prompts, models.clip_prep.text_length)
        limit = self.input_ids.shape[1]
        tokenizer = models.processor.tokenizer
        self.truncated = [i for i, p in enumerate(prompts) if len(tokenizer(p)["input_ids"]) > limit]

    def batch(self, prompt_index: np.ndarray, sample_index: np.ndarray, seed: int) -> dict:
        return {
            "input_ids": self.input_ids[prompt_index],
            "attention_mask": self.attention_mask[prompt_index],
            "clip_ids": self.clip_ids[prompt_index],
            "clip_mask": self.clip_mask[prompt_index],
            "keys": np.asarray(image_keys(seed, prompt_index, sample_index)),
        }
