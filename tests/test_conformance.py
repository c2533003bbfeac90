"""The pipeline reproduces the original implementations' outputs.

Fixtures come from `DALLE_BENCH_CONFORMANCE_DIR` (default: the copy in
tests/fixtures/conformance), so the same checks run on any folder of that layout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

from bench.core.batching import plan_batches
from bench.core.models import dallebart
from bench.core.models.vqgan import VQGANConfig, VQModel
from bench.core.parallel import ParallelConfig, Runner
from bench.core.pipeline import build_token_program
from bench.core.sampling import SamplingConfig

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_conformance")

FIXTURES = Path(os.environ.get("DALLE_BENCH_CONFORMANCE_DIR",
                               Path(__file__).parent / "fixtures" / "conformance"))
SCALES = sorted(int(k.rsplit("_", 1)[1]) for k in np.load(FIXTURES / "dallebart" / "golden.npz")
                if k.startswith("tokens_cond_scale_"))


@pytest.fixture(scope="module")
def dalle():
    return dallebart.load_dallebart(str(FIXTURES / "dallebart"))


@pytest.fixture(scope="module")
def vqgan():
    return VQModel.from_pretrained(str(FIXTURES / "vqgan"), _do_init=False)


def run_tokens(model, params, golden, scale: float, parallel: ParallelConfig) -> np.ndarray:
    geometry = dallebart.TextGeometry.of(model.config)
    sampling = SamplingConfig(top_k=1, cond_scale=scale)
    program = build_token_program(model, geometry, sampling.structure, golden["uncond_input_ids"][:1],
                                  golden["uncond_attention_mask"][:1])
    runner = Runner(program, params, jax.devices()[:parallel.devices], parallel)
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(7), parallel.global_batch))

    def host_batch(batch):
        return {"input_ids": golden["input_ids"][batch.prompt_index],
                "attention_mask": golden["attention_mask"][batch.prompt_index], "keys": keys,
                **sampling.rows(parallel.global_batch)}

    batches = plan_batches(golden["input_ids"].shape[0], 1, parallel.global_batch)
    runner.compile(host_batch(batches[0]))
    return np.concatenate([runner.to_host(runner(runner.put(host_batch(b))))[:b.valid] for b in batches])


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("parallel", [ParallelConfig("single", 1, 2), ParallelConfig("pmap", 2, 1),
                                      ParallelConfig("sharded", 2, 2)], ids=["single", "pmap", "sharded"])
def test_dallebart_tokens_match_reference_generate(dalle, scale, parallel):
    golden = np.load(FIXTURES / "dallebart" / "golden.npz")
    tokens = run_tokens(*dalle, golden, float(scale), parallel)
    np.testing.assert_array_equal(tokens, golden[f"tokens_cond_scale_{scale}"])


def test_vqgan_decode_matches_reference(vqgan):
    model, params = vqgan
    golden = np.load(FIXTURES / "vqgan" / "golden.npz")
    decoded = np.asarray(model.decode_code(golden["codes"], params=params))
    np.testing.assert_allclose(decoded, golden["decoded"], atol=1e-5, rtol=0)


def test_vqgan_encode_matches_reference(vqgan):
    model, params = vqgan
    golden = np.load(FIXTURES / "vqgan" / "golden.npz")
    _, indices = model.encode(golden["image"], params=params)
    np.testing.assert_array_equal(np.asarray(indices), golden["encoded_indices"])


def test_full_size_vqgan_parameter_tree_matches_published_checkpoint():
    reference = json.loads((FIXTURES / "vqgan_f16_16384_param_tree.json").read_text())
    config = VQGANConfig(**reference["config"])
    model = VQModel(config, _do_init=False)
    shape = (1, config.resolution, config.resolution, config.in_channels)
    tree = jax.eval_shape(lambda: model.init_weights(jax.random.PRNGKey(0), shape))
    ours = {"/".join(path): list(leaf.shape) for path, leaf in flatten_dict(tree).items()}
    assert ours == reference["params"]


def test_a_vqgan_config_asking_for_resampling_without_convolutions_is_refused():
    reference = json.loads((FIXTURES / "vqgan_f16_16384_param_tree.json").read_text())["config"]
    assert reference["resamp_with_conv"] is True  # the published layout, which this model implements
    VQGANConfig(**reference)
    with pytest.raises(ValueError, match="resamp_with_conv"):
        VQGANConfig(**{**reference, "resamp_with_conv": False})
