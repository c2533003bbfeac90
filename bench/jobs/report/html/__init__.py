"""`dalle-bench report RUN_DIR --html`: one self-contained page,
RUN_DIR/report/report.html, that opens from disk with no network: the
environment and sweep definition, a banner when figures must not be taken
at face value, the report's tables, plots and a grid of images per point.

The modules: `plots` (rows in, figures out), `pareto` (the front),
`banner` (the warning rules), `thumbnails` (reading the images), `embed`
(data: URIs), `page` (the HTML). This one reads the run and joins them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.base.atomic import write_text_atomic

from ..tables import FID_NOTE, RunReport, load_report
from .banner import STANDARD_INCEPTION_BYTES, STANDARD_INCEPTION_SHA256, banner_lines
from .thumbnails import GridOptions, point_images


@dataclass(frozen=True)
class HtmlOptions:
    grid: GridOptions = field(default_factory=GridOptions)


def write_html_report(run_dir: Path, options: HtmlOptions = HtmlOptions(), echo=None) -> Path:
    """Write RUN_DIR/report/report.html; return its path. An image that cannot be read (damaged, too
    large) is a placeholder in its grid, named in one warning line through `echo`."""
    from bench.results.store import writing

    from .page import render

    report = load_report(run_dir)
    page = build_page(report, options)
    unreadable = [problem for grid in page.grids for problem in grid.images.unreadable]
    if unreadable and echo is not None:
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        echo(f"Warning: {unreadable[0]}{more}: shown as 'unreadable' in the page's image grids")
    out = run_dir / "report"
    path = out / "report.html"
    with writing(path):  # a file-size limit or a full disk: one line, the old page left as it was
        out.mkdir(exist_ok=True)
        write_text_atomic(path, render(page))  # a reader never sees half a page
    return path


def build_page(report: RunReport, options: HtmlOptions):
    from . import plots
    from .embed import figure_uri
    from .page import Grid, Page, Plot

    store, rows = report.store, report.rows
    definition = store.run.get("definition", {})
    latencies = _latencies(store, rows)
    quality_note = (f"Blue: each point; orange: the mean at each value, over points whose other settings "
                    f"differ. {plots.clip_column(rows)[1]}."
                    + (f" {FID_NOTE}" if "fid" in rows and rows.fid.notna().any() else ""))
    specs = [
        ("throughput", "Throughput by batch size", lambda: plots.throughput_by_batch(rows),
         "Images/s = global batch / median latency; lines: median over sampling settings."),
        ("scaling", "Scaling across devices", lambda: plots.scaling_plot(rows),
         "Speed-up over one device of the same mode, batch and settings; dashed: linear scaling."),
        ("latency", "Latency distributions", lambda: plots.latency_distributions(rows, latencies),
         "Every timed program call of each point (images/<point-id>/latencies.npy); boxes: quartiles."),
        ("quality-cond-scale", "Quality against condition scale",
         lambda: plots.quality_against(rows, "cond_scale", "condition scale"), quality_note),
        ("quality-temperature", "Quality against temperature",
         lambda: plots.quality_against(rows, "temperature", "temperature"), quality_note),
        ("tradeoff", "Quality against throughput", lambda: plots.quality_throughput(rows),
         "Red: the Pareto front, the points that no other point beats on both CLIP score and images/s."),
    ]
    if "clip_score_best_of_k" in rows and rows.clip_score_best_of_k.notna().any():
        # Only for runs evaluated with `--metrics clip,rerank`: a metric asked for, not a gap in the page.
        specs.append(("rerank", "Best of k against k", lambda: plots.rerank_curves(rows),
                      "Expected CLIP score of the best of k images per prompt (exact, from the order statistics "
                      "of the n scores), mean over prompts: k = 1 is no re-ranking, k = n the notebook's best of n."))
    figures = []
    for plot_id, title, draw, caption in specs:
        try:
            figures.append(Plot(plot_id, title, figure_uri(draw()), caption=caption))
        except plots.NotDrawable as reason:
            figures.append(Plot(plot_id, title, None, note=str(reason)))
    grid = options.grid
    prompts = tuple(definition.get("prompts", ()))
    num_images = int(definition.get("num_images", 0))
    ok = rows[rows.status == "ok"]
    grids = tuple(Grid(plots.point_label(row), point_images(store.run_dir / row.images_dir, row.point_id,
                                                            len(prompts), num_images, grid, report.prompt_scores))
                  for row in ok.itertuples())
    return Page(
        run_id=store.run_id,
        summary=tuple(line for line in report.header if not line.startswith("Warning:")),  # the banner says it
        banners=tuple(banner_lines(rows, definition, _standard_weights_ids(store.run))),
        environment=tuple(_environment(store.run)),
        definition=tuple(_definition(definition)),
        definition_json=json.dumps(definition, indent=2),
        tables=tuple(report.tables.items()),
        plots=tuple(figures),
        prompts=prompts[:grid.max_prompts],
        grids=grids,
        images_note=_images_note(grid, len(prompts), num_images, report.prompt_scores is not None),
        thumbnail_px=grid.thumbnail_px,
    )


def _latencies(store, rows) -> dict[str, np.ndarray]:
    found = {}
    for row in rows[rows.status == "ok"].itertuples():
        path = store.run_dir / str(row.images_dir) / "latencies.npy"
        if path.is_file():
            calls = np.load(path).ravel()  # a `sweep --repeat` run: one row per process, NaN-padded
            found[row.point_id] = calls[np.isfinite(calls)]
    return found


def _standard_weights_ids(run: dict) -> frozenset[str]:
    """The weights id of the Inception file the last evaluation used, when that
    file is still there and is torch-fidelity's standard one."""
    from evals.inception import weights_id

    recorded = (run.get("evaluation") or {}).get("inception_weights")
    path = Path(recorded) if recorded else None
    if path is None or not path.is_file() or path.stat().st_size != STANDARD_INCEPTION_BYTES:
        return frozenset()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return frozenset({weights_id(path)}) if digest == STANDARD_INCEPTION_SHA256 else frozenset()


def compilation_cache_text(cache: dict) -> str:
    """run.json's `compilation_cache` (as `sweep` writes it: enabled, dir, entries_before) in words."""
    if not cache.get("enabled"):
        return "off"
    return f"on: {cache.get('dir')} ({cache.get('entries_before')} entries when the run started)"


def _environment(run: dict):
    env = run.get("environment", {})
    devices, host, git = env.get("devices", {}), env.get("host", {}), env.get("git", {})
    yield "devices", (f"{devices.get('device_count')} × {devices.get('device_kind')} ({devices.get('platform')}), "
                      f"{devices.get('available_devices')} available, {devices.get('process_count')} process(es)")
    yield "versions", ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    yield "host", f"{host.get('hostname')}: {host.get('cpu')}"
    if host.get("xla_flags"):
        yield "XLA_FLAGS", str(host["xla_flags"])
    yield "git commit", f"{git.get('commit')}{' (dirty tree)' if git.get('dirty') else ''}"
    cache = run.get("compilation_cache") or {}
    yield "compilation cache", compilation_cache_text(cache)
    sessions = run.get("sessions") or []
    if sessions:
        yield "sessions", f"{len(sessions)}, first started {sessions[0].get('started_at', sessions[0].get('start'))}"
    evaluation = run.get("evaluation")
    if evaluation:
        yield "evaluation", "; ".join(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                      for k, v in evaluation.items() if v is not None)
    if run.get("command"):
        command = run["command"]
        yield "command", " ".join(command) if isinstance(command, list) else str(command)


def _definition(definition: dict):
    for name, values in (definition.get("grid") or {}).items():
        yield f"grid: {name}", ", ".join(map(str, values))
    for group in definition.get("zip") or []:
        names = list(group)
        yield "zip: " + ", ".join(names), "; ".join(
            "(" + ", ".join(map(str, combo)) + ")" for combo in zip(*(group[n] for n in names)))
    for name in ("preset", "weights", "model", "vqgan", "clip"):
        if definition.get(name) is not None:
            yield name, str(definition[name])
    yield "prompts", f"{definition.get('prompts_source')} ({len(definition.get('prompts', []))} prompts), " \
                     f"{definition.get('num_images')} image(s) each"
    yield "timing", (f"warm-up {definition.get('warmup')}, iterations {definition.get('iters')}, "
                     f"min seconds {definition.get('min_seconds')}, stages {definition.get('stages')}, "
                     f"measured peak {definition.get('measure_peak')}")


def _images_note(grid: GridOptions, num_prompts: int, num_images: int, evaluated: bool) -> str:
    shown = f"{min(num_prompts, grid.max_prompts)} of {num_prompts} prompt(s) × {min(num_images, grid.max_samples)} " \
            f"of {num_images} image(s)"
    return (f"Each finished point: the same {shown} (at most {grid.max_prompts} × {grid.max_samples} per point), "
            f"as {grid.thumbnail_px}-px JPEG thumbnails. Under each image: its CLIP score from the pipeline's own "
            f"CLIP" + ("; beside each prompt (blue): the evaluated mean CLIP score of that prompt's images "
                       "(dalle-bench eval)." if evaluated else "."))
