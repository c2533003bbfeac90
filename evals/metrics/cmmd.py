"""CMMD: RBF-kernel MMD (σ = 10, × 1000) on CLIP image embeddings, against the reference."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column
from evals.cmmd import cmmd
from evals.metric import Metric, MetricInputs

CMMD_NETWORK = Column("cmmd_network", pa.string(), "CLIP image tower, weights and resizing behind cmmd.")
CMMD_IMAGES = Column("cmmd_images", pa.int32(), "Images of the point embedded for cmmd.")
CMMD_REFERENCE_IMAGES = Column("cmmd_reference_images", pa.int32(), "Reference images embedded for cmmd.")
CMMD = Column("cmmd", pa.float64(), "CMMD to the reference: RBF-kernel MMD (sigma 10) x 1000 on L2-normalised CLIP "
              "embeddings, the minimum-variance estimator; no Gaussian assumption.")


def _compute(inputs: MetricInputs) -> dict:
    reference = inputs.reference.get("clip_embedding")
    if reference is None:
        return {"null_reason": "cmmd needs reference images (a .npz statistics file has none)"}
    return {"cmmd": cmmd(inputs.features["clip_embedding"], reference)}


METRIC = Metric(
    name="cmmd", doc="CMMD (Jayasumana et al. 2024): MMD with a Gaussian RBF kernel on CLIP ViT-L/14-336 "
                     "embeddings; no Gaussian assumption, little bias at small sizes.",
    features=("clip_embedding",),
    fills=(CMMD_NETWORK, CMMD_IMAGES, CMMD_REFERENCE_IMAGES, CMMD),
    value_column="cmmd", network_column="cmmd_network", compute=_compute, needs_reference=True, min_images=2,
    count_column="cmmd_images", reference_count_column="cmmd_reference_images")
