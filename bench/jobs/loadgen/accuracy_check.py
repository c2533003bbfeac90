"""The accuracy check of `loadgen --benchmark NAME --mode accuracy` (the IO
around band.py): the definition's metrics measured on the accuracy log's
images through evals' registry, and each metric's reference figure read from
the definition's stored reference run (or from the definition itself, with
the command that measured it, where that run does not hold the figure).

The definition's [accuracy] table: `reference` (a run folder: a sweep's
points.parquet or a loadgen run's scenarios.parquet), the networks (`clip`: the
CLIP of clip_score; `fid_ref`: FID's reference images or statistics), and one
table per metric, named by its figure's column (adherence, clip_score, fid, ...)
with its `tolerance` and, optionally, its `reference` figure and `measured_by`.
The reference row is the one made with the definition's model, prompts,
images per prompt and sampling, in float32 (the full-precision reference)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from bench import data
from bench.base.errors import BenchError

from .band import Band, stored_figures

NETWORK_FIELDS = ("clip", "fid_ref")
ACCURACY_FIELDS = ("reference", *NETWORK_FIELDS)
METRIC_FIELDS = ("tolerance", "reference", "measured_by")
# The reference row must have been made with the definition's values of these (option -> row column).
MATCH = {"preset": "preset", "prompts": "prompts", "num_images": "num_images", "cond_scale": "cond_scale",
         "temperature": "temperature", "top_k": "top_k", "top_p": "top_p", "seed": "seed"}
# Where the shipped baselines were before they moved into the package data (bench/data/baselines):
# definitions and run records written before the move name them so, and must keep reading.
OLD_BASELINES = ("results", "baselines")


def _metrics_by_column() -> dict:
    from evals.registry import METRICS

    return {m.value_column: m for m in METRICS.values() if not m.requires}


def check_accuracy_table(accuracy: dict) -> None:
    """ValueError naming the first problem of a definition's [accuracy] table (no metric: no check)."""
    known = _metrics_by_column()
    for key, value in accuracy.items():
        if not isinstance(value, dict):
            if key not in ACCURACY_FIELDS:
                raise ValueError(f"[accuracy] unknown field {key} (fields: {', '.join(ACCURACY_FIELDS)}, and one "
                                 f"table per metric: {', '.join(known)})")
            if not isinstance(value, str) or not value:
                raise ValueError(f"[accuracy] {key} must be a non-empty string")
            continue
        if key not in known:
            raise ValueError(f"[accuracy.{key}]: not a metric's figure (known: {', '.join(known)})")
        unknown = set(value) - set(METRIC_FIELDS)
        if unknown:
            raise ValueError(f"[accuracy.{key}]: unknown field {sorted(unknown)[0]}")
        tolerance = value.get("tolerance")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not (
                math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"[accuracy.{key}] tolerance must be a finite number >= 0, got {tolerance!r}")
        figure = value.get("reference")
        if figure is not None and (isinstance(figure, bool) or not isinstance(figure, (int, float))
                                   or not math.isfinite(figure)):
            raise ValueError(f"[accuracy.{key}] reference must be a finite number, got {figure!r}")
    metrics = [k for k, v in accuracy.items() if isinstance(v, dict)]
    if metrics and "reference" not in accuracy and any("reference" not in accuracy[m] for m in metrics):
        raise ValueError("[accuracy] reference: a reference run, or each metric's own reference figure")
    if "clip_score" in metrics and "clip" not in accuracy:
        raise ValueError("[accuracy] clip: the CLIP network of clip_score")
    needs_ref = [m for m in metrics if known[m].needs_reference]
    if needs_ref and "fid_ref" not in accuracy:
        raise ValueError(f"[accuracy] fid_ref: the reference images of {needs_ref[0]}")


def metric_columns(accuracy: dict) -> list[str]:
    return [k for k, v in accuracy.items() if isinstance(v, dict)]


def networks_needed(accuracy: dict) -> tuple[bool, bool]:
    """(whether a metric uses the table's `clip`, whether one needs its `fid_ref`)."""
    known = _metrics_by_column()
    metrics = [known[column] for column in metric_columns(accuracy) if column in known]
    return (any("clip_scores" in metric.features for metric in metrics),
            any(metric.needs_reference for metric in metrics))


def _resolve(path: str) -> Path:
    """A definition's reference run: the path as given when it is absolute or exists (from the current
    folder), else the shipped data's (`baselines/shapes`, or its old spelling `results/baselines/shapes`).
    A path found nowhere is returned as given, for the error to name it."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate
    parts = candidate.parts
    shipped = data.path(*(("baselines", *parts[2:]) if parts[:2] == OLD_BASELINES else parts))
    return shipped if shipped.exists() else candidate


def _reference_rows(folder: Path) -> tuple[str, list[dict]]:
    """(file name, rows) of a stored run: a sweep's points or a loadgen run's accuracy tests."""
    for name, where in (("points.parquet", None), ("scenarios.parquet", "accuracy")):
        path = folder / name
        if path.is_file():
            try:
                rows = pd.read_parquet(path).to_dict("records")
            except Exception as e:  # pyarrow raises several types for one cause: an unreadable file
                raise BenchError(f"{path}: unreadable reference run: {str(e).splitlines()[0] if str(e) else e}") \
                    from None
            return name, [r for r in rows if r.get("status") == "ok" and (where is None or r.get("mode") == where)]
    raise BenchError(f"accuracy reference run {folder}: not found (no points.parquet or scenarios.parquet)")


def _value(row: dict, column: str):
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        # a loadgen reference: figures outside the row's columns (none from a damaged accuracy_detail)
        value = stored_figures(row.get("accuracy_detail")).get(column)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _matches(row: dict, fixed: dict, accuracy: dict, column: str) -> bool:
    if any(row.get(col) != fixed[option] for option, col in MATCH.items()):
        return False
    if row.get("dtype") != "float32" or bool(row.get("random_weights")) != (fixed["weights"] == "random"):
        return False
    if column.startswith("clip_score") and row.get("clip_model") not in (None, accuracy.get("clip")):
        return False
    if column in ("fid", "kid_mean") and row.get("fid_reference") not in (None, accuracy.get("fid_ref")):
        return False
    return True


def reference_bands(benchmark) -> list[Band]:
    """Each metric's band; BenchError when a reference figure cannot be found (before the run)."""
    accuracy = benchmark.accuracy
    bands, rows = [], None
    for column in metric_columns(accuracy):
        table = accuracy[column]
        if "reference" in table:
            how = table.get("measured_by")
            bands.append(Band(column, float(table["reference"]), float(table["tolerance"]),
                              f"{benchmark.source.name} [accuracy.{column}]" + (f", measured by: {how}" if how else "")))
            continue
        folder = _resolve(accuracy["reference"])
        if rows is None:
            rows = _reference_rows(folder)
        name, candidates = rows
        found = [(r, v) for r in candidates if _matches(r, benchmark.fixed, accuracy, column)
                 and (v := _value(r, column)) is not None]
        if not found:
            raise BenchError(f"accuracy reference run {folder}: no {column} figure made with the definition's "
                             f"model, prompts and sampling in float32 ({name})")
        row, value = found[0]
        label = row.get("point_id") or row.get("scenario_id")
        bands.append(Band(column, value, float(table["tolerance"]), f"{accuracy['reference']} {name} {label}"))
    return bands


def measure(benchmark, images_dir: Path, prompts: list[str], num_images: int,
            inception_weights: Path | None) -> tuple[dict, dict[str, str]]:
    """(columns, {metric: why null}) of the definition's metrics on the accuracy images, through
    evals' registry and scoring driver (each network loaded once, each feature computed once). The
    networks and references are loaded first, outside any metric: one that cannot load (a CLIP, the
    Hub, FID's reference, Inception's weights) is a BenchError for the run, not a null figure; only
    what the images themselves cause (a metric they cannot have) is a metric's null with its reason."""
    from bench.base.cache import cache_root
    from bench.results.outputs import image_name
    from evals.images import load_images
    from evals.metric import Networks
    from evals.scoring import FeatureBank, compute

    accuracy = benchmark.accuracy
    known = _metrics_by_column()
    metrics = [known[column] for column in metric_columns(accuracy)]
    networks = Networks(**({"clip": accuracy["clip"]} if "clip" in accuracy else {}),
                        inception_weights=inception_weights)
    bank = FeatureBank(networks, accuracy.get("fid_ref"), cache_root() / "fid-stats")
    files = [images_dir / image_name(p, s) for p in range(len(prompts)) for s in range(num_images)]
    images = load_images(files)
    flat = [p for p in prompts for _ in range(num_images)]
    for metric in metrics:  # the environment: loaded now, its errors are the run's
        for feature in metric.features:
            bank.network(feature)
            if metric.needs_reference:
                bank.reference(feature)
    columns, reasons, features = {}, {}, {}
    for metric in metrics:  # one at a time: a metric these images cannot have fails alone, with its reason
        try:  # (adherence on prompts outside the shapes world, a run whose options changed the prompts)
            out, why = compute([metric], bank, images, flat, num_images, features)
        except BenchError as e:
            reasons[metric.value_column] = str(e)
            continue
        columns.update({k: v for k, v in out.items() if v is not None or k not in columns})
        reasons.update({metric.value_column: v for v in why.values()})
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in columns.items()}, reasons


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_accuracy(benchmark, overrides: list[str], bands: list[Band], images_dir: Path, prompts: list[str],
                   num_images: int, inception_weights: Path | None):
    """(the scenario row's new columns, the verdict): the definition's metrics on the accuracy images
    against their bands. A run that changed fixed fields is checked too; its verdict says it is not a
    benchmark run."""
    from bench.results.scenarios_schema import NAMES

    from .band import check_bands

    columns, reasons = measure(benchmark, images_dir, prompts, num_images, inception_weights)
    verdict = check_bands(columns, bands, reasons, benchmark_run=not overrides,
                          not_benchmark_reason="; ".join(overrides) or None)
    detail = verdict.detail() | {"measured": {k: _plain(v) for k, v in columns.items()}}
    row = {k: _plain(v) for k, v in columns.items() if k in NAMES}
    row.update(accuracy_verdict=verdict.verdict, accuracy_detail=json.dumps(detail, sort_keys=True))
    return row, verdict
