"""The files dalle-bench ships inside the package, so that an installed copy
(a wheel, `pip install git+...`) finds them from any folder: the prompt sets
(prompts/), the shapes preset's trained checkpoints (checkpoints/shapes/) and
the stored shapes baseline run (baselines/shapes/). This package holds data
only; a checkout keeps links at the old top-level paths for its users.

Every run-time reader asks `path(...)` rather than a path relative to its own
module, which breaks as soon as the modules move or are installed."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from bench.base.errors import BenchError


def root() -> Path:
    """This package's folder on disk. A zip install is refused: tokenizers and
    from_pretrained read real folders, which a zip cannot give."""
    folder = files(__name__)
    if not isinstance(folder, Path):
        raise BenchError(f"dalle-bench's data is inside an archive ({folder}), not a folder: install dalle-bench "
                         "unzipped (pip install), as its checkpoints and tokenizers load from folders")
    return folder


def path(*parts: str) -> Path:
    """A file or folder of the shipped data, e.g. path("prompts", "demo.txt")."""
    return root().joinpath(*parts)
