"""The scenarios table of a loadgen run (pure: rows in, table out), shared by
`loadgen`'s closing print and `dalle-bench report`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import write_text_atomic

COLUMNS = {"scenario_id": "test", "status": "status", "validity": "validity", "result_metric": "metric",
           "result_value": "value", "peak_qps": "peak samples/s", "target_qps": "target samples/s",
           "achieved_qps": "achieved samples/s", "target_latency_s": "latency bound s",
           "latency_p50_s": "p50 s", "latency_p90_s": "p90 s", "latency_p99_s": "p99 s",
           "query_count": "queries", "mean_batch_fill": "batch fill", "clip_score": "CLIP score", "fid": "FID",
           "invalid_reason": "why invalid"}


def scenario_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per LoadGen test; columns that are empty for every test are left out."""
    table = rows[[c for c in COLUMNS if c in rows]].rename(columns=COLUMNS)
    keep = [c for c in table.columns if table[c].notna().any() or c in ("test", "validity", "value")]
    return table[keep]


def write_scenario_report(run_dir: Path) -> tuple[str, Path]:
    """report.md and scenarios.csv of a loadgen run; returns (markdown, report folder)."""
    from .store import ScenarioStore

    store = ScenarioStore.open(run_dir)
    rows = store.rows()
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    settings = store.run.get("model", {})
    header = (f"Run {run_dir.name}: {len(rows)} LoadGen test(s); preset {settings.get('preset')}, "
              f"{settings.get('devices')} device(s) {settings.get('parallel')}, global batch "
              f"{settings.get('global_batch')}, batching window {settings.get('max_batch_wait_ms')} ms.")
    table = scenario_table(rows)
    markdown = "\n".join([f"# dalle-bench report: {run_dir.name}", "", header, "", "## Scenarios", "",
                          table.to_markdown(index=False, floatfmt=".4g") if len(table) else "(no test finished)",
                          ""])
    (out / "report.md").write_text(markdown)
    rows.to_csv(out / "scenarios.csv", index=False)
    return markdown, out


def latency_over_time(rows: pd.DataFrame, run_dir: Path):
    """Each sample's latency against its issue time, one series per test, from LoadGen's trace."""
    from matplotlib.figure import Figure

    from .logs import TRACE, read_trace_latencies

    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    for row in rows.itertuples():
        samples = read_trace_latencies(run_dir / str(row.log_dir) / TRACE)
        if len(samples):
            ax.plot(samples[:, 0], samples[:, 1], ".", markersize=3, label=row.scenario_id)
        if row.target_latency_s and row.scenario == "Server":
            ax.axhline(row.target_latency_s, linestyle="--", linewidth=1, color="gray")
    ax.set_xlabel("issue time since the test started, s")
    ax.set_ylabel("latency (issue to complete), s")
    ax.set_title("Sample latency over time (dashed: Server latency bound)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


def write_scenario_html(run_dir: Path) -> Path:
    """report/report.html: the scenarios table and the latency-over-time plot, self-contained."""
    import html

    from ..report_html.embed import figure_uri

    markdown, out = write_scenario_report(run_dir)
    from .store import ScenarioStore

    rows = ScenarioStore.open(run_dir).rows()
    table = scenario_table(rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run_dir.name)}</title></head>"
            f"<body><h1>dalle-bench loadgen: {html.escape(run_dir.name)}</h1><h2>Scenarios</h2>{table}"
            f"<h2>Latency over time</h2><img alt='latency over time' "
            f"src='{figure_uri(latency_over_time(rows, run_dir))}'>"
            f"<p>From LoadGen's trace (mlperf_log_trace.json): every sample's issue-to-complete latency.</p>"
            f"</body></html>")
    path = out / "report.html"
    write_text_atomic(path, page)
    return path
