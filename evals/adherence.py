"""Adherence: the shapes world's checker over a point's images. Per image a
pass/fail and a partial score (bench/shapes/checker.py); per point the pass
rate (adherence) and the mean partial score; per prompt the same, so the
report breaks adherence down by challenge."""

from __future__ import annotations

import numpy as np

from bench.base.errors import BenchError
from bench.shapes.captions import NotAWorldCaption, parse
from bench.shapes.checker import CHECKER_VERSION, score_image


def checker_name() -> str:
    return f"shapes checker v{CHECKER_VERSION}"


def check_world_prompts(prompts) -> None:
    """A one-line error for the first prompt the world cannot check."""
    for i, prompt in enumerate(prompts):
        try:
            parse(prompt)
        except NotAWorldCaption as e:
            raise BenchError(f"--metrics adherence: prompt {i}: {e} (use a prompt set of the world, "
                             "e.g. --prompts shapes)") from None


def adherence_scores(images: np.ndarray, prompts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(passed as 0/1, partial score) per image; images (N, 256, 256, 3) in [0, 1] or uint8."""
    check_world_prompts(dict.fromkeys(prompts))
    scores = [score_image(image, prompt) for image, prompt in zip(images, prompts)]
    return (np.array([float(s.passed) for s in scores]), np.array([s.partial for s in scores]))
