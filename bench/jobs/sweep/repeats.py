"""The run folder of `sweep --repeat R`: R ordinary run folders under
repeats/r1 ... rR, each measured by its own process, and the run's own
points.parquet with one row per point merged from them (bench/jobs/sweep/merge.py)
as soon as every repeat has finished it. No JAX here: the parent process
that merges must not compete with the repeats for the cores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from bench.results.store import POINTS_FILE, RunStore, read_points, writing

from .merge import merged_row, stack_latencies

REPEATS_DIR = "repeats"
LATENCIES_FILE = "latencies.npy"
TOKENS_FILE = "tokens.npy"


def repeat_dirs(run_dir: Path, repeats: int) -> list[Path]:
    return [run_dir / REPEATS_DIR / f"r{k + 1}" for k in range(repeats)]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links refused
        shutil.copy2(source, target)


class RepeatMerger:
    """Merges into `store` every point its repeats (run folders `children`,
    in repeat order) have all finished. Each repeat's points.parquet is read
    again only when its modification time changed, so polling is cheap."""

    def __init__(self, store: RunStore, children: list[Path]):
        self.store = store
        self.children = children
        self._seen: dict[int, tuple[int, dict]] = {}

    def _rows(self, k: int) -> dict:
        path = self.children[k] / POINTS_FILE
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if k not in self._seen or self._seen[k][0] != mtime:
            self._seen[k] = (mtime, {row["point_id"]: row for row in read_points(self.children[k])})
        return self._seen[k][1]

    def merge_finished(self) -> list[dict]:
        """Append a merged row for each point finished in every repeat and not
        yet merged; returns those rows, in point order."""
        per_repeat = [self._rows(k) for k in range(len(self.children))]
        ready = set.intersection(*(set(rows) for rows in per_repeat)) - self.store.finished_ids()
        merged = []
        for point_id in sorted(ready, key=lambda pid: per_repeat[0][pid]["point_index"]):
            row = self._merge_point(point_id, [rows[point_id] for rows in per_repeat])
            self.store.append(row)
            merged.append(row)
        return merged

    def _merge_point(self, point_id: str, rows: list[dict]) -> dict:
        run_id = self.store.run_id
        if any(row["status"] != "ok" for row in rows):
            return merged_row(rows, run_id)
        folders = [child / row["images_dir"] for child, row in zip(self.children, rows)]
        tokens = np.load(folders[0] / TOKENS_FILE)
        for k, folder in enumerate(folders[1:], start=2):
            other = np.load(folder / TOKENS_FILE)
            if other.shape != tokens.shape or not np.array_equal(other, tokens):
                return merged_row(rows, run_id, disagreement=f"repeats disagree: tokens of r{k} differ from r1")
        latencies = stack_latencies([np.load(folder / LATENCIES_FILE) for folder in folders])
        row = merged_row(rows, run_id, latencies)
        staging = self.store.staging_dir(point_id)
        with writing(staging):
            for source in folders[0].iterdir():
                if source.is_file() and source.name != LATENCIES_FILE:
                    _link_or_copy(source, staging / source.name)
            np.save(staging / LATENCIES_FILE, latencies)
        final = self.store.publish_images(staging, point_id)
        return {**row, "images_dir": str(final.relative_to(self.store.run_dir))}


