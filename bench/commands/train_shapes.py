"""`dalle-bench train-shapes`: the shapes preset's three models trained on the shapes world."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the trainer imports optax and JAX: only when the command runs
    from bench.jobs.train.command import TrainSettings


@dataclass(frozen=True)
class TrainShapesRequest:
    out: Path
    settings: TrainSettings
    stages: tuple[str, ...]
    """The stages to run, in the trainer's order of STAGES when all are asked for."""

    @classmethod
    def from_options(cls, out: Path, seed: int, stages: tuple[str, ...]) -> TrainShapesRequest:
        from bench.jobs.train.command import STAGES, TrainSettings

        return cls(Path(out), TrainSettings(seed=seed), tuple(stages) or STAGES)


def run(request: TrainShapesRequest) -> None:
    from bench.jobs.train.command import train_shapes

    train_shapes(request.out, request.settings, request.stages, echo=lambda line: click.echo(line, err=True))
