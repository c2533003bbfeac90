"""CMMD's features: L2-normalised CLIP image embeddings, as the paper's
reference code computes them (google-research `cmmd/io_util.py` and
`embedding.py`): each image centre-cropped to a square of its shorter side
(left and top offsets rounded down), resized by PIL's bicubic filter (which
antialiases) to the network's input size (336 px for
`openai/clip-vit-large-patch14-336`) as uint8, scaled to [0, 1] (/ 255) and
normalised with CLIP's mean and std. (The reference then calls
jax.image.resize bicubic to the same size, which leaves the pixels as they
are.) The network is a transformers `CLIPVisionModelWithProjection`
(PyTorch) from a Hub id or a local folder; a full CLIP checkpoint loads too
(its text tower is left out)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.base.errors import BenchError, first_line
from bench.base.sources import hub_options
from evals.networks import local_folder

# CLIP's normalisation (OpenAI's constants, as scenic's `normalize_image`).
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def resize_note(size: int) -> str:
    return f"centre square crop, PIL bicubic resize to {size}x{size}, CLIP mean/std, L2-normalised"


def center_crop_and_resize(image: np.ndarray, size: int) -> np.ndarray:
    """The reference's `_center_crop_and_resize` on a uint8 (H, W, 3) image: the centred square of
    the shorter side, PIL bicubic to size x size; uint8 (size, size, 3)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top:top + side, left:left + side]))
    return np.asarray(square.resize((size, size), resample=Image.BICUBIC))


def preprocess(images: np.ndarray, size: int) -> np.ndarray:
    """CLIP's input of uint8 (N, H, W, 3) images: float32 (N, size, size, 3), normalised."""
    pixels = np.stack([center_crop_and_resize(im, size) for im in images]).astype(np.float32) / 255.0
    return (pixels - CLIP_MEAN) / CLIP_STD


def load(source: str):
    from transformers import CLIPVisionModelWithProjection

    folder = local_folder(source, "--clip")
    try:
        model = CLIPVisionModelWithProjection.from_pretrained(str(folder) if folder else source,
                                                              **({} if folder else hub_options(source, "--clip")))
    except Exception as e:  # transformers raises many types for one cause: an unusable checkpoint
        raise BenchError(f"--clip: cannot load CLIP image tower '{source}': {first_line(e)}") from None
    return model.eval()


def embeddings(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, D) float32 unit vectors of uint8 (N, H, W, 3) images."""
    import torch

    size = model.config.image_size
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = preprocess(images[start:start + batch_size], size)
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
