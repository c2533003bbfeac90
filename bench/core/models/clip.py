"""CLIP for re-ranking: transformers' FlaxCLIPModel + CLIPProcessor, scored
inside the compiled program."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .dallebart import cast_floating, random_weights


@dataclass(frozen=True)
class ClipPreprocessing:
    """The image preprocessing CLIPProcessor would apply, done on device:
    the 256x256 image is resized (bicubic, antialiased) straight to the
    model's square input, then normalised."""

    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    text_length: int

    @classmethod
    def of(cls, model, processor) -> "ClipPreprocessing":
        image_processor = processor.image_processor
        return cls(model.config.vision_config.image_size, tuple(image_processor.image_mean),
                   tuple(image_processor.image_std), model.config.text_config.max_position_embeddings)


def load_clip(source: str, dtype=jnp.float32, *, random_config: dict | None = None, seed: int = 0):
    """(model, params, processor). With `random_config` the weights are
    random; the processor still comes from `source`."""
    from transformers import CLIPConfig, CLIPProcessor, FlaxCLIPModel

    processor = CLIPProcessor.from_pretrained(source)
    if random_config is not None:
        model = FlaxCLIPModel(CLIPConfig(**random_config), dtype=dtype, _do_init=False)
        params = random_weights(model.init_weights, model.input_shape, dtype=dtype, seed=seed)
    else:
        model, params = FlaxCLIPModel.from_pretrained(source, dtype=dtype, _do_init=False)
    return model, cast_floating(params, dtype), processor


def tokenize(processor, prompts: list[str], length: int) -> tuple[np.ndarray, np.ndarray]:
    out = processor.tokenizer(prompts, padding="max_length", truncation=True, max_length=length, return_tensors="np")
    return out["input_ids"].astype(np.int32), out["attention_mask"].astype(np.int32)


def clip_scores(model, params, images: jax.Array, text_ids: jax.Array, text_mask: jax.Array,
                prep: ClipPreprocessing) -> jax.Array:
    """Per-image CLIP score 100 * max(cos(image, text), 0), each image clamped (the notebook's re-ranking
    score; torchmetrics clamps only the mean of a set, as evals/clip_score.py). Images in [0, 1], NHWC."""
    batch = images.shape[0]
    pixels = jax.image.resize(images.astype(jnp.float32), (batch, prep.image_size, prep.image_size, 3),
                              method="bicubic", antialias=True)
    pixels = (pixels - jnp.asarray(prep.mean)) / jnp.asarray(prep.std)
    pixels = jnp.transpose(pixels, (0, 3, 1, 2)).astype(model.dtype)  # Flax CLIP takes NCHW
    image_features = model.get_image_features(pixels, params=params).astype(jnp.float32)
    text_features = model.get_text_features(text_ids, text_mask, params=params).astype(jnp.float32)
    cosine = jnp.sum(_unit(image_features) * _unit(text_features), axis=-1)
    return 100.0 * jnp.maximum(cosine, 0.0)


def _unit(x):
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)
