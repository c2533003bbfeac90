"""Inception features for FID, KID, IS and precision/recall, through
torch-fidelity's `inception-v3-compat` extractor (the TF-FID network). Each
image is fed once, as uint8 at its own resolution; the extractor resizes to
299x299 with its TF1-compatible bilinear resize, and every metric reuses the
same features."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from bench.base.errors import BenchError, first_line

EXTRACTOR = "inception-v3-compat"
RESIZE = "torch-fidelity TF1-compatible bilinear to 299x299, uint8 input"
POOL, LOGITS = "2048", "logits_unbiased"


def extractor_name(weights: Path | None) -> str:
    """What the features depend on, as recorded with every FID-family figure."""
    return f"{EXTRACTOR}, weights {weights_id(weights)} ({RESIZE})"


def weights_id(weights: Path | None) -> str:
    """Names the Inception weights in cache keys and outputs: the file's hash, or the libraries' default."""
    if weights is None:
        return "torch-fidelity-default"
    if not weights.is_file():
        raise BenchError(f"--inception-weights: file not found: {weights}")
    stat = weights.stat()
    return _file_digest(str(weights.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Hashed once per file version: every evaluated point names the weights (about 100 MB for Inception)."""
    return "sha1-" + hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def load_extractor(weights: Path | None):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if weights is not None and not weights.is_file():
        raise BenchError(f"--inception-weights: file not found: {weights}")
    try:
        extractor = FeatureExtractorInceptionV3(EXTRACTOR, [POOL, LOGITS],
                                                feature_extractor_weights_path=str(weights) if weights else None)
    except Exception as e:  # torch raises several types for one cause: weights that do not load
        reason = first_line(e)
        raise BenchError(f"--inception-weights: cannot load Inception weights: {reason}") from None
    return extractor.eval()


def inception_features(extractor, images: np.ndarray, batch_size: int = 32) -> dict[str, np.ndarray]:
    """{"2048": (N, 2048) pool features, "logits_unbiased": (N, 1008)} in float64."""
    import torch

    pools, logits = [], []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).permute(0, 3, 1, 2)
            pool, logit = extractor(chunk.contiguous())
            pools.append(pool.double().numpy())
            logits.append(logit.double().numpy())
    return {POOL: np.concatenate(pools), LOGITS: np.concatenate(logits)}
