"""The world's prompt sets in prompts/, written from the generator:
`shapes` (the held-out evaluation set), `shapes_train` (a sample of the
training distribution) and `shapes_demo` (four held-out prompts: colour, detail,
counting, a relation; `make demo`'s set). `python -m bench.shapes.prompt_files` rewrites them;
a test checks that the shipped files are what the generator writes."""

from __future__ import annotations

import numpy as np

from bench.data.prompt_sets import PROMPTS_DIR

from .captions import Description, caption
from .scenes import evaluation_descriptions, sample_training_description

TRAIN_SAMPLE_SEED = 1
TRAIN_SAMPLE_SIZE = 64
# Rows of the held-out set: colour, simple detail, counting, spatial relation.
DEMO_ROWS = (10, 22, 25, 35)


def training_sample() -> list[Description]:
    rng = np.random.default_rng(TRAIN_SAMPLE_SEED)
    return [sample_training_description(rng) for _ in range(TRAIN_SAMPLE_SIZE)]


def table(descriptions: list[Description]) -> str:
    lines = ["Prompt\tCategory\tChallenge"]
    lines += [f"{caption(d)}\t{d.category}\t{d.challenge}" for d in descriptions]
    return "\n".join(lines) + "\n"


def expected_files() -> dict[str, str]:
    held_out = evaluation_descriptions()
    return {"shapes.tsv": table(held_out), "shapes_train.tsv": table(training_sample()),
            "shapes_demo.tsv": table([held_out[i] for i in DEMO_ROWS])}


if __name__ == "__main__":
    for name, text in expected_files().items():
        (PROMPTS_DIR / name).write_text(text)
        print(f"wrote {PROMPTS_DIR / name}")
