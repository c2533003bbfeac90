"""python -m bench.jobs.train OUT [--stage S ...]: see command.py."""

import argparse
import dataclasses
from pathlib import Path

from .command import STAGES, TrainSettings, train_shapes

parser = argparse.ArgumentParser(prog="python -m bench.jobs.train")
parser.add_argument("out", type=Path)
parser.add_argument("--stage", action="append", choices=STAGES)
for field in dataclasses.fields(TrainSettings):
    parser.add_argument("--" + field.name.replace("_", "-"), type=type(field.default), default=field.default)
args = parser.parse_args()
settings = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
train_shapes(args.out, settings, tuple(args.stage or STAGES), echo=lambda line: print(line, flush=True))
