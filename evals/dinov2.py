"""DINOv2 features for FD-DINOv2 and PRDC (Stein et al., NeurIPS 2023): the
CLS token after the final layer norm of a transformers `Dinov2Model`
(`facebook/dinov2-large`, ViT-L/14, or a local folder), on images prepared
as dgm-eval does: resized bicubically with PIL to 224x224 (whole image, no
crop), scaled to [0, 1] and normalised with ImageNet's mean and std."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.base.errors import BenchError, first_line
from bench.base.sources import hub_options
from evals.networks import local_folder

INPUT_SIZE = 224
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
RESIZE = f"dgm-eval: PIL bicubic resize to {INPUT_SIZE}x{INPUT_SIZE}, ImageNet mean/std; CLS token"


def load(source: str):
    from transformers import Dinov2Model

    folder = local_folder(source, "--dinov2")
    try:
        model = Dinov2Model.from_pretrained(str(folder) if folder else source,
                                            **({} if folder else hub_options(source, "--dinov2")))
    except Exception as e:  # transformers raises many types for one cause: an unusable checkpoint
        raise BenchError(f"--dinov2: cannot load DINOv2 '{source}': {first_line(e)}") from None
    return model.eval()


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 (N, 3, 224, 224), dgm-eval's transform."""
    resized = np.stack([np.asarray(Image.fromarray(im).resize((INPUT_SIZE, INPUT_SIZE), Image.BICUBIC))
                        for im in images]).astype(np.float32) / 255.0
    return np.ascontiguousarray(((resized - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2))


def features(model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, hidden) float64 features."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            pixels = torch.from_numpy(preprocess(images[start:start + batch_size]))
            out.append(model(pixel_values=pixels).pooler_output.double().numpy())
    return np.concatenate(out)
