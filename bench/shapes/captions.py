"""Captions: what a prompt of the world asks for (`Description`), written
in plain English by templates and read back by a small grammar.

| challenge | template | example |
| --- | --- | --- |
| shape | a SIZE SHAPE | a small triangle |
| colour | a COLOUR SHAPE | a red circle |
| simple detail | a SIZE COLOUR SHAPE | a large blue bar |
| counting | two/three COLOUR SHAPEs | three green squares |
| spatial relations | a COLOUR SHAPE REL a COLOUR SHAPE | a red circle to the left of a blue square |

REL is one of: to the left of, to the right of, above, below. Any caption
may end with `on a BACKGROUND background`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .world import BACKGROUND_COLOURS, OBJECT_COLOURS, SHAPES, SIZES

RELATIONS = ("to the left of", "to the right of", "above", "below")
COUNT_WORDS = {2: "two", 3: "three"}
CHALLENGES = ("shape", "colour", "simple detail", "counting", "spatial relations")


class NotAWorldCaption(ValueError):
    """The prompt is not one the shapes world can make or check."""


@dataclass(frozen=True)
class ObjectSpec:
    shape: str
    colour: str | None = None
    size: str | None = None

    def phrase(self, plural: bool = False) -> str:
        words = [w for w in (self.size, self.colour) if w] + [self.shape + ("s" if plural else "")]
        return " ".join(words)


@dataclass(frozen=True)
class Description:
    """What a caption asks for: the objects (a counted object repeated), an
    optional relation of the first object to the second, an optional background."""

    objects: tuple[ObjectSpec, ...]
    relation: str | None = None
    background: str | None = None

    @property
    def challenge(self) -> str:
        if self.relation:
            return "spatial relations"
        if len(self.objects) > 1:
            return "counting"
        spec = self.objects[0]
        if spec.colour and spec.size:
            return "simple detail"
        return "colour" if spec.colour else "shape"

    @property
    def category(self) -> str:
        """The first object's shape, plural: the per-category tables group by it."""
        return self.objects[0].shape + "s"

    def without_background(self) -> "Description":
        return Description(self.objects, self.relation, None)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def caption(description: Description) -> str:
    objects = description.objects
    if description.relation:
        text = f"{_article(objects[0].phrase())} {description.relation} {_article(objects[1].phrase())}"
    elif len(objects) > 1:
        text = f"{COUNT_WORDS[len(objects)]} {objects[0].phrase(plural=True)}"
    else:
        text = _article(objects[0].phrase())
    if description.background:
        text += f" on a {description.background} background"
    return text


_SIZE = "|".join(SIZES)
_COLOUR = "|".join(OBJECT_COLOURS)
_SHAPE = "|".join(SHAPES)
_OBJECT = rf"an? (?:(?P<{{p}}size>{_SIZE}) )?(?:(?P<{{p}}colour>{_COLOUR}) )?(?P<{{p}}shape>{_SHAPE})"
_BACKGROUND = rf"(?: on a (?P<background>{'|'.join(BACKGROUND_COLOURS)}) background)?"
_SINGLE = re.compile(_OBJECT.format(p="a_") + _BACKGROUND + "$")
_RELATION = re.compile(_OBJECT.format(p="a_") + rf" (?P<relation>{'|'.join(RELATIONS)}) "
                       + _OBJECT.format(p="b_") + _BACKGROUND + "$")
_COUNT = re.compile(rf"(?P<count>{'|'.join(COUNT_WORDS.values())}) (?P<a_colour>{_COLOUR}) "
                    rf"(?P<a_shape>{_SHAPE})s" + _BACKGROUND + "$")


def _spec(match: re.Match, prefix: str) -> ObjectSpec:
    groups = match.groupdict()
    return ObjectSpec(groups[prefix + "shape"], groups.get(prefix + "colour"), groups.get(prefix + "size"))


def parse(text: str) -> Description:
    """The description a caption of the world asks for; NotAWorldCaption otherwise."""
    normalised = " ".join(text.lower().split()).rstrip(".")
    description = None
    if match := _SINGLE.match(normalised):
        description = Description((_spec(match, "a_"),), None, match["background"])
    elif match := _RELATION.match(normalised):
        a, b = _spec(match, "a_"), _spec(match, "b_")
        if a.colour and b.colour and not a.size and not b.size:
            description = Description((a, b), match["relation"], match["background"])
    elif match := _COUNT.match(normalised):
        count = {w: n for n, w in COUNT_WORDS.items()}[match["count"]]
        description = Description((_spec(match, "a_"),) * count, None, match["background"])
    if description is None or caption(description) != normalised:
        # The caption written back must be the one read: catches "a orange", sizes in relations, ...
        raise NotAWorldCaption(f"'{text}' is not a caption of the shapes world "
                               "(e.g. 'a red circle', 'two blue squares', 'a red circle above a blue square')")
    return description
