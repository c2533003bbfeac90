"""The report's figures: pure functions from a run's rows (and latencies) to
a matplotlib Figure, no IO. Figures are built with `matplotlib.figure.Figure`,
not pyplot, so nothing is kept in global state and no display is needed.

A plot that the data cannot support (one device count: no scaling) raises
`NotDrawable` with a one-line reason, which the page shows instead."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bench.base.sources import looks_local

from ..tables import scaling
from .pareto import pareto_front

WIDTH, HEIGHT = 7.0, 4.0  # inches; at the page's 100 dpi, 700 x 400 px


class NotDrawable(ValueError):
    """The data cannot support this plot; the message says why, in one line."""


def point_label(row) -> str:
    """A short name of a point's settings, e.g. '003 pmap×2 b1 cs3 T1'."""
    index = str(row.point_id).split("-")[0]
    return (f"{index} {row.parallel}×{row.devices} b{row.batch_per_device} cs{row.cond_scale:g} "
            f"T{row.temperature:g}" + (f" k{row.top_k}" if row.top_k else "")
            + (f" p{row.top_p:g}" if row.top_p < 1 else "") + (f" {row.dtype}" if row.dtype != "float32" else ""))


def ok_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The points that finished with a throughput; NotDrawable when there are none."""
    ok = rows[(rows.status == "ok") & rows.images_per_s.notna()]
    if ok.empty:
        raise NotDrawable("no point finished: nothing to plot")
    return ok


def clip_column(rows: pd.DataFrame) -> tuple[str, str]:
    """The CLIP score to plot and its axis label: the evaluated one (`dalle-bench eval`)
    when every ok point has it, else the pipeline's own."""
    ok = rows[(rows.status == "ok") & rows.images_per_s.notna()]
    if len(ok) and ok.clip_score.notna().all():
        models = ", ".join(sorted({_short_model(m) for m in ok.clip_model.dropna()}))
        return "clip_score", f"CLIP score ({models})"
    return "clip_score_mean", "CLIP score (in-pipeline CLIP)"


def throughput_by_batch(rows: pd.DataFrame) -> Figure:
    """Images/s against batch per device, a line per (parallel mode, device count):
    the median over sampling settings, every point drawn faintly behind it."""
    ok = ok_rows(rows)
    fig, ax = _figure()
    for color, ((mode, devices), points) in zip(_colors(), ok.groupby(["parallel", "devices"])):
        ax.scatter(points.batch_per_device, points.images_per_s, color=color, alpha=0.3, s=14)
        median = points.groupby("batch_per_device").images_per_s.median()
        ax.plot(median.index, median.values, "o-", color=color, label=f"{mode}, {devices} device(s)")
    _log2_axis(ax, sorted(ok.batch_per_device.unique()))
    ax.set(xlabel="batch per device", ylabel="images/s (median latency)", title="Throughput by batch size")
    ax.legend(fontsize="small")
    return fig


def scaling_plot(rows: pd.DataFrame) -> Figure:
    """Speed-up over one device against device count, the ideal (linear) line for reference."""
    ok_rows(rows)
    table = scaling(rows)
    if table.empty:
        devices = sorted(ok_rows(rows).devices.unique())
        raise NotDrawable(f"no scaling plot: the run has one device count only ({', '.join(map(str, devices))})"
                          if len(devices) < 2 else "no scaling plot: no setting ran on one device and on more")
    fig, ax = _figure()
    # Median over sampling settings: they change the work per image, not how it scales.
    for color, ((mode, batch), points) in zip(_colors(), table.groupby(["parallel", "batch_per_device"])):
        median = points.groupby("devices").speedup.median()
        ax.plot(median.index, median.values, "o-", color=color, label=f"{mode}, batch {batch}/device")
    devices = sorted(table.devices.unique())
    ax.plot(devices, devices, "--", color="grey", label="ideal (linear)")
    ax.set_xticks(devices)
    ax.set(xlabel="devices", ylabel="speed-up over 1 device", title="Scaling across devices")
    ax.legend(fontsize="small")
    return fig


def latency_distributions(rows: pd.DataFrame, latencies: dict[str, np.ndarray]) -> Figure:
    """Every timed latency of each point: a box per point with the calls drawn over it."""
    ok = ok_rows(rows)
    ok = ok[[pid in latencies and len(latencies[pid]) > 0 for pid in ok.point_id]]
    if ok.empty:
        raise NotDrawable("no latencies recorded (images/<point-id>/latencies.npy)")
    data = [np.asarray(latencies[pid], np.float64) * 1e3 for pid in ok.point_id]
    labels = [point_label(row) for row in ok.itertuples()]
    fig, ax = _figure(height=max(HEIGHT, 0.9 + 0.32 * len(data)))
    positions = np.arange(len(data))
    ax.boxplot(data, positions=positions, orientation="horizontal", widths=0.6, showfliers=False)
    jitter = np.random.default_rng(0)  # fixed: the same run draws the same picture
    for y, values in zip(positions, data):
        ax.scatter(values, y + jitter.uniform(-0.15, 0.15, len(values)), s=10, alpha=0.6, color="C0", zorder=3)
    ax.set_yticks(positions, labels, fontsize="small")
    ax.invert_yaxis()
    ax.set(xlabel="latency per program call (ms)", title="Latency of every timed call")
    return fig


def quality_against(rows: pd.DataFrame, axis: str, axis_label: str) -> Figure:
    """CLIP score (and FID when evaluated) against one sampling axis: every point,
    and the mean per value of the axis."""
    ok = ok_rows(rows)
    column, clip_label = clip_column(rows)
    panels = [(column, clip_label)] + ([("fid", "FID (lower is better)")] if ok.fid.notna().any() else [])
    values = ok.loc[ok[column].notna(), axis].unique()
    if len(values) < 2:
        raise NotDrawable(f"no {axis_label} plot: the run has one {axis_label} only"
                          + (f" ({values[0]:g})" if len(values) else ""))
    fig = Figure(figsize=(WIDTH * (0.65 if len(panels) == 2 else 1) * len(panels), HEIGHT), layout="constrained")
    for ax, (metric, label) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        points = ok[ok[metric].notna()]
        mean = points.groupby(axis)[metric].mean()
        ax.plot(mean.index, mean.values, "o-", color="C1", label="mean")
        ax.scatter(points[axis], points[metric], alpha=0.6, s=14, color="C0", label="points", zorder=3)
        ax.set_xticks(sorted(values))
        ax.set(xlabel=axis_label, ylabel=label)
        ax.legend(fontsize="small")
    fig.suptitle(f"Quality against {axis_label}")
    return fig


def quality_throughput(rows: pd.DataFrame) -> Figure:
    """CLIP score against images/s; the Pareto front (no point both faster and better) marked,
    joined as the staircase that bounds what the sweep attained."""
    ok = ok_rows(rows)
    column, clip_label = clip_column(rows)
    ok = ok[ok[column].notna()]
    if ok.empty:
        raise NotDrawable("no trade-off plot: no point has a CLIP score")
    front = pareto_front(ok.images_per_s, ok[column])
    fig, ax = _figure()
    ax.scatter(ok.images_per_s[~front], ok[column][~front], color="C0", alpha=0.6, label="dominated")
    on_front = ok[front].sort_values("images_per_s")
    ax.plot(on_front.images_per_s, on_front[column], "o-", color="C3", drawstyle="steps-pre",
            label="Pareto front")
    for row in on_front.itertuples():
        ax.annotate(point_label(row), (row.images_per_s, getattr(row, column)), fontsize="x-small",
                    xytext=(4, 4), textcoords="offset points")
    ax.set(xlabel="images/s", ylabel=clip_label, title="Quality against throughput")
    ax.legend(fontsize="small")
    return fig


def rerank_curves(rows: pd.DataFrame) -> Figure:
    """Expected CLIP score of the best of k images per prompt against k, one line per point
    (`dalle-bench eval --metrics clip,rerank`): how many images per prompt are worth generating."""
    ok = ok_rows(rows)
    if "clip_score_best_of_k" not in ok or not ok.clip_score_best_of_k.notna().any():
        raise NotDrawable("no re-ranking plot: evaluate with `dalle-bench eval RUN --metrics clip,rerank`")
    fig, ax = _figure()
    for row, color in zip(ok[ok.clip_score_best_of_k.notna()].itertuples(), _colors()):
        curve = list(row.clip_score_best_of_k)
        ax.plot(range(1, len(curve) + 1), curve, "o-", color=color, label=point_label(row))
    ax.set(xlabel="k (images per prompt, best kept by CLIP)", ylabel=f"expected best CLIP score "
           f"({_short_model(str(ok.clip_model.dropna().iloc[0]))})", title="Best of k against k")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize="x-small")
    return fig


def _short_model(name: str) -> str:
    """A Hub id as is; a local folder by its last part (the tables give the full path)."""
    return f"{name.rstrip('/').rsplit('/', 1)[-1]} (local)" if looks_local(name) else name


def _figure(height: float = HEIGHT):
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    return fig, fig.subplots()


def _colors():
    return (f"C{i % 10}" for i in range(1_000))


def _log2_axis(ax, values) -> None:
    if len(values) > 1:
        ax.set_xscale("log", base=2)
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()
