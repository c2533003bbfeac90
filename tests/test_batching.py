import numpy as np
import pytest

from bench.core.batching import plan_batches

NDEV = 4


@pytest.mark.parametrize("images", [NDEV - 1, NDEV, NDEV + 1, 5 * NDEV])
def test_batches_cover_every_image_once_in_prompt_major_order(images):
    batches = plan_batches(images, 1, NDEV)
    assert all(len(b.prompt_index) == NDEV for b in batches)
    kept = np.concatenate([b.prompt_index[:b.valid] for b in batches])
    np.testing.assert_array_equal(kept, np.arange(images))
    assert sum(NDEV - b.valid for b in batches) == (-images) % NDEV


def test_samples_within_prompts():
    batches = plan_batches(2, 3, 4)
    pairs = [(p, s) for b in batches for p, s in zip(b.prompt_index[:b.valid], b.sample_index[:b.valid])]
    assert pairs == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert batches[-1].valid == 2 and list(batches[-1].prompt_index) == [1, 1, 1, 1]


def test_rejects_empty_work():
    with pytest.raises(ValueError):
        plan_batches(0, 1, 4)
