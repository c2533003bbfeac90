"""Images/s of the feature networks of CMMD and FD-DINOv2/PRDC at their real size (random weights:
the cost is the architecture's) on 32 DALL·E Mini-sized images (256x256),
preprocessing included (Inception's: tests/test_benchmarks.py). Marked slow: not in CI; `make bench` runs them.

    python -m pytest tests/test_feature_benchmarks.py -m slow --benchmark-only -n 0"""

from __future__ import annotations

import numpy as np
import pytest

BATCH = 32
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_feature_benchmarks")]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(BATCH, 256, 256, 3), dtype=np.uint8)


def _run(benchmark, extract, images, network: str):
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    benchmark.pedantic(lambda: extract(images), rounds=3, warmup_rounds=1)
    benchmark.extra_info.update(network=network, batch=BATCH, random_weights=True)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["images_per_s"] = BATCH / benchmark.stats.stats.median


@pytest.mark.benchmark(group="quality-features")
def test_clip_vit_l14_336_embeddings(benchmark, images):
    """CMMD's network: CLIPVisionModelWithProjection as openai/clip-vit-large-patch14-336."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from evals.clip_embedding import embeddings

    torch.manual_seed(0)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, patch_size=14,
        image_size=336, projection_dim=768)).eval()
    _run(benchmark, lambda x: embeddings(model, x, batch_size=BATCH), images, "CLIP ViT-L/14 @ 336")


@pytest.mark.benchmark(group="quality-features")
def test_dinov2_large_features(benchmark, images):
    """FD-DINOv2's and PRDC's network: Dinov2Model as facebook/dinov2-large, at dgm-eval's 224 px."""
    import torch
    from transformers import Dinov2Config, Dinov2Model

    from evals.dinov2 import features

    torch.manual_seed(0)
    model = Dinov2Model(Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                     patch_size=14, image_size=518)).eval()
    _run(benchmark, lambda x: features(model, x, batch_size=BATCH), images, "DINOv2 ViT-L/14 @ 224")
