"""The generate -> decode -> score program: one pure function of (params,
batch), compiled once per sampling *structure* and batch shape. The sampling
values themselves (temperature, top-k, top-p, condition scale) are batch
inputs, one per row, so every setting of a structure shares one compiled
program. It does not know how it is parallelised or timed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .models import clip as clip_lib
from .models import dallebart
from .models.loading import Models
from .sampling import SETTING_KEYS, SamplingConfig, SamplingStructure, image_keys, sample_image_tokens

Program = Callable[[dict, dict], dict]


@dataclass(frozen=True)
class Stages:
    """The pipeline's four stages as separate pure functions, so they can be
    compiled and timed one by one; `build_program` chains them into one."""

    encode: Callable[[dict, dict], dict]  # (params, batch) -> {"encoded", "mask", "keys", *SETTING_KEYS}
    sample: Callable[[dict, dict], jax.Array]  # (params, encoded) -> tokens (B, image_length)
    decode: Callable[[dict, jax.Array], jax.Array]  # (params, tokens) -> images (B, H, W, 3) in [0, 1]
    score: Callable[[dict, dict], jax.Array]  # (params, {"images", "clip_ids", "clip_mask"}) -> (B,)

    NAMES = ("encode", "sample", "decode", "score")


def text_stages(dalle, geometry: dallebart.TextGeometry, structure: SamplingStructure, uncond_ids: np.ndarray,
                uncond_mask: np.ndarray) -> tuple[Callable, Callable]:
    """(encode, sample) on the DalleBart parameters alone."""
    uncond_ids, uncond_mask = np.asarray(uncond_ids, np.int32), np.asarray(uncond_mask, np.int32)
    decoder = dallebart.cached_decoder(dalle)

    def encode(dalle_params, batch: dict) -> dict:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        encoded = dallebart.encode(dalle, dalle_params, ids, mask)[0]
        if structure.unconditioned_pass:
            # The empty prompt is the same for every image: encoded once and
            # paired with each image's row, interleaved (image 0 cond, image 0
            # uncond, ...) so the decoder runs both in one pass, as the loop expects.
            empty = dallebart.encode(dalle, dalle_params, jnp.asarray(uncond_ids[:1]), jnp.asarray(uncond_mask[:1]))[0]
            encoded = _interleave(encoded, jnp.broadcast_to(empty, encoded.shape))
            mask = _interleave(mask, jnp.broadcast_to(uncond_mask[:1], mask.shape))
        return {"encoded": encoded, "mask": mask, "keys": batch["keys"], **{k: batch[k] for k in SETTING_KEYS}}

    def sample(dalle_params, encoded: dict) -> jax.Array:
        hidden, mask = (encoded["encoded"],), encoded["mask"]
        decoder_params = decoder.prepare(dalle_params)
        cache = decoder.initial_cache(decoder_params, mask.shape[0], geometry.image_length, hidden)
        step = decoder.step(decoder_params, hidden, mask, geometry.image_length)
        return sample_image_tokens(step, cache, encoded["keys"], num_tokens=geometry.image_length,
                                   start_token=geometry.start_token, forbidden_token=geometry.forbidden_token,
                                   structure=structure, settings={k: encoded[k] for k in SETTING_KEYS})

    return encode, sample


def _interleave(first: jax.Array, second: jax.Array) -> jax.Array:
    """Rows a0, b0, a1, b1, ... from rows a and rows b."""
    return jnp.stack([first, second], axis=1).reshape(-1, *first.shape[1:])


def build_token_program(dalle, geometry: dallebart.TextGeometry, structure: SamplingStructure,
                        uncond_ids: np.ndarray, uncond_mask: np.ndarray) -> Program:
    """(dalle params, batch) -> image tokens (B, image_length): text encode and token sampling."""
    encode, sample = text_stages(dalle, geometry, structure, uncond_ids, uncond_mask)
    return lambda dalle_params, batch: sample(dalle_params, encode(dalle_params, batch))


def build_stages(models: Models, structure: SamplingStructure) -> Stages:
    """The stages over the full parameter dict {"dalle", "vqgan", "clip"}."""
    encode, sample = text_stages(models.dalle, models.geometry, structure, models.processor.input_ids_uncond,
                                 models.processor.attention_mask_uncond)
    vqgan = models.vqgan
    codebook_size = vqgan.config.n_embed

    def decode(params: dict, tokens: jax.Array) -> jax.Array:
        # Ids past the codebook (mega pads its vocabulary for sharding) are
        # clamped, as the reference's gather did; current jnp.take would give NaN.
        codes = jnp.minimum(tokens, codebook_size - 1)
        return jnp.clip(vqgan.decode_code(codes, params=params["vqgan"]).astype(jnp.float32), 0.0, 1.0)

    def score(params: dict, inputs: dict) -> jax.Array:
        return clip_lib.clip_scores(models.clip, params["clip"], inputs["images"], inputs["clip_ids"],
                                    inputs["clip_mask"], models.clip_prep)

    return Stages(encode=lambda params, batch: encode(params["dalle"], batch),
                  sample=lambda params, encoded: sample(params["dalle"], encoded), decode=decode, score=score)


def build_program(models: Models, structure: SamplingStructure, with_clip: bool = True) -> Program:
    """(params, batch) -> {tokens, images in [0, 1], clip_scores}: the whole pipeline in one program."""
    stages = build_stages(models, structure)

    def program(params: dict, batch: dict) -> dict:
        tokens = stages.sample(params, stages.encode(params, batch))
        images = stages.decode(params, tokens)
        out = {"tokens": tokens, "images": images}
        if with_clip:
            out["clip_scores"] = stages.score(params, {"images": images, "clip_ids": batch["clip_ids"],
                                                       "clip_mask": batch["clip_mask"]})
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

    def batch(self, prompt_index: np.ndarray, sample_index: np.ndarray, seed: int, sampling: SamplingConfig) -> dict:
        """Program inputs for these rows, every row drawn with `sampling`."""
        return {
            **sampling.rows(len(prompt_index)),
            "input_ids": self.input_ids[prompt_index],
            "attention_mask": self.attention_mask[prompt_index],
            "clip_ids": self.clip_ids[prompt_index],
            "clip_mask": self.clip_mask[prompt_index],
            "keys": np.asarray(image_keys(seed, prompt_index, sample_index)),
        }
