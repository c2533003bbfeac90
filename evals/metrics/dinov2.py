"""FD-DINOv2 and precision/recall/density/coverage, on the same DINOv2 features."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column
from evals.metric import Metric, MetricInputs
from evals.prdc import NEAREST_K, prdc

_NO_FEATURES = "needs reference images (a .npz statistics file has none)"

# Both metrics' (one network, one set of features)
DINOV2_NETWORK = Column("dinov2_network", pa.string(),
                        "DINOv2 network, weights and resizing behind fd_dinov2 and the PRDC columns.")
DINOV2_IMAGES = Column("dinov2_images", pa.int32(), "Images of the point fed to DINOv2.")
DINOV2_REFERENCE_IMAGES = Column("dinov2_reference_images", pa.int32(), "Reference images fed to DINOv2.")
DINOV2_COLUMNS = (DINOV2_NETWORK, DINOV2_IMAGES, DINOV2_REFERENCE_IMAGES)

FD_DINOV2_COLUMNS = (
    Column("fd_dinov2", pa.float64(), "Fréchet distance on DINOv2 features to the reference."),
    Column("fd_dinov2_biased", pa.bool_(), "True when either side has fewer images than DINOv2 has feature "
           "dimensions (1,024 for ViT-L/14): fd_dinov2 is biased upwards."),
)
PRDC_COLUMNS = (
    Column("prdc_precision", pa.float64(), "Precision, k=5 nearest neighbours on DINOv2 features (Naeem et al. 2020)."),
    Column("prdc_recall", pa.float64(), "Recall, same features and k."),
    Column("density", pa.float64(), "Density: mean count of reference k-NN balls holding a generated image, / k "
           "(1 on average when both sets come from one distribution; can exceed 1)."),
    Column("coverage", pa.float64(), "Coverage: share of reference images whose k-NN ball holds a generated image."),
)


def _frechet(inputs: MetricInputs) -> dict:
    reference = inputs.reference.get("dinov2")
    if reference is None:
        return {"null_reason": f"fd_dinov2 {_NO_FEATURES}"}
    # scipy: loaded to compute, not for the schema
    from evals.statistics import feature_statistics, frechet_distance_of_features

    features = inputs.features["dinov2"]
    # As fid_biased: below one image per feature dimension the covariance is rank-deficient.
    dims = features.shape[1]
    return {"fd_dinov2": frechet_distance_of_features(features, *feature_statistics(reference)),
            "fd_dinov2_biased": bool(min(len(features), len(reference)) < dims)}


def _prdc(inputs: MetricInputs) -> dict:
    reference = inputs.reference.get("dinov2")
    if reference is None:
        return {"null_reason": f"prdc {_NO_FEATURES}"}
    result = prdc(reference, inputs.features["dinov2"], NEAREST_K)
    return {"prdc_precision": result.precision, "prdc_recall": result.recall, "density": result.density,
            "coverage": result.coverage}


FD_DINOV2 = Metric(
    name="fd_dinov2", doc="Fréchet distance on DINOv2 ViT-L/14 features (Stein et al. 2023).",
    features=("dinov2",), fills=(*DINOV2_COLUMNS, *FD_DINOV2_COLUMNS),
    value_column="fd_dinov2", network_column="dinov2_network", compute=_frechet, needs_reference=True,
    min_images=2, count_column="dinov2_images", reference_count_column="dinov2_reference_images")

PRDC = Metric(
    name="prdc", doc=f"Precision, recall, density and coverage (Naeem et al. 2020), k = {NEAREST_K}, on DINOv2 features.",
    features=("dinov2",), fills=(*DINOV2_COLUMNS, *PRDC_COLUMNS),
    value_column="density", network_column="dinov2_network", compute=_prdc, needs_reference=True,
    min_images=NEAREST_K + 1, count_column="dinov2_images", reference_count_column="dinov2_reference_images")
