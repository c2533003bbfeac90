"""CLIP training: the symmetric contrastive loss over (image, caption)
pairs of the training distribution, images preprocessed exactly as the
pipeline's CLIP score preprocesses them (bicubic resize, normalisation)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.shapes.world import grid_image

from .data import training_scenes
from .optimise import jitted_step


def train_clip(model, processor, *, seed: int, steps: int, batch: int, learning_rate: float, echo=print):
    module, params = model.module, model.params
    rng = np.random.default_rng(seed)
    size = model.config.vision_config.image_size
    length = model.config.text_config.max_position_embeddings
    mean = jnp.asarray(processor.image_processor.image_mean)
    std = jnp.asarray(processor.image_processor.image_std)
    optimizer = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(20, steps // 2),
                                                               max(steps, 2 * min(20, steps // 2) + 1),
                                                               learning_rate / 10), weight_decay=0.01)
    state = optimizer.init(params)

    def loss_fn(params, images, ids, mask):
        images = images.astype(jnp.float32) / 255.0
        pixels = jax.image.resize(images, (images.shape[0], size, size, 3), method="bicubic", antialias=True)
        pixels = (pixels - mean) / std  # the Flax module takes NHWC (FlaxCLIPModel transposes NCHW for it)
        out = module.apply({"params": params}, ids, pixels, mask, jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape))
        labels = jnp.arange(ids.shape[0])
        return (optax.softmax_cross_entropy_with_integer_labels(out.logits_per_image, labels).mean()
                + optax.softmax_cross_entropy_with_integer_labels(out.logits_per_text, labels).mean()) / 2

    step = jitted_step(loss_fn, optimizer)

    clock = time.perf_counter()
    for i in range(1, steps + 1):
        captions, grids = training_scenes(rng, batch)
        text = processor.tokenizer(captions, padding="max_length", truncation=True, max_length=length,
                                   return_tensors="np")
        params, state, loss = step(params, state, np.stack([grid_image(g) for g in grids]), text["input_ids"].astype(np.int32),
                                   text["attention_mask"].astype(np.int32))
        if i % 25 == 0 or i == steps or i <= 2:
            echo(f"clip step {i}/{steps}: loss {float(loss):.4f} (chance {np.log(batch):.2f}), "
                 f"{time.perf_counter() - clock:.0f} s")
    model.params = params
    return model
