"""The close of a sweep, one process or --repeat's: the closing table, the report, and the exit
status that says whether a point failed (after everything is written)."""

from __future__ import annotations

import click

from bench.base.errors import BenchError

from .sweep_request import Closing

# Statuses that make a sweep exit 1; `invalid` (a combination that cannot run) is reported only.
FAILED_STATUSES = ("failed", "oom", "lost")


class PointsFailed(BenchError):
    exit_code = 1


def check_failed_points(rows, total: int) -> None:
    """PointsFailed when a row failed: after everything is written, the exit status tells CI and the files
    keep the results."""
    failed = rows[rows.status.isin(FAILED_STATUSES)]
    if len(failed):
        counts = ", ".join(f"{n} {status}" for status, n in failed.status.value_counts().sort_index().items())
        raise PointsFailed(f"{len(failed)} of {total} points failed ({counts}): {', '.join(failed.point_id)}")


def finish(store, rows, closing: Closing, clock) -> None:
    """The closing table and, unless --no-report, the report (and HTML page)."""
    from bench.jobs.report.tables import key_table, padded_points, write_report
    from bench.results.points_schema import THROUGHPUT_DEFINITION

    click.echo(key_table(rows).to_string(index=False))
    click.echo(f"Throughput: {THROUGHPUT_DEFINITION}.", err=True)
    padded = padded_points(rows)
    if padded:
        click.echo(f"Warning: {', '.join(padded)} do not fill their batches (see padded_rows): their images/s "
                   "counts full batches.", err=True)
    if not closing.report:
        click.echo(f"Results in {store.run_dir}; report with: dalle-bench report {store.run_dir}", err=True)
        return
    with clock.timing("report"):
        _, report_dir = write_report(store.run_dir)
        if closing.html:
            from bench.jobs.report.html import write_html_report

            page = write_html_report(store.run_dir, echo=lambda line: click.echo(line, err=True))
    if closing.html:
        click.echo(f"Results in {store.run_dir}; report: {page} (and report.md, CSVs)", err=True)
    else:
        click.echo(f"Results in {store.run_dir}; report: {report_dir / 'report.md'} (and CSVs; "
                   f"a page with plots: dalle-bench report {store.run_dir} --html)", err=True)
