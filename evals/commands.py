"""`dalle-bench metrics ...`: scores of any folder of images, as dicts for JSON."""

from __future__ import annotations

import re
from pathlib import Path

from bench.base.cache import cache_root
from bench.base.errors import BenchError
from bench.base.sources import check_hub_source
from bench.data.prompt_sets import read_prompt_file
from evals.clip_score import check_clip_source, clip_scores, load_clip
from evals.images import load_folder
from evals.statistics import clip_score_summary

_GENERATED = re.compile(r"prompt(\d+)_sample(\d+)\.png$")


def prompts_for(files: list[Path], prompts: list[str], prompts_file: Path) -> list[str]:
    """One prompt per image: the file has one per image, or one per prompt
    index of promptPPP_sampleSSS.png files."""
    if len(prompts) == len(files):
        return prompts
    indices = [_GENERATED.search(f.name) for f in files]
    if all(indices) and max(int(m.group(1)) for m in indices) == len(prompts) - 1:
        return [prompts[int(m.group(1))] for m in indices]
    raise BenchError(f"--prompts: {prompts_file} has {len(prompts)} prompts for {len(files)} images "
                     "(one per image, or one per prompt index of promptPPP_sampleSSS.png files)")


def clip_score_of_folder(folder: Path, prompts_file: Path, clip_source: str) -> dict:
    check_clip_source(clip_source)
    files, images = load_folder(folder)
    prompts = prompts_for(files, list(read_prompt_file(prompts_file).prompts), prompts_file)
    scores = clip_scores(*load_clip(clip_source), images, prompts)
    summary = clip_score_summary(scores)
    return {"clip_model": clip_source, "images": summary.count, "clip_score": summary.mean,
            "clip_score_std": summary.std, "clip_score_ci95": [summary.ci_low, summary.ci_high],
            "per_image": {f.name: float(s) for f, s in zip(files, scores)}}


def fid_of_folder(folder: Path, reference: str, metrics: tuple[str, ...], weights: Path | None,
                  cache_dir: Path | None) -> dict:
    from evals import fidelity, inception

    unknown = [m for m in metrics if m not in ("fid", "kid", "isc", "prc")]
    if unknown or not metrics:
        raise BenchError(f"--metrics: unknown metric(s) {', '.join(unknown) or '(none)'} (known: fid, kid, isc, prc)")
    if weights is not None and not weights.is_file():
        raise BenchError(f"--inception-weights: file not found: {weights}")
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise BenchError(f"--cache: {cache_dir} is a file, not a folder")
    files, images = load_folder(folder)
    ref_path = Path(reference).expanduser()
    if not (ref_path.is_dir() or (ref_path.is_file() and ref_path.suffix == ".npz")):
        raise BenchError(f"REFERENCE: '{reference}' is neither a folder of images nor a .npz statistics file")
    if ref_path.is_file():
        fidelity.stats_reference(reference, ref_path)  # a damaged file is refused before Inception loads
    extractor = inception.load_extractor(weights)
    ref = fidelity.resolve_reference(reference, extractor, inception.weights_id(weights),
                                     cache_dir or cache_root() / "fid-stats")
    out = fidelity.fidelity_metrics(inception.inception_features(extractor, images), ref, set(metrics), weights)
    out["inception_weights"] = inception.weights_id(weights)
    if out.get("fid_biased"):
        out["warning"] = "fewer than 2048 images on a side: FID is biased upwards and its covariance rank-deficient"
    return out


# `metrics cmmd|fd-dinov2|prdc`: JSON names of each metric's value columns.
_FIGURES = {"cmmd": {"cmmd": "cmmd"},
            "fd_dinov2": {"fd_dinov2": "fd_dinov2", "fd_dinov2_biased": "fd_dinov2_biased"},
            "prdc": {"prdc_precision": "precision", "prdc_recall": "recall", "density": "density",
                     "coverage": "coverage"}}


def registered_metric_of_folder(name: str, folder: Path, reference: str, networks, cache_dir: Path | None) -> dict:
    """One reference metric of the registry on a folder of images: its figures (null with a reason when
    the sample is too small for it), the network that made the features, and the image counts."""
    from evals.registry import METRICS
    from evals.scoring import FeatureBank, compute

    metric = METRICS[name]
    files, images = load_folder(folder)
    # Last of the checks, as it may ask the network; before torch loads: a Hub id neither cached nor reachable.
    if "clip_embedding" in metric.features:
        check_hub_source(networks.cmmd_clip, "--clip")
    if "dinov2" in metric.features:
        check_hub_source(networks.dinov2, "--dinov2")
    bank = FeatureBank(networks, reference, cache_dir or cache_root() / "fid-stats")
    columns, reasons = compute([metric], bank, images)
    out = {"metric": name, "network": columns[metric.network_column], "reference": reference,
           "images": columns[metric.count_column], "reference_images": columns[metric.reference_count_column]}
    out.update({label: columns[column] for column, label in _FIGURES[name].items()})
    if name == "prdc":
        from evals.prdc import NEAREST_K

        out["k"] = NEAREST_K
    if reasons:
        out["null_reason"] = reasons[name]
    if columns.get("fd_dinov2_biased"):
        out["warning"] = "fewer images than feature dimensions on a side: FD-DINOv2 is biased upwards"
    return out
