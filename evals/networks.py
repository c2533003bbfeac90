"""Naming the feature networks' weights in cache keys and outputs: a Hub id
stands for itself, a local folder for a hash of its weight files."""

from __future__ import annotations

import re
from pathlib import Path

from bench.errors import BenchError
from bench.sources import looks_local, weights_id  # noqa: F401 (the metrics name networks through this module)


def local_folder(source: str, option: str) -> Path | None:
    """The folder a source names, None for a Hub id; a path that is not a folder is an error."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if looks_local(source):
        raise BenchError(f"{option}: checkpoint folder not found: {source}")
    return None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:80]
