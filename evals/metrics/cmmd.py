"""CMMD: RBF-kernel MMD (σ = 10, × 1000) on CLIP image embeddings, against the reference."""

from __future__ import annotations

from ..cmmd import cmmd
from ..metric import Metric, MetricInputs


def _compute(inputs: MetricInputs) -> dict:
    reference = inputs.reference.get("clip_embedding")
    if reference is None:
        return {"null_reason": "cmmd needs reference images (a .npz statistics file has none)"}
    return {"cmmd": cmmd(inputs.features["clip_embedding"], reference)}


METRIC = Metric(
    name="cmmd", doc="CMMD (Jayasumana et al. 2024): MMD with a Gaussian RBF kernel on CLIP ViT-L/14-336 "
                     "embeddings; no Gaussian assumption, little bias at small sizes.",
    features=("clip_embedding",),
    columns=("cmmd_network", "cmmd_images", "cmmd_reference_images", "cmmd"),
    value_column="cmmd", network_column="cmmd_network", compute=_compute, needs_reference=True, min_images=2,
    count_column="cmmd_images", reference_count_column="cmmd_reference_images")
