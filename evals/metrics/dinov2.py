"""FD-DINOv2 and precision/recall/density/coverage, on the same DINOv2 features."""

from __future__ import annotations

from ..metric import Metric, MetricInputs
from ..prdc import NEAREST_K, prdc
from ..statistics import feature_statistics, frechet_distance

_NO_FEATURES = "needs reference images (a .npz statistics file has none)"
DINOV2_COLUMNS = ("dinov2_network", "dinov2_images", "dinov2_reference_images")


def _frechet(inputs: MetricInputs) -> dict:
    reference = inputs.reference.get("dinov2")
    if reference is None:
        return {"null_reason": f"fd_dinov2 {_NO_FEATURES}"}
    features = inputs.features["dinov2"]
    # As fid_biased: below one image per feature dimension the covariance is rank-deficient.
    dims = features.shape[1]
    return {"fd_dinov2": frechet_distance(*feature_statistics(features), *feature_statistics(reference)),
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
    features=("dinov2",), columns=(*DINOV2_COLUMNS, "fd_dinov2", "fd_dinov2_biased"),
    value_column="fd_dinov2", network_column="dinov2_network", compute=_frechet, needs_reference=True,
    min_images=2, count_column="dinov2_images", reference_count_column="dinov2_reference_images")

PRDC = Metric(
    name="prdc", doc=f"Precision, recall, density and coverage (Naeem et al. 2020), k = {NEAREST_K}, on DINOv2 features.",
    features=("dinov2",), columns=(*DINOV2_COLUMNS, "prdc_precision", "prdc_recall", "density", "coverage"),
    value_column="density", network_column="dinov2_network", compute=_prdc, needs_reference=True,
    min_images=NEAREST_K + 1, count_column="dinov2_images", reference_count_column="dinov2_reference_images")
