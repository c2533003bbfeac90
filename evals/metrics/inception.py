"""FID, KID, Inception Score and precision/recall (k=3) on Inception features,
through evals/fidelity.py, which holds their maths and reference handling."""

from __future__ import annotations

from .. import fidelity
from ..metric import Metric, MetricInputs
from ..notes import parse_notes

_SHARED = ("feature_extractor", "fid_images")
_REFERENCE = ("fid_reference", "fid_reference_images", "fid_biased")


def _compute_for(name: str, nullable: tuple[str, ...] = ()):
    def compute(inputs: MetricInputs) -> dict:
        out = fidelity.fidelity_metrics(inputs.features["inception"], inputs.reference.get("inception"), {name},
                                        inputs.networks.inception_weights)
        why = parse_notes(out.pop("quality_notes", None)).get(name)
        if why:  # too few images per split, an untrustworthy square root, a reference without features
            out["null_reason"] = why
        elif nullable and all(out.get(column) is None for column in nullable):
            out["null_reason"] = f"{name} needs reference images (a .npz statistics file has mu and sigma only)"
        return out
    return compute


def _metric(name: str, doc: str, columns: tuple[str, ...], value: str, reference: bool = True,
            nullable: tuple[str, ...] = (), min_images: int = 2) -> Metric:
    return Metric(name=name, doc=doc, features=("inception",),
                  columns=(*_SHARED, *(_REFERENCE if reference else ()), *columns), value_column=value,
                  network_column="feature_extractor", compute=_compute_for(name, nullable),
                  needs_reference=reference, min_images=min_images)


FID = _metric("fid", "Fréchet Inception Distance.", ("fid", "fid_sqrtm"), "fid")
KID = _metric("kid", "Kernel Inception Distance.", ("kid_mean", "kid_std", "kid_subset_size"), "kid_mean", nullable=("kid_mean",))
ISC = _metric("isc", "Inception Score.", ("isc_mean", "isc_std", "isc_splits"), "isc_mean", reference=False)
# torch-fidelity's k=3 neighbours need more than 3 images on each side.
PRC = _metric("prc", "Precision and recall (k=3) on Inception features.", ("precision", "recall"), "precision",
              nullable=("precision",), min_images=4)
