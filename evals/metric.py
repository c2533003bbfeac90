"""What a quality metric declares (torch-fidelity's registry pattern): the
per-image features it needs, the result-row columns it fills, whether it
needs a reference, and its small-sample rule. The driver (`evals/scoring.py`)
computes each feature once per image and shares it between metrics; a metric
only turns features into columns. Adding a metric is one module defining a
`Metric` with its documented columns, and one line in `evals/registry.py`:
the registry adds the columns to the sweep's result schema
(bench/results/points_schema.py) and so to docs/results-schema.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from bench.base.column import Column
from evals.clip_score import DEFAULT_CLIP

DEFAULT_CMMD_CLIP = "openai/clip-vit-large-patch14-336"
DEFAULT_DINOV2 = "facebook/dinov2-large"


# Filled by the driver for every metric, not by one: the reference of those that need one
# (evals/scoring.py), why a figure is null (bench/jobs/evaluate.py).
REFERENCE = Column("fid_reference", pa.string(), "Reference of fid, kid, prc, cmmd, fd_dinov2 and prdc: a folder, "
                   "a .npz statistics file (fid only), or point:<id>.")
NOTES = Column("quality_notes", pa.string(), "Why a requested quality metric is null: 'metric: reason; ...' (too "
               "few images for it, a reference without images); such a metric is not asked for again.")


@dataclass(frozen=True)
class Networks:
    """The network behind each feature: a Hub id or a local folder (file for Inception)."""
    clip: str = DEFAULT_CLIP  # CLIP score (image-text)
    cmmd_clip: str = DEFAULT_CMMD_CLIP  # CMMD's image embeddings
    dinov2: str = DEFAULT_DINOV2  # FD-DINOv2 and PRDC
    inception_weights: Path | None = None  # FID, KID, IS, precision/recall


@dataclass(frozen=True)
class Feature:
    """A per-image feature: one network, run once per image, shared by every metric naming it."""
    name: str
    describe: Callable[[Networks], str]  # network, weights and resizing: recorded beside every figure
    load: Callable[[Networks], Any]
    extract: Callable[[Any, Any, list[str] | None], Any]  # (loaded, uint8 images, prompts) -> features
    cache_tag: Callable[[Networks], str] | None = None  # names reference-feature cache files; None: no reference
    count: Callable[[Any], int] = len
    torch: bool = True  # its network runs in PyTorch (through transformers or torch-fidelity)


@dataclass(frozen=True)
class MetricInputs:
    features: dict[str, Any]  # this image set's features, by feature name
    reference: dict[str, Any] = field(default_factory=dict)  # the reference's, by feature name
    networks: Networks = Networks()
    images_per_prompt: int | None = None  # images are prompt-major: n per prompt


@dataclass(frozen=True)
class Metric:
    name: str
    doc: str
    features: tuple[str, ...]
    fills: tuple[Column, ...]  # the result-row columns it fills, documented (schema order: evals/registry.py)
    value_column: str  # the headline figure: null until computed (or null with a reason)
    network_column: str  # names the network: figures made by another network are computed again
    compute: Callable[[MetricInputs], dict]  # columns (None where it cannot be computed, with "null_reason")
    needs_reference: bool = False
    min_images: int = 1  # small-sample rule: fewer images on either side gives nulls with a reason
    requires: tuple[str, ...] = ()  # metrics that must be asked for too (rerank reuses clip's scores)
    count_column: str | None = None  # the image count column, filled by the driver
    reference_count_column: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.fills)

    def too_few(self, images: int, reference_images: int | None) -> str | None:
        """The reason the metric is null at these sample sizes, or None when it can be computed."""
        sides = [("images", images)] + ([("reference images", reference_images)]
                                        if self.needs_reference and reference_images is not None else [])
        for side, count in sides:
            if 0 <= count < self.min_images:
                return f"{self.name} needs at least {self.min_images} {side}, got {count}"
        return None
