"""`dalle-bench eval RUN_DIR`: quality columns for every finished point of
a run, and per-prompt CLIP scores (`prompt_scores.parquet`) for the
report's per-category breakdowns.

Metrics come from the registry (evals/registry.py). Only what is missing is
computed: a point keeps a metric's columns when they were made by the same
network (and, for reference metrics, against the same reference), or when
the metric was left null with a reason (its `quality_notes`). Each point's new values are written before the
next point starts (atomically), so a failure leaves earlier results intact."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.base.cache import cache_root
from bench.base.errors import BenchError
from bench.base.sources import check_hub_source
from bench.jobs.sweep.spec import SweepDefinition
from bench.results.outputs import image_name
from bench.results.files import write_table_atomic
from bench.results.store import POINTS_FILE, RunStore
from bench.shapes.reference import REFERENCE_NAME as SHAPES_REFERENCE
from evals import registry
from evals.clip_score import DEFAULT_CLIP, check_clip_source
from evals.images import IMAGE_SUFFIXES, load_images
from evals.metric import DEFAULT_CMMD_CLIP, DEFAULT_DINOV2, Metric, Networks
from evals.notes import format_notes, parse_notes
from evals.scoring import FeatureBank, compute
from evals.statistics import clip_score_summary

METRICS = tuple(registry.METRICS)
PROMPT_SCORES = "prompt_scores.parquet"
NOTES_COLUMN = "quality_notes"


@dataclass(frozen=True)
class EvalSettings:
    metrics: tuple[str, ...] = ("clip",)
    clip: str = DEFAULT_CLIP
    fid_ref: str | None = None
    inception_weights: Path | None = None
    cache_dir: Path | None = None
    cmmd_clip: str = DEFAULT_CMMD_CLIP
    dinov2: str = DEFAULT_DINOV2

    def __post_init__(self):
        needing = [m.name for m in registry.resolve(self.metrics) if m.needs_reference]
        if needing and not self.fid_ref:
            raise BenchError(f"--metrics {', '.join(needing)} need --fid-ref (a folder, a .npz file or point:<id>)")

    @property
    def networks(self) -> Networks:
        return Networks(clip=self.clip, cmmd_clip=self.cmmd_clip, dinov2=self.dinov2,
                        inception_weights=self.inception_weights)


def needs(metric: Metric, row: dict, settings: EvalSettings, network: str) -> bool:
    """True when the row lacks the metric's figures or has them from another network or reference.
    A metric null with a recorded reason (too few images, a .npz reference) is not asked for again."""
    if row.get(metric.network_column) != network:
        return True
    if metric.needs_reference and row.get("fid_reference") != settings.fid_ref:
        return True
    return row.get(metric.value_column) is None and metric.name not in parse_notes(row.get(NOTES_COLUMN))


def image_prompts(definition: SweepDefinition) -> list[str]:
    """The prompt of each image file, in file order (promptPPP_sampleSSS.png: prompt-major)."""
    return [p for p in definition.prompts for _ in range(definition.num_images)]


def prompt_table(point_id: str, definition: SweepDefinition, scores: np.ndarray, clip: str) -> list[dict]:
    per_prompt = scores.reshape(len(definition.prompts), definition.num_images)
    rows = []
    for i, prompt in enumerate(definition.prompts):
        s = clip_score_summary(per_prompt[i])
        rows.append({
            "point_id": point_id, "prompt_index": i, "prompt": prompt,
            "category": definition.prompt_categories[i] if definition.prompt_categories else None,
            "challenge": definition.prompt_challenges[i] if definition.prompt_challenges else None,
            "clip_model": clip, "images": s.count, "clip_score": s.mean, "clip_score_std": s.std,
            "clip_score_ci_low": s.ci_low, "clip_score_ci_high": s.ci_high,
        })
    return rows


def _with_adherence(prompt_rows: list[dict], point_id: str, definition: SweepDefinition,
                    scores: np.ndarray) -> list[dict]:
    """The point's per-prompt rows with their adherence columns (rows made if CLIP has not made them);
    scores: (images, 2) passed (0/1) and partial score per image."""
    per_prompt = np.asarray(scores).reshape(len(definition.prompts), definition.num_images, 2).mean(axis=1)
    passed, partial = per_prompt[:, 0], per_prompt[:, 1]
    existing = {r["prompt_index"]: r for r in prompt_rows if r["point_id"] == point_id}
    others = [r for r in prompt_rows if r["point_id"] != point_id]
    mine = []
    for i, prompt in enumerate(definition.prompts):
        row = existing.get(i) or {
            "point_id": point_id, "prompt_index": i, "prompt": prompt,
            "category": definition.prompt_categories[i] if definition.prompt_categories else None,
            "challenge": definition.prompt_challenges[i] if definition.prompt_challenges else None,
            "images": definition.num_images}
        mine.append({**row, "adherence": float(passed[i]), "adherence_partial": float(partial[i])})
    return others + mine


class Evaluator:
    """Evaluates the points of one run that lack the requested metrics;
    networks and references are loaded once and kept for later calls
    (`sweep --eval` calls it after every point)."""

    def __init__(self, store: RunStore, settings: EvalSettings, echo=print):
        # The store is shared with a running sweep, so both write the same rows.
        self.store, self.run_dir, self.settings, self.echo = store, store.run_dir, settings, echo
        self.metrics = registry.resolve(settings.metrics)
        self.bank = FeatureBank(settings.networks, settings.fid_ref,
                                settings.cache_dir or cache_root() / "fid-stats", self.run_dir)

    def _reference_pending(self) -> bool:
        ref = self.settings.fid_ref
        return bool(ref) and ref.startswith("point:") and not (
            self.run_dir / "images" / ref.removeprefix("point:")).is_dir()

    def evaluate_missing(self) -> int:
        """Evaluate what is missing; returns the number of points evaluated."""
        settings, store = self.settings, self.store
        definition = SweepDefinition.from_json(store.run["definition"])
        frame = store.rows()
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        networks = {m.name: self.bank.describe(m.features[0]) for m in self.metrics}
        todo = [(i, [m for m in self.metrics if needs(m, r, settings, networks[m.name])])
                for i, r in enumerate(rows) if r["status"] == "ok"]
        prompt_path = self.run_dir / PROMPT_SCORES
        prompt_rows = pd.read_parquet(prompt_path).to_dict("records") if prompt_path.exists() else []
        evaluated = 0
        for index, metrics in todo:
            if metrics and self._reference_pending():
                # The baseline point has not run yet: evaluated after it has.
                metrics = [m for m in metrics if not m.needs_reference]
            if not metrics:
                continue
            metrics = self._with_dependents(metrics)
            row, notes, features = self._evaluate_point(dict(rows[index]), metrics, definition)
            prompt_rows = self._prompt_rows(prompt_rows, row["point_id"], metrics, features, definition)
            rows[index] = row
            store.replace_rows(rows)
            if prompt_rows:
                write_table_atomic(prompt_path, pd.DataFrame(prompt_rows))
            self.echo(f"{row['point_id']}: {_figures(row, metrics, notes)}")
            evaluated += 1
        if evaluated:
            store.update_run(evaluation={
                "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "metrics": list(settings.metrics), "clip": settings.clip, "fid_ref": settings.fid_ref,
                "inception_weights": str(settings.inception_weights) if settings.inception_weights else None,
                "cmmd_clip": settings.cmmd_clip, "dinov2": settings.dinov2,
            })
        return evaluated

    def _with_dependents(self, metrics: list) -> list:
        """rerank reads the scores clip computes: new scores make its figures stale."""
        if "clip" in {m.name for m in metrics} and "rerank" in self.settings.metrics:
            return [m for m in self.metrics if m in metrics or m.name == "rerank"]
        return metrics

    def _evaluate_point(self, row: dict, metrics: list, definition: SweepDefinition) -> tuple[dict, dict, dict]:
        """The point's row with these metrics' columns, its notes, and the features computed on the way."""
        files = _point_images(self.run_dir / row["images_dir"], definition)
        notes = parse_notes(row.get(NOTES_COLUMN))
        if any(m.needs_reference for m in metrics) and row.get("fid_reference") != self.settings.fid_ref:
            # Figures against another reference must not stay labelled with this one.
            row.update({column: None for column in registry.reference_only_columns()})
            notes = {k: v for k, v in notes.items() if not registry.METRICS[k].needs_reference}
        features: dict = {}
        columns, reasons = compute(metrics, self.bank, load_images(files), image_prompts(definition),
                                   definition.num_images, features)
        row.update(columns)
        notes = {k: v for k, v in notes.items() if k not in {m.name for m in metrics}} | reasons
        row[NOTES_COLUMN] = format_notes(notes)
        return row, notes, features

    def _prompt_rows(self, prompt_rows: list[dict], point_id: str, metrics: list, features: dict,
                     definition: SweepDefinition) -> list[dict]:
        """prompt_scores.parquet's rows with this point's new per-prompt CLIP scores and adherence."""
        names = {m.name for m in metrics}
        if "clip" in names:
            kept = {r["prompt_index"]: r for r in prompt_rows if r["point_id"] == point_id}
            prompt_rows = [r for r in prompt_rows if r["point_id"] != point_id]
            # New CLIP scores must not drop the prompts' adherence columns.
            prompt_rows += [{**{k: v for k, v in kept.get(r["prompt_index"], {}).items()
                                if k.startswith("adherence")}, **r}
                            for r in prompt_table(point_id, definition, features["clip_scores"], self.settings.clip)]
        if "adherence" in names and "adherence" in features:
            prompt_rows = _with_adherence(prompt_rows, point_id, definition, features["adherence"])
        return prompt_rows


def _point_images(folder: Path, definition: SweepDefinition) -> list[Path]:
    """A point's image files by (prompt, sample), not by name (prompt1000 sorts before prompt101); all must be there."""
    files = [folder / image_name(p, s) for p in range(len(definition.prompts)) for s in range(definition.num_images)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise BenchError(f"{folder}: missing {len(missing)} image(s), e.g. {missing[0]}")
    return files


def _figures(row: dict, metrics: list, notes: dict) -> str:
    """The progress line's figures: each metric's value, or why it is null."""
    return ", ".join(f"{m.value_column} {row[m.value_column]:.4g}" if row.get(m.value_column) is not None
                     else f"{m.name} null ({notes[m.name]})" for m in metrics
                     if row.get(m.value_column) is not None or m.name in notes)


def check_inputs(store: RunStore, settings: EvalSettings) -> None:
    """What `eval` can refuse before it loads a network or writes anything:
    the Inception weights file, and a FID reference that is not there. A
    point reference must name a point of this run that finished with images
    (`sweep --eval` alone may name a point still to come)."""
    _check_local_inputs(store, settings)
    check_hub_networks(settings)  # last, as it may ask the network


def check_hub_networks(settings: EvalSettings, prefix: str = "--") -> None:
    """Each network the metrics need that is named by a Hub id: in the local cache or reachable, or one
    line now rather than a minute of transformers' retries later. Options are named `prefix` + field
    (`--clip`; `sweep --eval-clip` with prefix "--eval-"). "shapes" is a name for the CLIP score's CLIP
    only (the shapes preset's checkpoint folder); for the other networks it is a Hub id like any."""
    features = {f for m in registry.resolve(settings.metrics) for f in m.features}
    for feature, field in (("clip_scores", "clip"), ("clip_embedding", "cmmd_clip"), ("dinov2", "dinov2")):
        source = getattr(settings, field)
        if feature in features and not (field == "clip" and source == "shapes"):
            check_hub_source(source, prefix + field.replace("_", "-"))


def _check_local_inputs(store: RunStore, settings: EvalSettings) -> None:
    if "clip" in settings.metrics:
        check_clip_source(settings.clip)
    if "adherence" in settings.metrics:
        from evals.adherence import check_world_prompts

        check_world_prompts(SweepDefinition.from_json(store.run["definition"]).prompts)
    if not any(m.needs_reference or "inception" in m.features for m in registry.resolve(settings.metrics)):
        return
    weights = settings.inception_weights
    if weights is not None and not Path(weights).is_file():
        raise BenchError(f"--inception-weights: file not found: {weights}")
    reference = settings.fid_ref
    if not reference:
        return
    if reference.startswith("point:"):
        point_id = reference.removeprefix("point:")
        rows = {row["point_id"]: row for row in store.rows().to_dict("records")}
        if point_id not in rows:
            raise BenchError(f"--fid-ref {reference}: no such point in {store.run_dir} "
                             f"(points: {', '.join(rows) or 'none'})")
        if rows[point_id]["status"] != "ok":
            raise BenchError(f"--fid-ref {reference}: that point did not finish (status "
                             f"{rows[point_id]['status']}): it has no images to compare with")
        folder = store.images_dir(point_id)
        if not folder.is_dir() or not any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir()):
            raise BenchError(f"--fid-ref {reference}: {folder} holds no images")
        return
    if reference == SHAPES_REFERENCE:
        return
    path = Path(reference).expanduser()
    if not (path.is_dir() or (path.is_file() and path.suffix == ".npz")):
        raise BenchError(f"--fid-ref: '{reference}' is neither a folder of images, a .npz statistics file "
                         "nor point:<id>")


def evaluate_run(run_dir: Path, settings: EvalSettings, echo=print) -> int:
    from bench.results.runlock import run_lock

    store = RunStore.open(run_dir)  # a one-line error for a folder that is not a run, before any lock file
    if not (run_dir / POINTS_FILE).is_file():  # RunStore reads a run not yet started as one of no points
        raise BenchError(f"{run_dir / POINTS_FILE}: not found: the run has no finished points to evaluate")
    check_inputs(store, settings)
    with run_lock(run_dir):
        count = Evaluator(RunStore.open(run_dir), settings, echo).evaluate_missing()
    if not count:
        echo("Nothing to evaluate: every finished point already has the requested metrics.")
    return count
