"""Sampling settings are inputs of the compiled program: the tokens equal
those of the static-settings program (every setting a compile-time constant,
commit cd6bad5, `fixtures/static_era/`), one program serves every setting of
a structure, and a batch may mix settings. Compilations are counted from
JAX's own compile events, never timed."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench.core.models import dallebart
from bench.core.parallel import ParallelConfig, Runner
from bench.core.pipeline import build_token_program
from bench.core.sampling import SamplingConfig, SamplingStructure, settings_rows
from bench.core.sampling.warpers import filter_rows, top_k_filter, top_p_filter
from bench.measure.compile_log import CompileLog

pytestmark = pytest.mark.xdist_group("test_conformance")  # shares the conformance model's load

FIXTURES = Path(__file__).parent / "fixtures"
STATIC = np.load(FIXTURES / "static_era" / "static_era.npz")
SETTINGS = [SamplingConfig(temperature=t, top_k=int(k), top_p=p, cond_scale=s) for t, k, p, s in STATIC["settings"]]


@pytest.fixture(scope="module")
def dalle():
    return dallebart.load_dallebart(str(FIXTURES / "conformance" / "dallebart"))


def token_runner(dalle, structure: SamplingStructure, rows: int) -> Runner:
    model, params = dalle
    golden = np.load(FIXTURES / "conformance" / "dallebart" / "golden.npz")
    program = build_token_program(model, dallebart.TextGeometry.of(model.config), structure,
                                  golden["uncond_input_ids"][:1], golden["uncond_attention_mask"][:1])
    return Runner(program, params, jax.devices()[:1], ParallelConfig("single", 1, rows))


def batch_of(configs: list[SamplingConfig]) -> dict:
    """The fixture's three prompts and keys once per config, each block drawn with its config."""
    repeat = len(configs)
    rows = [c for c in configs for _ in range(3)]
    return {"input_ids": np.tile(STATIC["input_ids"], (repeat, 1)),
            "attention_mask": np.tile(STATIC["attention_mask"], (repeat, 1)),
            "keys": np.tile(STATIC["keys"], (repeat, 1)), **settings_rows(rows)}


def expected_of(configs: list[SamplingConfig]) -> np.ndarray:
    return np.concatenate([STATIC["tokens"][SETTINGS.index(c)] for c in configs])


@pytest.mark.parametrize("structure", sorted({c.structure for c in SETTINGS}, key=lambda s: s.key),
                         ids=lambda s: s.key)
def test_every_static_era_setting_in_one_mixed_batch(dalle, structure):
    """All fixture settings of a structure, no-op values included, in one
    batch of one program: each block of rows equals its setting's static-era tokens."""
    configs = [c for c in SETTINGS if c.structure == structure]
    runner = token_runner(dalle, structure, 3 * len(configs))
    batch = batch_of(configs)
    runner.compile(batch)
    np.testing.assert_array_equal(runner.to_host(runner(runner.put(batch))), expected_of(configs))


def test_one_compiled_program_serves_two_settings(dalle):
    cool = SamplingConfig(temperature=0.7, top_k=5, top_p=0.9, cond_scale=3.0)
    hot = SamplingConfig(temperature=1.3, top_k=5, top_p=1.0, cond_scale=3.0)
    assert cool.structure == hot.structure
    runner = token_runner(dalle, cool.structure, 3)
    log = CompileLog()
    runner.compile(batch_of([cool]))
    after_compile = log.requests()
    tokens = {c: runner.to_host(runner(runner.put(batch_of([c])))) for c in (cool, hot)}
    assert log.requests() == after_compile  # the second setting asked for no compilation at all
    for config, got in tokens.items():
        np.testing.assert_array_equal(got, expected_of([config]))
    assert not np.array_equal(tokens[cool], tokens[hot])


def test_filter_rows_equals_the_static_filters_row_by_row():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 40)).astype(np.float32) * 3
    logits[0, :10] = 1.0  # ties
    logits[3] = 0.0
    ks, ps = [0, 1, 3, 7, 40, 80, 0, 5], [1.0, 0.5, 0.999, 0.3, 1.0, 0.9, 0.01, 1.0]
    got = filter_rows(jnp.asarray(logits), jnp.asarray(ks, jnp.int32), jnp.asarray(ps, jnp.float32))
    for row, (k, p) in enumerate(zip(ks, ps)):
        expected = jnp.asarray(logits[row:row + 1])
        if k > 0:
            expected = top_k_filter(expected, k)
        if p < 1.0:
            expected = top_p_filter(expected, p)
        np.testing.assert_array_equal(got[row], expected[0])
