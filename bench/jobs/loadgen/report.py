"""The scenarios table of a loadgen run (pure: rows in, table out), shared by
`loadgen`'s closing print and `dalle-bench report`. A tail percentile that
the test's latencies cannot support (p90 below 10, p99 below 100: it is then
only the largest) shows as undecided, 'n/a (4 queries < 10)', as in every
table of the project (bench/measure/stats.py); scenarios.csv keeps the value, with a
p90_supported (...) column beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.base.atomic import write_text_atomic
from bench.measure.stats import UNSUPPORTED_NOTE, min_samples_for, percentile_cell
from bench.results.columns import percentile_column
from bench.results.scenarios_schema import PERCENTILES

COLUMNS = {"scenario_id": "test", "status": "status", "validity": "validity", "result_metric": "metric",
           "result_value": "value", "peak_qps": "peak samples/s", "target_qps": "target samples/s",
           "achieved_qps": "achieved samples/s", "target_latency_s": "latency bound s",
           "latency_p50_s": "p50 s", "latency_p90_s": "p90 s", "latency_p99_s": "p99 s",
           "query_count": "queries", "mean_batch_fill": "batch fill", "clip_score": "CLIP score", "fid": "FID",
           "accuracy_verdict": "accuracy", "invalid_reason": "why invalid"}


# The tail percentiles a test's latency count must support (the median needs no check).
TAILS = {percentile_column(p): float(p) for p in PERCENTILES if float(p) > 50}


def latency_count(row: dict) -> tuple[int | None, str]:
    """How many latencies LoadGen's percentiles of a test are over, and of what: MultiStream's are
    per query; the others' per sample (Server and SingleStream: a sample a query; Offline: its one
    query holds every sample). (None, ...) when the row does not say."""
    queries, per_query = row.get("query_count"), row.get("samples_per_query")
    if queries is None or pd.isna(queries):
        return None, "queries"
    if row.get("scenario") == "MultiStream" or per_query is None or pd.isna(per_query) or per_query == 1:
        return int(queries), "queries"
    return int(queries) * int(per_query), "samples"


def with_support(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with a pNN_supported column beside each tail percentile (null when the count is unknown)."""
    counts = [latency_count(r)[0] for r in rows.to_dict("records")]
    out = rows.copy()
    for column, percentile in TAILS.items():
        if column in out:
            supported = pd.array([None if n is None else n >= min_samples_for(percentile) for n in counts],
                                 dtype="boolean")
            name = f"p{column[len('latency_p'):-len('_s')]}_supported"
            out.insert(out.columns.get_loc(column) + 1, name, supported)
    return out


def scenario_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per LoadGen test; columns that are empty for every test are left out. The tail
    percentiles are text: the value (4 significant digits), or 'n/a (...)' when unsupported."""
    table = rows[[c for c in COLUMNS if c in rows]].copy()
    counts = [latency_count(r) for r in rows.to_dict("records")]
    for column in table.columns.intersection(list(TAILS)):
        table[column] = [percentile_cell(v, TAILS[column], n, unit) for v, (n, unit) in zip(table[column], counts)]
    table = table.rename(columns=COLUMNS)
    keep = [c for c in table.columns if table[c].notna().any() or c in ("test", "validity", "value")]
    return table[keep]


def benchmark_line(run: dict) -> str:
    """Whether the run is a run of a benchmark definition (`loadgen --benchmark`), and if not why."""
    record = run.get("benchmark")
    if not record:
        return "Not a benchmark run: no --benchmark definition (every setting given as options)."
    if record.get("overrides"):
        return (f"Not a benchmark run of `{record['name']}`: options changed fixed fields: "
                f"{'; '.join(record['overrides'])}.")
    return f"Benchmark `{record['name']}` ({record.get('file')}): every fixed field as defined."


def accuracy_lines(rows: pd.DataFrame) -> list[str]:
    """Each checked accuracy test's verdict with its figures (measured, band, reference and its source);
    a damaged accuracy_detail is said to be, with the row's verdict."""
    from .band import stored_verdict

    lines = []
    for row in rows.to_dict("records"):
        if isinstance(row.get("accuracy_detail"), str):
            verdict = stored_verdict(row["accuracy_detail"])
            if verdict is None:
                lines.append(f"- {row['scenario_id']}: accuracy {row.get('accuracy_verdict')}: its accuracy_detail "
                             f"is damaged (not the JSON the accuracy check writes)")
                continue
            sources = "; ".join(f"{c.metric}: {c.source}" for c in verdict.checks)
            lines.append(f"- {row['scenario_id']}: {verdict.line()} (references: {sources})")
    return lines


def _undecided(table: pd.DataFrame) -> bool:
    return bool(table.map(lambda v: isinstance(v, str) and v.startswith("n/a (")).any().any())


def write_scenario_report(run_dir: Path) -> tuple[str, Path]:
    """report.md and scenarios.csv of a loadgen run; returns (markdown, report folder)."""
    from bench.results.scenario_store import ScenarioStore

    store = ScenarioStore.open(run_dir)
    rows = store.rows()
    out = run_dir / "report"
    out.mkdir(exist_ok=True)
    settings = store.run.get("model", {})
    header = (f"Run {run_dir.name}: {len(rows)} LoadGen test(s); preset {settings.get('preset')}, "
              f"{settings.get('devices')} device(s) {settings.get('parallel')}, global batch "
              f"{settings.get('global_batch')}, batching window {settings.get('max_batch_wait_ms')} ms.")
    table = scenario_table(rows)
    accuracy = accuracy_lines(rows)
    markdown = "\n".join([f"# dalle-bench report: {run_dir.name}", "", header, "", benchmark_line(store.run), "",
                          "## Scenarios", "",
                          table.to_markdown(index=False, floatfmt=".4g") if len(table) else "(no test finished)",
                          "", *([UNSUPPORTED_NOTE, ""] if _undecided(table) else []),
                          *(["## Accuracy against the benchmark's band", "", *accuracy, ""] if accuracy else [])])
    (out / "report.md").write_text(markdown)
    with_support(rows).to_csv(out / "scenarios.csv", index=False)
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


def _traced(rows: pd.DataFrame, run_dir: Path) -> bool:
    from .logs import TRACE

    return any((run_dir / str(row.log_dir) / TRACE).is_file() and (run_dir / str(row.log_dir) / TRACE).stat().st_size
               for row in rows.itertuples())


def write_scenario_html(run_dir: Path) -> Path:
    """report/report.html: the scenarios table and the latency-over-time plot, self-contained."""
    import html

    from ..report.html.embed import figure_uri

    markdown, out = write_scenario_report(run_dir)
    from bench.results.scenario_store import ScenarioStore

    store = ScenarioStore.open(run_dir)
    rows = store.rows()
    scenarios = scenario_table(rows)
    table = scenarios.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
    note = f"<p>{html.escape(UNSUPPORTED_NOTE)}</p>" if _undecided(scenarios) else ""
    if _traced(rows, run_dir):
        plot = (f"<img alt='latency over time' src='{figure_uri(latency_over_time(rows, run_dir))}'>"
                f"<p>From LoadGen's trace (mlperf_log_trace.json): every sample's issue-to-complete latency.</p>")
    else:
        plot = ("<p>No trace: LoadGen's trace (mlperf_log_trace.json) is off by default, as in MLPerf's "
                "references; <code>dalle-bench loadgen --trace</code> records it.</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run_dir.name)}</title></head>"
            f"<body><h1>dalle-bench loadgen: {html.escape(run_dir.name)}</h1>"
            f"<p>{html.escape(benchmark_line(store.run))}</p><h2>Scenarios</h2>{table}{note}"
            f"{''.join(f'<p>{html.escape(line[2:])}</p>' for line in accuracy_lines(rows))}"
            f"<h2>Latency over time</h2>{plot}"
            f"</body></html>")
    path = out / "report.html"
    write_text_atomic(path, page)
    return path
