"""Telling a checkpoint on disk from one named on a hub, in one place for
every model option (`--model`, `--vqgan`, `--clip`, the evaluation networks)."""

from __future__ import annotations

from pathlib import Path


def looks_local(source: str) -> bool:
    """Whether `source` names a local path rather than a Hub id (`owner/name`)
    or a wandb artifact (`entity/project/name:version`): it is written as a
    path, exists on disk, or has more parts than a Hub id and no artifact
    version. Used to refuse a missing local checkpoint before any loading."""
    return (source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
            or (source.count("/") > 1 and ":" not in source))
