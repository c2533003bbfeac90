"""Telling a checkpoint on disk from one named on a hub, and naming its
weights, in one place for every model option (`--model`, `--vqgan`,
`--clip`, the evaluation networks)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def looks_local(source: str) -> bool:
    """Whether `source` names a local path rather than a Hub id (`owner/name`)
    or a wandb artifact (`entity/project/name:version`): it is written as a
    path, exists on disk, or has more parts than a Hub id and no artifact
    version. Used to refuse a missing local checkpoint before any loading."""
    return (source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
            or (source.count("/") > 1 and ":" not in source))


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "flax_model.msgpack")


def weights_id(source: str) -> str:
    """What names a checkpoint's weights in records and cache keys: a Hub id
    stands for itself, a local folder for a hash of its weight files (so two
    copies of one checkpoint agree, and a retrained one does not)."""
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
