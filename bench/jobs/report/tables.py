"""`dalle-bench report RUN_DIR`: pandas tables of a run, as Markdown (to the
terminal) and CSV under RUN_DIR/report/ (the HTML page: bench/jobs/report/html/).

Tables: every point (key columns), the settings compared (median over the
points that share them), scaling across device counts (throughput relative
to one device of the same mode, batch and settings), and failed points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.base.atomic import replacing
from bench.results.outputs import RANDOM_WEIGHTS_NOTE
from bench.results.points_schema import THROUGHPUT_DEFINITION
from bench.results.store import RunStore, writing

SAMPLING = ["temperature", "top_k", "top_p", "cond_scale"]
LAYOUT = ["parallel", "devices", "batch_per_device", "dtype"]
KEY_COLUMNS = ["point_id", "status", *LAYOUT, "processes", "local_devices", *SAMPLING, "images_per_s",
               "seconds_per_image", "latency_p50_s",
               "compile_s", "roofline_fraction"]
MEASURES = {"images_per_s": "median", "images_per_s_per_device": "median", "seconds_per_image": "median",
            "latency_p50_s": "median", "roofline_fraction": "median", "compile_s": "median",
            "clip_score_mean": "mean", "point_id": "count"}


def key_table(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[KEY_COLUMNS].round(4)


def by_setting(rows: pd.DataFrame) -> pd.DataFrame:
    """For each sampling setting and dtype: medians over the points (layouts) that share it."""
    ok = rows[rows.status == "ok"]
    if ok.empty:
        return pd.DataFrame()
    table = ok.groupby(["dtype", *SAMPLING], dropna=False).agg(MEASURES).rename(columns={"point_id": "points"})
    return table.reset_index().round(4)


def scaling(rows: pd.DataFrame) -> pd.DataFrame:
    """Throughput against device count, relative to one device at the same
    batch per device, dtype and sampling setting: the same mode's 1-device
    point when there is one, otherwise any 1-device point (with `--parallel
    auto` that is `single`). `efficiency` is speed-up over device count."""
    ok = rows[rows.status == "ok"]
    setting = ["batch_per_device", "dtype", *SAMPLING]
    tables = []
    for _, points in ok.groupby(setting, dropna=False):
        one_device = points[points.devices == 1]
        if one_device.empty or points.devices.nunique() < 2:
            continue
        for mode, mode_points in points.groupby("parallel"):
            if mode_points.devices.max() == 1 and mode_points.devices.nunique() == 1 and mode == "single":
                continue  # a single-device mode has nothing to scale
            own = mode_points[mode_points.devices == 1]
            baseline = (own if not own.empty else one_device).images_per_s.median()
            table = mode_points.groupby("devices").agg(images_per_s=("images_per_s", "median")).reset_index()
            table["parallel"] = mode
            for name, value in zip(setting, mode_points[setting].iloc[0]):
                table[name] = value
            table["speedup"] = table.images_per_s / baseline
            table["efficiency"] = table.speedup / table.devices
            tables.append(table)
    if not tables:
        return pd.DataFrame()
    return pd.concat(tables)[["parallel", *setting, "devices", "images_per_s", "speedup", "efficiency"]].round(4)


def padded_points(rows: pd.DataFrame) -> list[str]:
    """Ids of the points whose last batch carries padding rows (their images/s counts full batches)."""
    if "padded_rows" not in rows:
        return []
    return list(rows.point_id[rows.padded_rows.fillna(0) > 0])


def failures(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows.status != "ok"][["point_id", "status", *LAYOUT, *SAMPLING, "error"]]


QUALITY = ["clip_model", "clip_score", "clip_score_ci_low", "clip_score_ci_high", "adherence",
           "adherence_ci_low", "adherence_ci_high", "adherence_partial", "fid", "fid_biased", "fid_sqrtm",
           "kid_mean", "kid_subset_size", "isc_mean", "isc_splits", "precision", "recall", "cmmd", "fd_dinov2", "fd_dinov2_biased", "prdc_precision",
           "prdc_recall", "density", "coverage", "clip_score_best_of_n", "rerank_gain", "quality_notes"]
FID_NOTE = ("FID assumes Gaussian Inception features and is biased upwards below thousands of images; CMMD (cmmd) "
            "makes no Gaussian assumption and is far less biased at small sizes (Jayasumana et al., CVPR 2024).")


def quality(rows: pd.DataFrame) -> pd.DataFrame:
    """Quality columns of the evaluated points (`dalle-bench eval`)."""
    columns = [c for c in QUALITY if c in rows]  # runs written before a metric existed lack its columns
    evaluated = rows[rows[columns[1:]].notna().any(axis=1)] if len(rows) else rows
    if evaluated.empty:
        return pd.DataFrame()
    return evaluated[["point_id", *SAMPLING, *columns]].dropna(axis=1, how="all").round(4)


def by_label(prompt_scores: pd.DataFrame | None, label: str, value: str = "clip_score") -> pd.DataFrame:
    """Mean CLIP score (or adherence) per prompt category (or challenge), one column per point."""
    if prompt_scores is None or value not in prompt_scores or prompt_scores[label].isna().all() \
            or prompt_scores[value].isna().all():
        return pd.DataFrame()
    table = prompt_scores.pivot_table(index=label, columns="point_id", values=value, aggfunc="mean")
    return table.round(3).reset_index()


def processes(rows: pd.DataFrame) -> pd.DataFrame:
    """Each process's median batch latency, for the points run across several
    processes: the row's latency is the slowest process's, call by call."""
    spread = rows[(rows.status == "ok") & (rows.processes.fillna(1) > 1)]
    if spread.empty:
        return pd.DataFrame()
    table = spread[["point_id", "parallel", "devices", "processes", "local_devices", "slowest_process",
                    "latency_p50_s"]].copy()
    latencies = pd.DataFrame([list(v) for v in spread.process_latency_p50_s], index=spread.index)
    latencies.columns = [f"process_{k}_p50_s" for k in latencies.columns]
    return pd.concat([table, latencies], axis=1).round(4)


def time_spent(run: dict) -> pd.DataFrame:
    """Where each session's wall time went (run.json's sessions[].time), and
    its measuring fraction: timed calls / wall time."""
    sessions = [(i, session["time"]) for i, session in enumerate(run.get("sessions") or []) if session.get("time")]
    return pd.DataFrame([{"session": i, **spent} for i, spent in sessions])


def _tables(rows: pd.DataFrame, prompt_scores: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    return {"Points": key_table(rows), "By sampling setting": by_setting(rows),
            "Scaling across devices": scaling(rows), "Processes": processes(rows), "Quality": quality(rows),
            "CLIP score by prompt category": by_label(prompt_scores, "category"),
            "CLIP score by prompt challenge": by_label(prompt_scores, "challenge"),
            "Adherence by prompt challenge": by_label(prompt_scores, "challenge", "adherence"),
            "Failed points": failures(rows)}


def _header(store: RunStore, rows: pd.DataFrame) -> list[str]:
    env = store.run.get("environment", {})
    devices = env.get("devices", {})
    versions = env.get("versions", {})
    git = env.get("git", {})
    lines = [
        f"Run {store.run_id}: {len(rows)} of {len(_definition_points(store))} points finished, "
        f"{int((rows.status == 'ok').sum())} ok.",
        f"Model preset {store.run['definition'].get('preset')}; devices: {_device_layout(devices)} "
        f"{devices.get('device_kind')} ({devices.get('platform')}); jax {versions.get('jax')}, "
        f"flax {versions.get('flax')}; commit {str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}.",
    ]
    lines.append(f"Throughput: {THROUGHPUT_DEFINITION}.")
    if rows.get("random_weights") is not None and rows.random_weights.fillna(False).any() \
            or store.run["definition"].get("preset") == "tiny":
        lines.append(f"Warning: {RANDOM_WEIGHTS_NOTE}.")
    padded = padded_points(rows)
    if padded:
        lines.append(f"Warning: {', '.join(padded)} do not fill their batches (see padded_rows): their images/s "
                     "counts full batches.")
    if any(c in rows and rows[c].notna().any() for c in ("fid", "cmmd")):
        lines.append(FID_NOTE)
    return lines


def _device_layout(devices: dict) -> str:
    """'8 devices' in one process, '4 processes × 2 local devices' across several."""
    processes = devices.get("process_count") or 1
    count = devices.get("device_count")
    if processes == 1:
        return f"{count} ×"
    return f"{processes} processes × {count // processes} local devices ×"


def _definition_points(store: RunStore):
    from ..sweep.spec import SweepDefinition

    return SweepDefinition.from_json(store.run["definition"]).points()


def _markdown(table: pd.DataFrame) -> str:
    return table.to_markdown(index=False) if not table.empty else "(none)"


@dataclass(frozen=True)
class RunReport:
    """What every form of the report shows: the run, its rows, its tables and header lines."""
    store: RunStore
    rows: pd.DataFrame
    prompt_scores: pd.DataFrame | None
    tables: dict[str, pd.DataFrame]
    header: list[str]


def load_report(run_dir: Path) -> RunReport:
    """A run's report content; a one-line BenchError if the folder is not a run."""
    store = RunStore.open(run_dir)
    rows = store.rows()
    prompt_path = run_dir / "prompt_scores.parquet"
    prompt_scores = pd.read_parquet(prompt_path) if prompt_path.exists() else None
    tables = {**_tables(rows, prompt_scores), "Where the time went": time_spent(store.run)}
    return RunReport(store, rows, prompt_scores, tables, _header(store, rows))


def write_report(run_dir: Path) -> tuple[str, Path]:
    """Write report.md and CSVs; return (markdown, report folder). The HTML page is
    `bench.jobs.report.html.write_html_report`."""
    report = load_report(run_dir)
    out = run_dir / "report"
    markdown = "\n".join([f"# dalle-bench report: {report.store.run_id}", "", *report.header, ""]
                         + [part for title, table in report.tables.items()
                            for part in (f"## {title}", "", _markdown(table), "")])
    with writing(out):
        out.mkdir(exist_ok=True)
    # Each file replaced in one step: a file-size limit or a full disk stops the report with one line
    # and leaves every file whole (the old one or the new one).
    _write_atomic(out / "report.md", lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    for title, table in report.tables.items():
        _write_atomic(out / f"{title.lower().replace(' ', '_')}.csv", lambda tmp: table.to_csv(tmp, index=False))
    # After the tables: the "Points" table's file has the same name, and every column of every row wins.
    _write_atomic(out / "points.csv", lambda tmp: report.rows.to_csv(tmp, index=False))
    return markdown, out


def _write_atomic(path: Path, write) -> None:
    with writing(path), replacing(path) as tmp:
        write(tmp)
