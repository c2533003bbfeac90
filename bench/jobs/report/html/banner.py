"""When a report's figures must not be read at face value: pure rules over a
run's rows and definition, each giving one sentence for the page's banner.

- random weights: throughput is real, images and CLIP scores are not;
- FID-family metrics from fewer images than FID needs to be unbiased;
- Inception features from weights other than torch-fidelity's standard ones
  (FID then compares with nothing published);
- points whose images do not fill their batches (images/s counts full batches)."""

from __future__ import annotations

import re

import pandas as pd

from bench.results.outputs import RANDOM_WEIGHTS_NOTE
from evals.inception import EXTRACTOR
from evals.statistics import FID_RELIABLE_IMAGES

from ..tables import padded_points

# torch-fidelity's `inception-v3-compat` weights (weights-inception-2015-12-05-6726825d.pth, 95,628,359
# bytes), the ones its own download fetches: a file with this digest is the standard extractor.
STANDARD_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
STANDARD_INCEPTION_BYTES = 95_628_359
DEFAULT_WEIGHTS_ID = "torch-fidelity-default"  # evals.inception.weights_id(None)


def weights_id_of(feature_extractor: str) -> str | None:
    """The weights named in a `feature_extractor` value (see evals.inception.extractor_name)."""
    match = re.search(r"\bweights (\S+)", feature_extractor or "")
    return match.group(1) if match else None


def banner_lines(rows: pd.DataFrame, definition: dict, standard_weights_ids: frozenset[str] = frozenset()) -> list[str]:
    """One sentence per reason to distrust the figures. `standard_weights_ids` holds
    weights ids (sha1-...) of files checked to be the standard Inception weights."""
    lines = []
    random = "random_weights" in rows and rows.random_weights.fillna(False).astype(bool).any()
    if random or definition.get("preset") == "tiny" or definition.get("weights") == "random":
        lines.append(f"{RANDOM_WEIGHTS_NOTE[0].upper()}{RANDOM_WEIGHTS_NOTE[1:]}.")  # "Random weights: ..."
    evaluated = rows[rows.fid.notna()] if "fid" in rows else rows.iloc[:0]
    few = evaluated[evaluated.fid_biased.fillna(False).astype(bool)
                    | (evaluated.fid_images < FID_RELIABLE_IMAGES)
                    | evaluated.fid_reference_images.between(0, FID_RELIABLE_IMAGES - 1)]
    if len(few):
        references = few.fid_reference_images[few.fid_reference_images >= 0]  # -1: unknown (.npz)
        smallest = int(min([*few.fid_images.dropna(), *references.dropna()]))
        lines.append(f"Too few images: FID of {len(few)} point(s) comes from as few as {smallest} image(s) on a "
                     f"side, under the {FID_RELIABLE_IMAGES:,} it needs; it is biased upwards and not comparable.")
    extractors = set(rows.feature_extractor.dropna()) if "feature_extractor" in rows else set()
    substitutes = sorted(e for e in extractors if not e.startswith(EXTRACTOR)
                         or weights_id_of(e) not in {DEFAULT_WEIGHTS_ID, *standard_weights_ids})
    if substitutes:
        names = ", ".join(str(weights_id_of(e) or e) for e in substitutes)
        lines.append(f"Substitute feature extractor: Inception weights {names} are not torch-fidelity's standard "
                     f"ones (sha256 {STANDARD_INCEPTION_SHA256[:12]}…); FID, KID, IS and precision/recall are "
                     f"comparable only with figures from the same weights.")
    padded = padded_points(rows)
    if padded:
        lines.append(f"Partly filled batches: {', '.join(padded)} do not fill their batches (padded_rows > 0); "
                     "their images/s counts full batches, more than the images they made per second.")
    return lines

