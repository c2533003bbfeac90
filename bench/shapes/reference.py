"""`--fid-ref shapes`: a folder of real images of the world, rendered once
into the cache: REFERENCE_IMAGES scenes of the held-out evaluation
prompts (cycled), from a fixed seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .captions import caption
from .scenes import evaluation_descriptions, sample_scene
from .world import render

REFERENCE_NAME = "shapes"
REFERENCE_IMAGES = 256
REFERENCE_SEED = 0
REFERENCE_VERSION = 1


def reference_folder(cache_root: Path, count: int = REFERENCE_IMAGES) -> Path:
    """The folder of PNGs (and captions.txt), written if missing."""
    from PIL import Image

    folder = cache_root / f"shapes-reference-v{REFERENCE_VERSION}-{count}"
    if (folder / "complete").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(REFERENCE_SEED)
    descriptions = evaluation_descriptions()
    captions = []
    for i in range(count):
        description = descriptions[i % len(descriptions)]
        Image.fromarray(render(sample_scene(description, rng))).save(folder / f"shapes_{i:05d}.png")
        captions.append(caption(description))
    (folder / "captions.txt").write_text("\n".join(captions) + "\n")
    (folder / "complete").write_text("")
    return folder
