"""The world's vocabulary and its renderer: named colours, shapes drawn on
the 16x16 cell grid, scenes, and scene -> 256x256 RGB image.

Every object is cell-aligned and every cell one flat colour, so an image is
exactly a 16x16 grid of colour indices scaled up 16 times."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = 16
CELL = 16
IMAGE_SIZE = GRID * CELL

# Object colours and background colours are disjoint, so an object never hides in its background.
OBJECT_COLOURS = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 230), "yellow": (240, 220, 40),
    "orange": (245, 140, 20), "purple": (140, 50, 190), "pink": (250, 130, 200), "cyan": (40, 210, 220),
}
BACKGROUND_COLOURS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128)}
COLOURS = {**OBJECT_COLOURS, **BACKGROUND_COLOURS}
COLOUR_NAMES = tuple(COLOURS)
PALETTE = np.array([COLOURS[name] for name in COLOUR_NAMES], np.uint8)

SHAPES = ("square", "circle", "triangle", "bar")
SIZES = {"small": 4, "large": 6}
"""Size name -> width in cells (a shape's bounding box is that wide)."""


def shape_mask(shape: str, width: int) -> np.ndarray:
    """The cells a shape covers in its bounding box (bool, rows x columns)."""
    rows = np.arange(width)[:, None]
    cols = np.arange(width)[None, :]
    if shape == "square":
        return np.ones((width, width), bool)
    if shape == "circle":  # rows 2, 4, ..., width, width, ..., 4, 2 cells wide, centred
        row_width = np.minimum(width, 2 + 2 * np.minimum(rows, width - 1 - rows))
        margin = (width - row_width) // 2
        return (cols >= margin) & (cols < width - margin)
    if shape == "triangle":  # right angle at the bottom left
        return cols <= rows
    if shape == "bar":  # horizontal, half as tall as wide
        return np.ones((width // 2, width), bool)
    raise ValueError(f"unknown shape '{shape}'")


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: str
    size: str
    row: int
    """Top row of the bounding box, in cells."""
    col: int

    @property
    def mask(self) -> np.ndarray:
        return shape_mask(self.shape, SIZES[self.size])

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right exclusive."""
        height, width = self.mask.shape
        return self.row, self.col, self.row + height, self.col + width

    @property
    def centre(self) -> tuple[float, float]:
        rows, cols = np.nonzero(self.mask)
        return self.row + rows.mean(), self.col + cols.mean()


@dataclass(frozen=True)
class Scene:
    background: str
    objects: tuple[SceneObject, ...]


def cell_grid(scene: Scene) -> np.ndarray:
    """(16, 16) colour indices into COLOUR_NAMES."""
    grid = np.full((GRID, GRID), COLOUR_NAMES.index(scene.background), np.int64)
    for obj in scene.objects:
        top, left, bottom, right = obj.bounds
        if top < 0 or left < 0 or bottom > GRID or right > GRID:
            raise ValueError(f"{obj} lies outside the {GRID}x{GRID} grid")
        grid[top:bottom, left:right][obj.mask] = COLOUR_NAMES.index(obj.colour)
    return grid


def grid_image(grid: np.ndarray) -> np.ndarray:
    """(16, 16) colour indices -> (256, 256, 3) uint8."""
    return np.repeat(np.repeat(PALETTE[grid], CELL, axis=0), CELL, axis=1)


def render(scene: Scene) -> np.ndarray:
    return grid_image(cell_grid(scene))
