"""Scenes drawn at random for a description, the training distribution of
descriptions, and the held-out compositions it never shows.

Held out: for each challenge a fixed share of its captions (background
left aside), chosen by a seeded shuffle. Every atom (colour, shape, size,
count, relation) still occurs in training; only these compositions do not."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from .captions import CHALLENGES, COUNT_WORDS, RELATIONS, Description, ObjectSpec, caption
from .world import BACKGROUND_COLOURS, GRID, OBJECT_COLOURS, SHAPES, SIZES, Scene, SceneObject

HOLDOUT_SEED = 16
HELD_OUT_SHARE = {"shape": 2, "colour": 4, "simple detail": 8, "counting": 8, "spatial relations": 400}
"""Captions held out per challenge (of 8, 32, 64, 64 and 3968)."""


def all_descriptions(challenge: str) -> list[Description]:
    """Every caption of a challenge, without background."""
    colours, shapes, sizes = list(OBJECT_COLOURS), SHAPES, list(SIZES)
    if challenge == "shape":
        return [Description((ObjectSpec(s, None, z),)) for z in sizes for s in shapes]
    if challenge == "colour":
        return [Description((ObjectSpec(s, c),)) for c in colours for s in shapes]
    if challenge == "simple detail":
        return [Description((ObjectSpec(s, c, z),)) for z in sizes for c in colours for s in shapes]
    if challenge == "counting":
        return [Description((ObjectSpec(s, c),) * n) for n in COUNT_WORDS for c in colours for s in shapes]
    if challenge == "spatial relations":
        objects = [ObjectSpec(s, c) for c in colours for s in shapes]
        return [Description((a, b), r) for r in RELATIONS for a, b in itertools.permutations(objects, 2)]
    raise ValueError(f"unknown challenge '{challenge}'")


@functools.cache
def held_out() -> dict[str, tuple[Description, ...]]:
    rng = np.random.default_rng(HOLDOUT_SEED)
    out = {}
    for challenge in CHALLENGES:
        every = all_descriptions(challenge)
        order = rng.permutation(len(every))
        out[challenge] = tuple(every[i] for i in sorted(order[:HELD_OUT_SHARE[challenge]]))
    return out


@functools.cache
def _held_out_set() -> frozenset[Description]:
    return frozenset(d for ds in held_out().values() for d in ds)


def is_held_out(description: Description) -> bool:
    return description.without_background() in _held_out_set()


@functools.cache
def _training(challenge: str) -> tuple[Description, ...]:
    return tuple(d for d in all_descriptions(challenge) if d not in _held_out_set())


def sample_training_description(rng: np.random.Generator, background_rate: float = 0.5) -> Description:
    """A caption of the training distribution: challenges equally likely."""
    options = _training(CHALLENGES[rng.integers(len(CHALLENGES))])
    description = options[rng.integers(len(options))]
    if rng.random() < background_rate:
        backgrounds = list(BACKGROUND_COLOURS)
        description = Description(description.objects, description.relation,
                                  backgrounds[rng.integers(len(backgrounds))])
    return description


def _separated(a: SceneObject, b: SceneObject) -> bool:
    """At least one empty cell between the boxes, so objects never touch."""
    at, al, ab, ar = a.bounds
    bt, bl, bb, br = b.bounds
    return ab < bt or bb < at or ar < bl or br < al


def _relation_holds(a: SceneObject, b: SceneObject, relation: str) -> bool:
    """Drawn with a clear margin: the boxes do not overlap along the relation's axis."""
    at, al, ab, ar = a.bounds
    bt, bl, bb, br = b.bounds
    return {"to the left of": ar < bl, "to the right of": br < al, "above": ab < bt, "below": bb < at}[relation]


def sample_scene(description: Description, rng: np.random.Generator, max_tries: int = 1000) -> Scene:
    """A scene the description is true of; what it leaves open (background,
    colour, size, position) is drawn at random."""
    background = description.background or list(BACKGROUND_COLOURS)[rng.integers(len(BACKGROUND_COLOURS))]
    colours, sizes = list(OBJECT_COLOURS), list(SIZES)
    for _ in range(max_tries):
        objects = []
        for spec in description.objects:
            size = spec.size or sizes[rng.integers(len(sizes))]
            colour = spec.colour or colours[rng.integers(len(colours))]
            probe = SceneObject(spec.shape, colour, size, 0, 0)
            _, _, height, width = probe.bounds
            objects.append(SceneObject(spec.shape, colour, size, int(rng.integers(GRID - height + 1)),
                                       int(rng.integers(GRID - width + 1))))
        if not all(_separated(a, b) for a, b in itertools.combinations(objects, 2)):
            continue
        if description.relation and not _relation_holds(objects[0], objects[1], description.relation):
            continue
        return Scene(background, tuple(objects))
    raise RuntimeError(f"no scene found for '{caption(description)}'")


def evaluation_descriptions() -> list[Description]:
    """The held-out evaluation set: 8 prompts per challenge, backgrounds
    cycling through none, black, white, grey."""
    backgrounds = [None, *BACKGROUND_COLOURS]
    rng = np.random.default_rng(HOLDOUT_SEED + 1)
    out = []
    for challenge in CHALLENGES:
        pool = held_out()[challenge]
        if len(pool) >= 8:
            picks = [(pool[i], backgrounds[n % len(backgrounds)])
                     for n, i in enumerate(sorted(rng.choice(len(pool), 8, replace=False)))]
        else:  # few held-out captions: each with several backgrounds
            pairs = [(d, b) for d in pool for b in backgrounds]
            picks = [pairs[i] for i in sorted(rng.choice(len(pairs), 8, replace=False))]
        out += [Description(d.objects, d.relation, background) for d, background in picks]
    return out
