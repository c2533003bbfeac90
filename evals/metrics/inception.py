"""FID, KID, Inception Score and precision/recall (k=3) on Inception features,
through evals/fidelity.py, which holds their maths and reference handling."""

from __future__ import annotations

import pyarrow as pa

from bench.base.column import Column
from evals.metric import REFERENCE, Metric, MetricInputs
from evals.notes import parse_notes

# The four metrics' (one network, one set of features; the reference's for fid, kid and prc)
FEATURE_EXTRACTOR = Column("feature_extractor", pa.string(), "Inception network and resizing behind fid/kid/isc/prc.")
FID_IMAGES = Column("fid_images", pa.int32(), "Images of the point fed to the Inception network.")
FID_REFERENCE_IMAGES = Column("fid_reference_images", pa.int32(),
                              "Images behind the reference statistics (-1: unknown, from a .npz).")
FID_BIASED = Column("fid_biased", pa.bool_(),
                    "True when either side has fewer than 2,048 images: FID is biased upwards.")

FID_COLUMNS = (
    Column("fid", pa.float64(), "Fréchet Inception Distance to the reference; null when the matrix square root "
           "cannot be trusted (see quality_notes)."),
    Column("fid_sqrtm", pa.string(), "How FID's matrix square root was taken: 'exact', or 'offset 1e-06 (...)' when "
           "it was retried with pytorch-fid's diagonal offset (singular product, or imaginary diagonal > 1e-3)."),
)
KID_COLUMNS = (
    Column("kid_mean", pa.float64(), "Kernel Inception Distance (mean over subsets); null for .npz references."),
    Column("kid_std", pa.float64(), "Standard deviation of KID over subsets."),
    Column("kid_subset_size", pa.int32(), "Images per KID subset actually used: 1,000, or fewer when a side has "
           "fewer images."),
)
ISC_COLUMNS = (
    Column("isc_mean", pa.float64(), "Inception Score (mean over splits); null below 50 images per split."),
    Column("isc_std", pa.float64(), "Standard deviation of the Inception Score over splits."),
    Column("isc_splits", pa.int32(), "Splits of the Inception Score: up to 10, each of at least 50 images; 0 when "
           "there are too few images (isc_mean is then null)."),
)
PRC_COLUMNS = (
    Column("precision", pa.float64(), "Precision (k=3 nearest neighbours on Inception pool features)."),
    Column("recall", pa.float64(), "Recall (same features)."),
)


def _compute_for(name: str, nullable: tuple[str, ...] = ()):
    def compute(inputs: MetricInputs) -> dict:
        from evals import fidelity  # scipy and the Inception network's code: loaded to compute, not for the schema

        out = fidelity.fidelity_metrics(inputs.features["inception"], inputs.reference.get("inception"), {name},
                                        inputs.networks.inception_weights)
        why = parse_notes(out.pop("quality_notes", None)).get(name)
        if why:  # too few images per split, an untrustworthy square root, a reference without features
            out["null_reason"] = why
        elif nullable and all(out.get(column) is None for column in nullable):
            out["null_reason"] = f"{name} needs reference images (a .npz statistics file has mu and sigma only)"
        return out
    return compute


def _metric(name: str, doc: str, columns: tuple[Column, ...], value: str, reference: bool = True,
            nullable: tuple[str, ...] = (), min_images: int = 2) -> Metric:
    # In the order schema 8 has them: the reference between the extractor and the image counts.
    shared = ((FEATURE_EXTRACTOR, REFERENCE, FID_IMAGES, FID_REFERENCE_IMAGES, FID_BIASED) if reference
              else (FEATURE_EXTRACTOR, FID_IMAGES))
    return Metric(name=name, doc=doc, features=("inception",), fills=(*shared, *columns), value_column=value,
                  network_column="feature_extractor", compute=_compute_for(name, nullable),
                  needs_reference=reference, min_images=min_images)


FID = _metric("fid", "Fréchet Inception Distance.", FID_COLUMNS, "fid")
KID = _metric("kid", "Kernel Inception Distance.", KID_COLUMNS, "kid_mean", nullable=("kid_mean",))
ISC = _metric("isc", "Inception Score.", ISC_COLUMNS, "isc_mean", reference=False)
# torch-fidelity's k=3 neighbours need more than 3 images on each side.
PRC = _metric("prc", "Precision and recall (k=3) on Inception features.", PRC_COLUMNS, "precision",
              nullable=("precision",), min_images=4)
