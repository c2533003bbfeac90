"""`dalle-bench report`: a sweep run's tables (Markdown, CSVs, with --html a
page with plots), or a loadgen run's scenarios table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass(frozen=True)
class ReportRequest:
    run_dir: Path
    html: bool = False

    @classmethod
    def from_options(cls, run_dir: Path, html: bool) -> ReportRequest:
        return cls(Path(run_dir), html)


def run(request: ReportRequest) -> None:
    from bench.results.scenario_store import is_loadgen_run

    if is_loadgen_run(request.run_dir):  # a `loadgen` run: its scenarios table (and latency-over-time plot)
        _loadgen_report(request)
    else:
        _sweep_report(request)


def _loadgen_report(request: ReportRequest) -> None:
    from bench.jobs.loadgen.report import write_scenario_html, write_scenario_report

    markdown, _ = write_scenario_report(request.run_dir)
    click.echo(write_scenario_html(request.run_dir) if request.html else markdown)


def _sweep_report(request: ReportRequest) -> None:
    from bench.jobs.report.tables import write_report
    from bench.results.runlock import run_lock
    from bench.results.store import RunStore

    run_dir = request.run_dir
    RunStore.open(run_dir)  # a one-line error for a folder that is not a run or is damaged, before any lock file
    with run_lock(run_dir):
        markdown, out = write_report(run_dir)
        if request.html:
            from bench.jobs.report.html import write_html_report

            html_path = write_html_report(run_dir, echo=lambda line: click.echo(line, err=True))
    if request.html:
        click.echo(html_path)
    else:
        click.echo(markdown)
        click.echo(f"Report written to {out / 'report.md'} (and CSVs; a page with plots: --html)", err=True)
