"""Naming the feature networks in cache keys and outputs, and finding a
local network folder (their weights are named by bench.base.sources.weights_id)."""

from __future__ import annotations

import re
from pathlib import Path

from bench.base.errors import BenchError
from bench.base.sources import check_hub_source, looks_local


def local_folder(source: str, option: str) -> Path | None:
    """The folder a source names, None for a Hub id; a path that is not a folder is an error, and so is
    a Hub id neither in the local cache nor reachable (bench.base.sources.hub_options)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if looks_local(source):
        raise BenchError(f"{option}: checkpoint folder not found: {source}")
    check_hub_source(source, option)
    return None


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:80]
