"""`dalle-bench eval RUN_DIR`: quality columns for every finished point of
a run, and per-prompt CLIP scores (`prompt_scores.parquet`) for the
report's per-category breakdowns.

Only what is missing is computed: a point keeps its CLIP columns when they
were made with the same CLIP checkpoint, its FID-family columns when made
against the same reference. Each point's new values are written before the
next point starts (atomically), so a failure leaves earlier results intact."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.models.tiny import cache_root
from bench.sweep.spec import SweepDefinition
from bench.sweep.store import RunStore, write_table_atomic

from .adherence import adherence_scores
from .clip_score import DEFAULT_CLIP, clip_scores, load_clip
from bench.outputs import image_name

from .images import load_images
from .statistics import ScoreSummary

METRICS = ("clip", "adherence", "fid", "kid", "isc", "prc")
FIDELITY = ("fid", "kid", "isc", "prc")
PROMPT_SCORES = "prompt_scores.parquet"


@dataclass(frozen=True)
class EvalSettings:
    metrics: tuple[str, ...] = ("clip",)
    clip: str = DEFAULT_CLIP
    fid_ref: str | None = None
    inception_weights: Path | None = None
    cache_dir: Path | None = None

    def __post_init__(self):
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise BenchError(f"--metrics: unknown metric(s) {', '.join(unknown) or '(none)'} "
                             f"(known: {', '.join(METRICS)})")
        if {"fid", "kid", "prc"} & set(self.metrics) and not self.fid_ref:
            raise BenchError("--metrics fid, kid and prc need --fid-ref (a folder, a .npz file or point:<id>)")


REFERENCE_COLUMNS = ("fid", "kid_mean", "kid_std", "precision", "recall", "fid_reference_images", "fid_biased")


def _needs(row: dict, settings: EvalSettings, extractor: str | None) -> set[str]:
    """Metrics to (re)compute: missing, or made with another CLIP, reference
    or Inception weights. KID and PRC against a .npz reference cannot exist
    (no features): they stay null and are not asked for again."""
    needs = set()
    if "clip" in settings.metrics and (row["clip_score"] is None or row["clip_model"] != settings.clip):
        needs.add("clip")
    if "adherence" in settings.metrics and row["adherence"] is None:
        needs.add("adherence")
    same_inception = row["feature_extractor"] == extractor
    same_reference = row["fid_reference"] == settings.fid_ref and same_inception
    statistics_only = bool(settings.fid_ref) and settings.fid_ref.endswith(".npz")
    for metric, column in (("fid", "fid"), ("kid", "kid_mean"), ("prc", "precision"), ("isc", "isc_mean")):
        if metric not in settings.metrics:
            continue
        same = same_inception if metric == "isc" else same_reference
        impossible = metric in ("kid", "prc") and statistics_only
        if not same or (row[column] is None and not impossible):
            needs.add(metric)
    return needs


def image_prompts(definition: SweepDefinition) -> list[str]:
    """The prompt of each image file, in file order (promptPPP_sampleSSS.png: prompt-major)."""
    return [p for p in definition.prompts for _ in range(definition.num_images)]


def prompt_table(point_id: str, definition: SweepDefinition, scores: np.ndarray, clip: str) -> list[dict]:
    per_prompt = scores.reshape(len(definition.prompts), definition.num_images)
    rows = []
    for i, prompt in enumerate(definition.prompts):
        s = ScoreSummary.of(per_prompt[i])
        rows.append({
            "point_id": point_id, "prompt_index": i, "prompt": prompt,
            "category": definition.prompt_categories[i] if definition.prompt_categories else None,
            "challenge": definition.prompt_challenges[i] if definition.prompt_challenges else None,
            "clip_model": clip, "images": s.count, "clip_score": s.mean, "clip_score_std": s.std,
            "clip_score_ci_low": s.ci_low, "clip_score_ci_high": s.ci_high,
        })
    return rows


def _with_adherence(prompt_rows: list[dict], point_id: str, definition: SweepDefinition, passed: np.ndarray,
                    partial: np.ndarray) -> list[dict]:
    """The point's per-prompt rows with their adherence columns (rows made if CLIP has not made them)."""
    passed = passed.reshape(len(definition.prompts), definition.num_images).mean(axis=1)
    partial = partial.reshape(len(definition.prompts), definition.num_images).mean(axis=1)
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
    models and the reference are loaded once and kept for later calls
    (`sweep --eval` calls it after every point)."""

    def __init__(self, store: RunStore, settings: EvalSettings, echo=print):
        # The store is shared with a running sweep, so both write the same rows.
        self.store, self.run_dir, self.settings, self.echo = store, store.run_dir, settings, echo
        self._clip = self._extractor = self._reference = None

    def _clip_model(self):
        if self._clip is None:
            self._clip = load_clip(self.settings.clip)
        return self._clip

    def _inception(self):
        from . import fidelity, inception

        if self._extractor is None:
            self._extractor = inception.load_extractor(self.settings.inception_weights)
            weights_id = inception.weights_id(self.settings.inception_weights)
            cache_dir = self.settings.cache_dir or cache_root() / "fid-stats"
            if self.settings.fid_ref:
                self._reference = fidelity.resolve_reference(self.settings.fid_ref, self._extractor, weights_id,
                                                             cache_dir, self.run_dir)
        return self._extractor, self._reference

    def _reference_pending(self) -> bool:
        ref = self.settings.fid_ref
        return bool(ref) and ref.startswith("point:") and not (
            self.run_dir / "images" / ref.removeprefix("point:")).is_dir()

    def evaluate_missing(self) -> int:
        """Evaluate what is missing; returns the number of points evaluated."""
        from . import fidelity, inception

        settings, run_dir, store = self.settings, self.run_dir, self.store
        definition = SweepDefinition.from_json(store.run["definition"])
        frame = store.rows()
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
        extractor_name = None
        if set(settings.metrics) & set(FIDELITY):
            from .inception import extractor_name as name_of

            extractor_name = name_of(settings.inception_weights)
        todo = [(i, _needs(r, settings, extractor_name)) for i, r in enumerate(rows) if r["status"] == "ok"]
        todo = [(i, needs) for i, needs in todo if needs]
        prompt_path = run_dir / PROMPT_SCORES
        prompt_rows = pd.read_parquet(prompt_path).to_dict("records") if prompt_path.exists() else []
        for index, needs in todo:
            row = dict(rows[index])
            folder = run_dir / row["images_dir"]
            # Files by (prompt, sample), not by name: prompt1000 sorts before prompt101.
            files = [folder / image_name(p, s) for p in range(len(definition.prompts))
                     for s in range(definition.num_images)]
            missing = [f.name for f in files if not f.is_file()]
            if missing:
                raise BenchError(f"{folder}: missing {len(missing)} image(s), e.g. {missing[0]}")
            images = load_images(files)
            if "clip" in needs:
                scores = clip_scores(*self._clip_model(), images, image_prompts(definition))
                summary = ScoreSummary.of(scores)
                row.update(clip_model=settings.clip, clip_score=summary.mean, clip_score_std=summary.std,
                           clip_score_ci_low=summary.ci_low, clip_score_ci_high=summary.ci_high)
                kept = {r["prompt_index"]: r for r in prompt_rows if r["point_id"] == row["point_id"]}
                prompt_rows = [r for r in prompt_rows if r["point_id"] != row["point_id"]]
                prompt_rows += [{**{k: v for k, v in kept.get(r["prompt_index"], {}).items()
                                    if k.startswith("adherence")}, **r}
                                for r in prompt_table(row["point_id"], definition, scores, settings.clip)]
            if "adherence" in needs:
                passed, partial = adherence_scores(images, image_prompts(definition))
                row.update(adherence=float(passed.mean()), adherence_partial=float(partial.mean()))
                prompt_rows = _with_adherence(prompt_rows, row["point_id"], definition, passed, partial)
            if self._reference_pending():
                needs -= {"fid", "kid", "prc"}  # the baseline point has not run yet: evaluated after it has
            if needs & set(FIDELITY):
                extractor, reference = self._inception()
                features = inception.inception_features(extractor, images)
                if row["fid_reference"] != settings.fid_ref:
                    # Figures against another reference must not stay labelled with this one.
                    row.update({column: None for column in REFERENCE_COLUMNS})
                row.update(fidelity.fidelity_metrics(features, reference, needs & set(FIDELITY),
                                                     settings.inception_weights))
            rows[index] = row
            store.replace_rows(rows)
            if prompt_rows:
                write_table_atomic(prompt_path, pd.DataFrame(prompt_rows))
            figures = ", ".join(f"{k} {row[k]:.4g}" for k in ("clip_score", "adherence", "fid", "kid_mean", "isc_mean",
                                                              "precision", "recall") if row.get(k) is not None)
            self.echo(f"{row['point_id']}: {figures}")
        if todo:
            store.update_run(evaluation={
                "at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "metrics": list(settings.metrics), "clip": settings.clip, "fid_ref": settings.fid_ref,
                "inception_weights": str(settings.inception_weights) if settings.inception_weights else None,
            })
        return len(todo)


def evaluate_run(run_dir: Path, settings: EvalSettings, echo=print) -> int:
    count = Evaluator(RunStore.open(run_dir), settings, echo).evaluate_missing()
    if not count:
        echo("Nothing to evaluate: every finished point already has the requested metrics.")
    return count
