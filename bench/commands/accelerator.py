"""`dalle-bench accelerator`: the fixed accelerator benchmark, its matrix
chosen and checked before anything runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.base.errors import BenchError

if TYPE_CHECKING:
    from bench.jobs.accelerator.plan import Matrix


@dataclass(frozen=True)
class AcceleratorRequest:
    plan: Matrix
    """The matrix file's blocks, only those --only names."""
    budget_s: float
    out: Path
    run_id: str | None
    smoke: bool

    @classmethod
    def from_options(cls, budget_s: float | None, smoke: bool, matrix: Path | None, out: Path, run_id: str | None,
                     only: str | None) -> AcceleratorRequest:
        from bench.jobs.accelerator.plan import MATRIX_FILE, load_matrix
        from bench.results.runlock import check_run_id

        if run_id is not None:
            check_run_id(run_id)
        if matrix is not None and not matrix.is_file():
            raise BenchError(f"--matrix: file not found: {matrix}")
        plan = load_matrix(matrix or MATRIX_FILE, smoke=smoke)
        if only:
            plan = plan.only([name.strip() for name in only.split(",") if name.strip()])
        return cls(plan, budget_s or plan.run.budget_s, Path(out), run_id, smoke)


def run(request: AcceleratorRequest) -> None:
    """Runs the plan, then prints its summary (the progress goes to stderr)."""
    from bench.jobs.accelerator.run import run_accelerator

    folder = run_accelerator(request.plan, request.budget_s, request.out, request.run_id, request.smoke,
                             echo=lambda line: click.echo(line, err=True))
    click.echo((folder / "summary.md").read_text(), nl=False)
