"""The checker: an image read back into cells, cells into objects, objects
scored against a caption. GenEval's idea with exact ground truth.

- Cells: the mean colour of each cell's central 8x8 pixels, named by the
  nearest named colour (RGB distance).
- Background: the most common colour. Objects: 4-connected components of
  one non-background colour; components of a single cell are specks, not
  objects (a sampled token gone astray), and are ignored.
- Shape and size: the component's bounding box and cells against every
  shape template with that box; the best intersection-over-union, if at
  least MIN_IOU, names the shape.
- Score: the caption's objects are matched to the found objects (the
  matching that satisfies the most checks). Checks: for every named object,
  its shape, and its colour and size where the caption names them; the
  relation where there is one; the number of objects (no extra, none
  missing); the background where named. Pass = every check; partial = the
  fraction passed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .captions import Description, parse
from .world import CELL, COLOUR_NAMES, GRID, IMAGE_SIZE, PALETTE, SHAPES, SIZES, shape_mask

MIN_IOU = 0.75
MAX_CANDIDATES = 8
"""Found objects considered in matching (the largest), to bound its cost on noisy images."""


@dataclass(frozen=True)
class FoundObject:
    colour: str
    shape: str | None
    """None when no template fits."""
    size: str | None
    cells: int
    centre: tuple[float, float]
    """(row, column) in cells."""


@dataclass(frozen=True)
class CaptionScore:
    passed: bool
    partial: float
    checks: tuple[tuple[str, bool], ...]


def read_cells(image: np.ndarray) -> np.ndarray:
    """(256, 256, 3) image, uint8 or floats in [0, 1] -> (16, 16) colour indices."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"expected a {IMAGE_SIZE}x{IMAGE_SIZE} RGB image, got shape {image.shape}")
    pixels = image.astype(np.float64) * (255.0 if image.dtype.kind == "f" else 1.0)
    quarter = CELL // 4
    cells = pixels.reshape(GRID, CELL, GRID, CELL, 3)[:, quarter:-quarter, :, quarter:-quarter].mean(axis=(1, 3))
    distance = ((cells[:, :, None, :] - PALETTE[None, None].astype(np.float64)) ** 2).sum(-1)
    return distance.argmin(-1)


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a boolean grid, as (N, 2) cell coordinates."""
    seen = np.zeros_like(mask)
    out = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        stack, cells = [start], []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < GRID and 0 <= nc < GRID and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        out.append(np.array(cells))
    return out


def _classify(cells: np.ndarray) -> tuple[str | None, str | None]:
    top, left = cells.min(0)
    height, width = cells.max(0) - (top, left) + 1
    found = np.zeros((height, width), bool)
    found[cells[:, 0] - top, cells[:, 1] - left] = True
    best, best_iou = (None, None), 0.0
    for size, cell_width in SIZES.items():
        for shape in SHAPES:
            template = shape_mask(shape, cell_width)
            if template.shape != found.shape:
                continue
            iou = (template & found).sum() / (template | found).sum()
            if iou > best_iou:
                best, best_iou = (shape, size), iou
    return best if best_iou >= MIN_IOU else (None, None)


def find_objects(grid: np.ndarray) -> tuple[str, list[FoundObject]]:
    """(background colour, objects) of a (16, 16) grid of colour indices."""
    background = int(np.bincount(grid.ravel(), minlength=len(COLOUR_NAMES)).argmax())
    objects = []
    for colour in np.unique(grid):
        if colour == background:
            continue
        for cells in _components(grid == colour):
            if len(cells) < 2:
                continue
            shape, size = _classify(cells)
            centre = tuple(float(x) for x in cells.mean(0))
            objects.append(FoundObject(COLOUR_NAMES[colour], shape, size, len(cells), centre))
    objects.sort(key=lambda o: (-o.cells, o.centre))
    return COLOUR_NAMES[background], objects


def _relation_holds(a: FoundObject, b: FoundObject, relation: str) -> bool:
    (ar, ac), (br, bc) = a.centre, b.centre
    return {"to the left of": ac < bc, "to the right of": ac > bc, "above": ar < br, "below": ar > br}[relation]


def _checks(description: Description, background: str, objects: list[FoundObject],
            assignment: tuple[int | None, ...]) -> list[tuple[str, bool]]:
    checks = []
    for n, (spec, index) in enumerate(zip(description.objects, assignment)):
        found = objects[index] if index is not None else None
        checks.append((f"object {n + 1} shape {spec.shape}", found is not None and found.shape == spec.shape))
        for attribute in ("colour", "size"):
            wanted = getattr(spec, attribute)
            if wanted:
                checks.append((f"object {n + 1} {attribute} {wanted}",
                               found is not None and getattr(found, attribute) == wanted))
    if description.relation:
        a, b = assignment[:2]
        holds = a is not None and b is not None and _relation_holds(objects[a], objects[b], description.relation)
        checks.append((f"relation {description.relation}", holds))
    checks.append((f"{len(description.objects)} object(s), found {len(objects)}",
                   len(objects) == len(description.objects)))
    if description.background:
        checks.append((f"background {description.background}", background == description.background))
    return checks


def score_grid(grid: np.ndarray, description: Description) -> CaptionScore:
    background, objects = find_objects(grid)
    candidates = list(range(min(len(objects), MAX_CANDIDATES)))
    wanted = len(description.objects)
    # Unmatched objects (None) when fewer were found than asked for.
    pool = candidates + [None] * max(0, wanted - len(candidates))
    best = None
    for assignment in dict.fromkeys(itertools.permutations(pool, wanted)):
        checks = _checks(description, background, objects, assignment)
        passed = sum(ok for _, ok in checks)
        if best is None or passed > best[0]:
            best = (passed, checks)
    passed, checks = best
    return CaptionScore(passed == len(checks), passed / len(checks), tuple(checks))


CHECKER_VERSION = 1  # raise when a change can alter a score: recorded beside every adherence figure


def score_image(image: np.ndarray, prompt: str | Description) -> CaptionScore:
    description = parse(prompt) if isinstance(prompt, str) else prompt
    return score_grid(read_cells(image), description)
