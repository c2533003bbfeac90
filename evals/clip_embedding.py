"""CMMD's features: L2-normalised CLIP image embeddings, as the paper's
reference code computes them (google-research `cmmd/embedding.py`): the
whole image, scaled to [0, 1], resized bicubically (jax.image.resize) to the
network's input size (336 px for `openai/clip-vit-large-patch14-336`), no
crop, normalised with CLIP's mean and std. The network is a transformers
`CLIPVisionModelWithProjection` (PyTorch) from a Hub id or a local folder;
a full CLIP checkpoint loads too (its text tower is left out)."""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError, first_line

from .networks import local_folder

# CLIP's normalisation (OpenAI's constants, as scenic's `normalize_image`).
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def resize_note(size: int) -> str:
    return f"whole image bicubic-resized (jax.image.resize) to {size}x{size}, CLIP mean/std, L2-normalised"


def load(source: str):
    from transformers import CLIPVisionModelWithProjection

    folder = local_folder(source, "--clip")
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(folder) if folder else source)
    except Exception as e:  # transformers raises many types for one cause: an unusable checkpoint
        raise BenchError(f"--clip: cannot load CLIP image tower '{source}': {first_line(e)}") from None
    return model.eval()


def embeddings(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, D) float32 unit vectors of uint8 (N, H, W, 3) images."""
    import jax
    import jax.numpy as jnp
    import torch

    size = model.config.image_size
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = jnp.asarray(images[start:start + batch_size], jnp.float32) / 255.0
            chunk = jax.image.resize(chunk, (len(chunk), size, size, 3), method="bicubic")
            chunk = (np.asarray(chunk) - CLIP_MEAN) / CLIP_STD
            pixels = torch.from_numpy(np.ascontiguousarray(chunk.transpose(0, 3, 1, 2)))
            embeds = model(pixel_values=pixels).image_embeds
            out.append(torch.nn.functional.normalize(embeds, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32)


def input_size(source: str) -> int:
    """The size images are resized to: the config's, or 336 for a Hub id naming it (no download to ask)."""
    folder = local_folder(source, "--clip")
    if folder is None:
        return 336 if "336" in source else 224
    import json

    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    return int(config.get("vision_config", config).get("image_size", 224))
