"""CLIP score as torchmetrics' `CLIPScore` defines it: per image 100 x the
cosine between the image and prompt embeddings of a transformers CLIP
(PyTorch), from a Hub id or a local folder; the score of a set is their mean
clamped at 0, max(mean, 0) (`evals.statistics.clip_score_summary`): it is
the mean torchmetrics clamps, not each image. Scores are kept per image and
unclamped (torchmetrics keeps only their sum), so points get a standard
deviation, an interval and per-prompt figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.base.errors import BenchError, first_line
from bench.base.sources import WEIGHT_FILES, hub_options, looks_local

DEFAULT_CLIP = "openai/clip-vit-base-patch32"




def check_clip_source(source: str, option: str = "--clip") -> None:
    """Refuse a local CLIP checkpoint that is not there, before torch is imported. (A Hub id is checked
    by load_clip, last, as it may ask the network: bench.base.sources.hub_options.)"""
    local = Path(source).expanduser()
    if looks_local(source) and not local.is_dir():
        raise BenchError(f"{option}: checkpoint not found: {source}")
    if local.is_dir() and not ((local / "config.json").is_file() and any((local / f).is_file()
                                                                        for f in WEIGHT_FILES)):
        raise BenchError(f"{option}: {source} is not a CLIP checkpoint (config.json and one of "
                         f"{', '.join(WEIGHT_FILES)})")


def load_clip(source: str):
    """(model, processor) in eval mode. A local folder holding only Flax
    weights (as the tiny preset's) is converted on load."""
    check_clip_source(source)
    if source == "shapes":  # the shapes preset's CLIP, trained on the world
        from bench.core.models.presets import PRESETS

        source = str(PRESETS["shapes"].checkpoints / "clip")
    local = Path(source).expanduser()
    hub = {} if local.is_dir() else hub_options(source, "--clip")  # in seconds, before torch is imported
    from transformers import CLIPModel, CLIPProcessor

    from_flax = local.is_dir() and not any((local / f).exists() for f in
                                           ("model.safetensors", "pytorch_model.bin")) and (
        local / "flax_model.msgpack").exists()
    try:
        model = (_from_flax(local) if from_flax else
                 CLIPModel.from_pretrained(str(local) if local.is_dir() else source, **hub))
        processor = CLIPProcessor.from_pretrained(str(local) if local.is_dir() else source, **hub)
    except Exception as e:  # transformers raises many types for one cause: an unusable checkpoint
        reason = first_line(e)
        raise BenchError(f"--clip: cannot load '{source}': {reason}") from None
    return model.eval(), processor


def _from_flax(folder: Path):
    """A PyTorch CLIPModel with the folder's Flax weights. Not `from_pretrained(from_flax=True)`:
    transformers 4.57 builds the model on the meta device there and leaves every weight on it."""
    from transformers import CLIPConfig, CLIPModel
    from transformers.modeling_flax_pytorch_utils import load_flax_checkpoint_in_pytorch_model

    model = CLIPModel(CLIPConfig.from_pretrained(folder))
    return load_flax_checkpoint_in_pytorch_model(model, str(folder / "flax_model.msgpack"))


def clip_scores(model, processor, images: np.ndarray, prompts: list[str], batch_size: int = 32) -> np.ndarray:
    """Per-image scores 100 x cosine (unclamped: may be negative) of uint8 (N, H, W, 3) images
    against their prompts."""
    import torch

    if len(images) != len(prompts):
        raise BenchError(f"{len(prompts)} prompts for {len(images)} images: one prompt per image is needed")
    scores = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1)
                     for im in images[start:start + batch_size]]
            inputs = processor(text=prompts[start:start + batch_size], images=chunk, return_tensors="pt",
                               padding=True, truncation=True,
                               max_length=model.config.text_config.max_position_embeddings)
            image_features = model.get_image_features(pixel_values=inputs["pixel_values"])
            text_features = model.get_text_features(input_ids=inputs["input_ids"],
                                                    attention_mask=inputs["attention_mask"])
            image_features = image_features / image_features.norm(p=2, dim=-1, keepdim=True)
            text_features = text_features / text_features.norm(p=2, dim=-1, keepdim=True)
            scores.append((100 * (image_features * text_features).sum(-1)).numpy())
    return np.concatenate(scores).astype(np.float64)
