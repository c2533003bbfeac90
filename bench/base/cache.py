"""Where dalle-bench keeps what it builds or computes once (the tiny preset,
reference features, the shapes reference images, compiled programs): below
every sub-package that uses it, so none of them imports another for it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$DALLE_BENCH_CACHE, else dalle-bench/ in the user's cache folder ($XDG_CACHE_HOME or ~/.cache)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dalle-bench"
    return Path(os.environ.get("DALLE_BENCH_CACHE", default))
