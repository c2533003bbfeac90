"""The per-image features the metrics share, one entry per network: each is
loaded once and run once per image, whatever number of metrics use it."""

from __future__ import annotations

import numpy as np

from bench.base.sources import weights_id
from evals import clip_embedding, dinov2, inception
from evals.adherence import adherence_scores, checker_name
from evals.clip_score import clip_scores, load_clip
from evals.metric import Feature, Networks
from evals.networks import slug


def _clip_embedding_name(networks: Networks) -> str:
    source = networks.cmmd_clip
    return (f"CLIP {source}, weights {weights_id(source)} "
            f"({clip_embedding.resize_note(clip_embedding.input_size(source))})")


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature(name="adherence",  # per image (passed 0/1, partial score) from the shapes world's checker
            describe=lambda networks: checker_name(),
            load=lambda networks: None,
            extract=lambda loaded, images, prompts: np.stack(adherence_scores(images, prompts), axis=1),
            torch=False),
    Feature(name="clip_scores",  # per-image CLIP score against the image's prompt
            describe=lambda networks: networks.clip,
            load=lambda networks: load_clip(networks.clip),
            extract=lambda loaded, images, prompts: clip_scores(*loaded, images, prompts)),
    Feature(name="inception",  # {"2048": pool features, "logits_unbiased": logits}; references by fidelity.py
            describe=lambda networks: inception.extractor_name(networks.inception_weights),
            load=lambda networks: inception.load_extractor(networks.inception_weights),
            extract=lambda extractor, images, prompts: inception.inception_features(extractor, images),
            count=lambda features: len(features[inception.POOL])),
    Feature(name="clip_embedding",
            describe=_clip_embedding_name,
            load=lambda networks: clip_embedding.load(networks.cmmd_clip),
            extract=lambda model, images, prompts: clip_embedding.embeddings(model, images),
            cache_tag=lambda networks: (f"clip-{slug(networks.cmmd_clip)}-{slug(weights_id(networks.cmmd_clip))}"
                                        f"-croppilbicubic{clip_embedding.input_size(networks.cmmd_clip)}")),
    Feature(name="dinov2",
            describe=lambda networks: f"DINOv2 {networks.dinov2}, weights {weights_id(networks.dinov2)} "
                                      f"({dinov2.RESIZE})",
            load=lambda networks: dinov2.load(networks.dinov2),
            extract=lambda model, images, prompts: dinov2.features(model, images),
            cache_tag=lambda networks: (f"dinov2-{slug(networks.dinov2)}-{slug(weights_id(networks.dinov2))}"
                                        f"-pilbicubic{dinov2.INPUT_SIZE}")),
)}


def needs_torch(metrics) -> bool:
    """Whether computing `metrics` runs a PyTorch network (a process that runs none can start without
    torch: bench/base/torch_free.py)."""
    return any(FEATURES[name].torch for metric in metrics for name in metric.features)
