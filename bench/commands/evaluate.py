"""`dalle-bench eval`: quality columns added to a run's points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # evals imports pandas and the sweep store: only when the command runs
    from bench.jobs.evaluate import EvalSettings


def metrics_list(text: str) -> tuple[str, ...]:
    """'clip, fid,' -> ('clip', 'fid'): a comma list as --metrics takes it."""
    return tuple(m.strip() for m in text.split(",") if m.strip())


@dataclass(frozen=True)
class EvalRequest:
    run_dir: Path
    settings: EvalSettings

    @classmethod
    def from_options(cls, run_dir: Path, metrics: str, clip_source: str, fid_ref: str | None,
                     inception_weights: Path | None, cmmd_clip: str, dinov2: str) -> EvalRequest:
        from bench.jobs.evaluate import EvalSettings

        settings = EvalSettings(metrics=metrics_list(metrics), clip=clip_source, fid_ref=fid_ref,
                                inception_weights=inception_weights, cmmd_clip=cmmd_clip, dinov2=dinov2)
        return cls(Path(run_dir), settings)


def run(request: EvalRequest) -> None:
    from bench.jobs.evaluate import evaluate_run

    evaluate_run(request.run_dir, request.settings, echo=lambda line: click.echo(line, err=True))
    click.echo(f"Quality columns written to {request.run_dir / 'points.parquet'}", err=True)
