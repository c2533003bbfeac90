"""The shapes world: generator, captions and checker against hand-drawn
scenes (every challenge, passing and failing), and the checker on the
world's own renders."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.prompt_sets import load_prompt_set
from bench.shapes import captions, checker, prompt_files, scenes, world
from bench.shapes.world import Scene
from bench.shapes.world import SceneObject as O

# Hand-drawn grids: one letter per cell. . = background (black unless given), letters = colours.
LETTERS = {"r": "red", "g": "green", "b": "blue", "y": "yellow", "o": "orange", "p": "purple", "k": "pink",
           "c": "cyan", ".": "black", "w": "white", "e": "grey"}


def drawn(*rows: str) -> np.ndarray:
    """An image from a sketch of up to 16 rows (padded with black)."""
    grid = np.full((16, 16), world.COLOUR_NAMES.index("black"))
    for r, row in enumerate(rows):
        for c, letter in enumerate(row):
            grid[r, c] = world.COLOUR_NAMES.index(LETTERS[letter])
    return world.grid_image(grid)


SMALL_RED_SQUARE = ["rrrr", "rrrr", "rrrr", "rrrr"]
SMALL_BLUE_CIRCLE = [".bb.", "bbbb", "bbbb", ".bb."]


def side_by_side(left: list[str], right: list[str], gap: int = 2) -> list[str]:
    return [a + "." * gap + b for a, b in zip(left, right)]


def test_shapes_drawn_by_hand_are_named_by_the_checker():
    background, found = checker.find_objects(checker.read_cells(drawn(*side_by_side(SMALL_RED_SQUARE,
                                                                                      SMALL_BLUE_CIRCLE))))
    assert background == "black"
    assert {(o.colour, o.shape, o.size) for o in found} == {("red", "square", "small"), ("blue", "circle", "small")}
    triangle = ["y.....", "yy....", "yyy...", "yyyy..", "yyyyy.", "yyyyyy"]
    bar = ["gggg", "gggg"]
    _, found = checker.find_objects(checker.read_cells(drawn(*triangle, "......", *bar)))
    assert {(o.colour, o.shape, o.size) for o in found} == {("yellow", "triangle", "large"), ("green", "bar", "small")}


@pytest.mark.parametrize("prompt, image, passes", [
    # shape
    ("a small square", drawn(*SMALL_RED_SQUARE), True),
    ("a small circle", drawn(*SMALL_RED_SQUARE), False),
    ("a large square", drawn(*SMALL_RED_SQUARE), False),
    # colour
    ("a red square", drawn(*SMALL_RED_SQUARE), True),
    ("a blue square", drawn(*SMALL_RED_SQUARE), False),
    ("a blue circle", drawn(*SMALL_BLUE_CIRCLE), True),
    # simple detail, background
    ("a small red square on a black background", drawn(*SMALL_RED_SQUARE), True),
    ("a small red square on a white background", drawn(*SMALL_RED_SQUARE), False),
    ("a small red square on a white background", drawn(*[r.replace(".", "w") + "w" * 12 for r in SMALL_RED_SQUARE],
                                                       *["w" * 16] * 12), True),
    # counting
    ("two red squares", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_RED_SQUARE)), True),
    ("three red squares", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_RED_SQUARE)), False),
    ("two red squares", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_BLUE_CIRCLE)), False),
    ("a red square", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_RED_SQUARE)), False),  # an extra object
    # spatial relations
    ("a red square to the left of a blue circle", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_BLUE_CIRCLE)), True),
    ("a red square to the right of a blue circle", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_BLUE_CIRCLE)), False),
    ("a blue circle to the right of a red square", drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_BLUE_CIRCLE)), True),
    ("a red square above a blue circle", drawn(*SMALL_RED_SQUARE, "....", *SMALL_BLUE_CIRCLE), True),
    ("a red square below a blue circle", drawn(*SMALL_RED_SQUARE, "....", *SMALL_BLUE_CIRCLE), False),
])
def test_checker_on_hand_drawn_scenes(prompt, image, passes):
    assert checker.score_image(image, prompt).passed is passes


def test_partial_score_counts_the_checks_that_hold():
    score = checker.score_image(drawn(*SMALL_BLUE_CIRCLE), "a small red circle")  # right shape and size only
    assert not score.passed
    assert score.partial == pytest.approx(3 / 4)  # shape, size, object count; not colour
    assert checker.score_image(drawn(), "a red circle").partial == 0.0  # nothing drawn: no check holds


def test_single_cell_specks_are_not_objects():
    assert checker.score_image(drawn(*SMALL_RED_SQUARE, "", "..........g"), "a red square").passed


def test_checker_reads_float_images_and_tolerates_decoding_noise():
    image = drawn(*side_by_side(SMALL_RED_SQUARE, SMALL_BLUE_CIRCLE)).astype(np.float32) / 255
    noisy = np.clip(image + np.random.default_rng(0).normal(0, 0.05, image.shape), 0, 1)
    assert checker.score_image(noisy, "a red square to the left of a blue circle").passed


def test_checker_scores_every_render_of_the_world_as_passing():
    rng = np.random.default_rng(3)
    for _ in range(300):
        description = scenes.sample_training_description(rng)
        image = world.render(scenes.sample_scene(description, rng))
        assert checker.score_image(image, description).passed, captions.caption(description)
    for description in scenes.evaluation_descriptions():
        image = world.render(scenes.sample_scene(description, rng))
        score = checker.score_image(image, captions.caption(description))
        assert score.passed and score.partial == 1.0


def test_renderer_draws_cells_of_one_flat_colour():
    scene = Scene("grey", (O("triangle", "orange", "small", 2, 3),))
    image = world.render(scene)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert (image[2 * 16:3 * 16, 3 * 16:4 * 16] == world.COLOURS["orange"]).all()  # triangle's top cell
    assert (image[2 * 16:3 * 16, 4 * 16:5 * 16] == world.COLOURS["grey"]).all()   # right of it: background
    with pytest.raises(ValueError, match="outside"):
        world.render(Scene("grey", (O("square", "red", "large", 12, 0),)))


@pytest.mark.parametrize("text", ["a red circle", "two blue squares", "a large green bar on a grey background",
                                  "an orange circle above a pink triangle", "three cyan triangles"])
def test_captions_read_back_to_what_they_say(text):
    assert captions.caption(captions.parse(text)) == text


@pytest.mark.parametrize("text", ["a fox", "a orange circle", "four red circles", "a large red circle above a blue bar",
                                  "two circles", "a red circle on a red background"])
def test_prompts_outside_the_world_are_refused(text):
    with pytest.raises(captions.NotAWorldCaption, match="not a caption of the shapes world"):
        captions.parse(text)


def test_held_out_compositions_never_occur_in_training():
    rng = np.random.default_rng(0)
    for _ in range(3000):
        assert not scenes.is_held_out(scenes.sample_training_description(rng))
    evaluation = scenes.evaluation_descriptions()
    assert all(scenes.is_held_out(d) for d in evaluation)
    assert len({captions.caption(d) for d in evaluation}) == len(evaluation) == 40
    assert {d.challenge for d in evaluation} == set(captions.CHALLENGES)


def test_scenes_make_what_the_description_says():
    rng = np.random.default_rng(5)
    description = captions.parse("a red circle to the left of a blue square")
    for _ in range(20):
        a, b = scenes.sample_scene(description, rng).objects
        assert (a.colour, a.shape, b.colour, b.shape) == ("red", "circle", "blue", "square")
        assert a.bounds[3] < b.bounds[1]


def test_shipped_prompt_sets_are_what_the_generator_writes():
    for name, text in prompt_files.expected_files().items():
        assert (load_prompt_set(name.removesuffix(".tsv")) is not None)
        assert (prompt_files.PROMPTS_DIR / name).read_text() == text
    held_out = load_prompt_set("shapes")
    assert set(held_out.challenges) == set(captions.CHALLENGES)
    assert set(held_out.categories) <= {s + "s" for s in world.SHAPES}
