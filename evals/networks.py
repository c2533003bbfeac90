"""Naming the feature networks' weights in cache keys and outputs: a Hub id
stands for itself, a local folder for a hash of its weight files."""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

from bench.errors import BenchError
from bench.sources import looks_local

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "flax_model.msgpack")


def local_folder(source: str, option: str) -> Path | None:
    """The folder a source names, None for a Hub id; a path that is not a folder is an error."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if looks_local(source):
        raise BenchError(f"{option}: checkpoint folder not found: {source}")
    return None


def weights_id(source: str) -> str:
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return source
    files = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not files:
        return str(folder.resolve())
    stats = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest(stats)


@functools.lru_cache(maxsize=16)
def _digest(stats: tuple) -> str:
    digest = hashlib.sha1()
    for path, _, _ in stats:
        digest.update(Path(path).read_bytes())
    return "sha1-" + digest.hexdigest()[:16]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:80]
