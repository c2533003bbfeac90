"""The world's prompt sets in prompts/, written from the generator:
`shapes` (the held-out evaluation set) and `shapes_train` (a sample of the
training distribution). `python -m bench.shapes.prompt_files` rewrites them;
a test checks that the shipped files are what the generator writes."""

from __future__ import annotations

import numpy as np

from bench.prompts import PROMPTS_DIR

from .captions import Description, caption
from .scenes import evaluation_descriptions, sample_training_description

TRAIN_SAMPLE_SEED = 1
TRAIN_SAMPLE_SIZE = 64


def training_sample() -> list[Description]:
    rng = np.random.default_rng(TRAIN_SAMPLE_SEED)
    return [sample_training_description(rng) for _ in range(TRAIN_SAMPLE_SIZE)]


def table(descriptions: list[Description]) -> str:
    lines = ["Prompt\tCategory\tChallenge"]
    lines += [f"{caption(d)}\t{d.category}\t{d.challenge}" for d in descriptions]
    return "\n".join(lines) + "\n"


def expected_files() -> dict[str, str]:
    return {"shapes.tsv": table(evaluation_descriptions()), "shapes_train.tsv": table(training_sample())}


if __name__ == "__main__":
    for name, text in expected_files().items():
        (PROMPTS_DIR / name).write_text(text)
        print(f"wrote {PROMPTS_DIR / name}")
