"""FID, KID, Inception Score and precision/recall of a set of images against
a reference, from Inception features computed once per image.

A reference is a folder of real images, a statistics file (`.npz` with `mu`
and `sigma`, the format FID tools exchange; it supports FID only), or
another point of the same run (`point:<id>`). Folder and point references
are reduced to features once and cached under the cache folder, keyed by
their content and the extractor's weights."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.base.atomic import replacing
from bench.base.errors import BenchError, first_line
from bench.shapes import reference as shapes_reference
from evals import inception
from evals.images import image_files, load_images
from evals.notes import format_notes
from evals.statistics import (
    FID_RELIABLE_IMAGES,
    feature_statistics,
    frechet_of_features,
    isc_splits,
    isc_too_few_reason,
    kernel_distance,
    kid_subset_size,
)


@dataclass(frozen=True)
class Reference:
    name: str  # as the user gave it
    mu: np.ndarray
    sigma: np.ndarray
    count: int
    features: np.ndarray | None  # pool features, when the reference has images


def _content_key(files: list[Path]) -> str:
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.name.encode())
        digest.update(hashlib.sha1(path.read_bytes()).digest())
    return digest.hexdigest()[:20]


def folder_reference(name: str, folder: Path, extractor, weights_id: str, cache_dir: Path) -> Reference:
    files = image_files(folder)
    cache = cache_dir / f"ref-{_content_key(files)}-{inception.EXTRACTOR}-{weights_id}-{inception.POOL}.npz"
    if cache.is_file():
        features = np.load(cache)["features"]
    else:
        features = inception.inception_features(extractor, load_images(files))[inception.POOL]
        cache_dir.mkdir(parents=True, exist_ok=True)
        with replacing(cache) as tmp:
            np.savez(tmp, features=features)
    mu, sigma = feature_statistics(features)
    return Reference(name, mu, sigma, len(features), features)


def stats_reference(name: str, path: Path) -> Reference:
    try:
        data = np.load(path)
        mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
    except KeyError:
        raise BenchError(f"--fid-ref: {path} has no 'mu' and 'sigma' arrays") from None
    except Exception as e:  # numpy raises OSError, ValueError, zipfile.BadZipFile...: an unreadable file
        raise BenchError(f"--fid-ref: cannot read statistics file {path}: {first_line(e)}") from None
    if mu.ndim != 1 or sigma.shape != (mu.size, mu.size):
        raise BenchError(f"--fid-ref: {path}: mu {mu.shape} and sigma {sigma.shape} do not match")
    count = int(data["count"]) if "count" in getattr(data, "files", ()) else -1
    return Reference(name, mu, sigma, count, None)


def reference_folder(spec: str, run_dir: Path | None) -> Path | None:
    """The image folder a reference names; None for a .npz statistics file."""
    if spec.startswith("point:"):
        if run_dir is None:
            raise BenchError(f"--fid-ref {spec}: point references need a run folder")
        folder = run_dir / "images" / spec.removeprefix("point:")
        if not folder.is_dir():
            raise BenchError(f"--fid-ref {spec}: no such point in {run_dir}")
        return folder
    if spec == shapes_reference.REFERENCE_NAME:  # real images of the shapes world, rendered once into the cache
        from bench.base.cache import cache_root

        return shapes_reference.reference_folder(cache_root())
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.is_file() and path.suffix == ".npz":
        return None
    raise BenchError(f"--fid-ref: '{spec}' is not a folder of images, a .npz statistics file, point:<id> or shapes")


def resolve_reference(spec: str, extractor, weights_id: str, cache_dir: Path, run_dir: Path | None = None) -> Reference:
    folder = reference_folder(spec, run_dir)
    if folder is None:
        return stats_reference(spec, Path(spec).expanduser())
    return folder_reference(spec, folder, extractor, weights_id, cache_dir)


def fidelity_metrics(features: dict[str, np.ndarray], reference: Reference | None, metrics: set[str],
                     weights: Path | None = None) -> dict:
    """The requested metrics among fid, kid, isc, prc, with None where the
    reference cannot support one (a statistics file has no features)."""
    import torch

    pool = features[inception.POOL]
    if len(pool) < 2:
        raise BenchError(f"FID, KID, IS and PRC need at least 2 images, got {len(pool)}")
    out: dict = {"feature_extractor": inception.extractor_name(weights), "fid_images": len(pool)}
    notes: dict[str, str] = {}  # metric -> why its figure is null: every output carries them

    def finish(out: dict) -> dict:
        out["quality_notes"] = format_notes(notes)
        return out

    if "isc" in metrics:
        out.update(_inception_score(features[inception.LOGITS], len(pool), notes))
    if not metrics & {"fid", "kid", "prc"}:
        return finish(out)
    if reference is None:
        raise BenchError("--fid-ref is needed for fid, kid and prc")
    if pool.shape[1] != reference.mu.size:
        raise BenchError(f"--fid-ref {reference.name}: {reference.mu.size}-d statistics, but the features are "
                         f"{pool.shape[1]}-d")
    out["fid_reference"] = reference.name
    out["fid_reference_images"] = reference.count
    out["fid_biased"] = len(pool) < FID_RELIABLE_IMAGES or 0 <= reference.count < FID_RELIABLE_IMAGES
    if "fid" in metrics:
        fid = frechet_of_features(pool, reference.mu, reference.sigma)
        out.update(fid=fid.value, fid_sqrtm=fid.sqrtm)
        if fid.reason:
            notes["fid"] = fid.reason
    if "kid" in metrics:
        if reference.features is not None:
            kid = kernel_distance(pool, reference.features)
            out["kid_subset_size"] = kid_subset_size(len(pool), len(reference.features))
        else:
            kid = (None, None)
            out["kid_subset_size"] = None
            notes["kid"] = "the reference is a statistics file (no features)"
        out.update(kid_mean=kid[0], kid_std=kid[1])
    if "prc" in metrics:
        if reference.features is not None and min(len(pool), len(reference.features)) > 3:
            from torch_fidelity.metric_prc import prc_features_to_metric

            # torch-fidelity: generated first, real second.
            prc = prc_features_to_metric(torch.from_numpy(pool), torch.from_numpy(reference.features))
            out.update(precision=float(prc["precision"]), recall=float(prc["recall"]))
        else:
            out.update(precision=None, recall=None)
            notes["prc"] = ("the reference is a statistics file (no features)" if reference.features is None
                            else "4 or more images a side needed")
    return finish(out)


def _inception_score(logits: np.ndarray, images: int, notes: dict[str, str]) -> dict:
    """isc_splits, isc_mean and isc_std of `images` images (None, with the reason in `notes`, for too few
    to split)."""
    import torch
    from torch_fidelity.metric_isc import isc_features_to_metric

    splits = isc_splits(images)
    if not splits:
        notes["isc"] = isc_too_few_reason(images)
        return {"isc_splits": splits, "isc_mean": None, "isc_std": None}
    isc = isc_features_to_metric(torch.from_numpy(logits), splits=splits)
    return {"isc_splits": splits, "isc_mean": float(isc["inception_score_mean"]),
            "isc_std": float(isc["inception_score_std"])}
