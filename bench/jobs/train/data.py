"""Training data drawn from the world: scenes of the training distribution,
their captions and cell grids; image crops for the VQGAN."""

from __future__ import annotations

import numpy as np

from bench.shapes.captions import caption
from bench.shapes.scenes import sample_scene, sample_training_description
from bench.shapes.world import CELL, COLOUR_NAMES, GRID, cell_grid, grid_image


def training_scenes(rng: np.random.Generator, count: int) -> tuple[list[str], np.ndarray]:
    """(captions, (count, 16, 16) colour-index grids) of the training distribution."""
    captions, grids = [], []
    for _ in range(count):
        description = sample_training_description(rng)
        captions.append(caption(description))
        grids.append(cell_grid(sample_scene(description, rng)))
    return captions, np.stack(grids)


def vqgan_crops(rng: np.random.Generator, count: int, cells: int) -> np.ndarray:
    """(count, cells*16, cells*16, 3) float32 crops in [0, 1], cell-aligned:
    half from the world's scenes, half grids of cells of random colours (so
    every colour meets every neighbour)."""
    crops = []
    _, grids = training_scenes(rng, count // 2)
    for grid in grids:
        top, left = rng.integers(GRID - cells + 1, size=2)
        crops.append(grid[top:top + cells, left:left + cells])
    crops += list(rng.integers(len(COLOUR_NAMES), size=(count - len(crops), cells, cells)))
    return np.stack([grid_image(g) for g in crops]).astype(np.float32) / 255.0


def images_of(grids: np.ndarray) -> np.ndarray:
    return np.stack([grid_image(g) for g in grids]).astype(np.float32) / 255.0


assert CELL * GRID == 256
