"""Roofline arithmetic: a configuration computed by hand, the real models'
parameter counts, and XLA's own FLOP count where XLA counts correctly (no
loops: the VQGAN and CLIP)."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import pytest
from flax.traverse_util import flatten_dict

from bench.measure.roofline import (
    ClipShape,
    Cost,
    DalleBartShape,
    Peak,
    VQGANShape,
    clip_cost,
    pipeline_cost,
    sampling_cost,
    table_peak,
    text_encode_cost,
    vqgan_decode_cost,
    vqgan_decode_weights,
)
from tests.test_conformance import FIXTURES

# d=4, one layer each, GLU feed-forward of width 6, a 2-token prompt, 3 image tokens, 5 logits.
SMALL = DalleBartShape(d_model=4, encoder_layers=1, decoder_layers=1, encoder_ffn=6, decoder_ffn=6, glu=True,
                       text_length=2, image_length=3, vocab_out=5)


def test_sampling_flops_by_hand():
    # Cross-attention k, v once per row: 2 tokens x 2 matrices x 4x4, 2 FLOPs each = 128.
    # Per step: q,k,v,o (self) + q,o (cross): 6 x 16 x 2 = 192; self-attention over the
    # 3-slot cache: 4 x 3 x 4 = 48; cross-attention over 2 tokens: 4 x 2 x 4 = 32;
    # GLU: 3 x 4 x 6 x 2 = 144; logits: 4 x 5 x 2 = 40. Step total 456, x 3 steps = 1368.
    assert sampling_cost(SMALL, rows_per_image=1, batch=1, itemsize=4).flops == 128 + 1368
    # Super-conditioning doubles the rows, not the weights read.
    one, two = (sampling_cost(SMALL, rows, batch=1, itemsize=4) for rows in (1, 2))
    assert two.flops == 2 * one.flops
    # Bytes of the weights read per call: each of the 3 steps reads self q,k,v,o and cross q,o
    # (6 x 16), the GLU (72) and the logits (20); the cross k,v projections (2 x 16) once.
    weights = ((6 * 16 + 72 + 4 * 5) * 3 + 2 * 16) * 4
    assert two.bytes - 2 * (one.bytes - weights) == weights


def test_weights_are_shared_by_the_batch():
    small, large = (sampling_cost(SMALL, 2, batch, 4) for batch in (1, 8))
    assert small.flops == large.flops
    assert large.bytes < small.bytes


def test_text_encode_flops_by_hand():
    # Per prompt token: q,k,v,o 2 x 4 x 16 = 128, GLU 144; attention 4 x 2 x 2 x 4 = 64 for the prompt.
    assert text_encode_cost(SMALL, 1, 1, 4).flops == 2 * (128 + 144) + 64


def test_dallebart_formulas_match_the_real_parameter_count(tiny_models):
    """Every decoder matrix is used once per token and row (cross-attention
    keys/values once per prompt token); the formula must count exactly the
    model's own kernels."""
    model = tiny_models.dalle
    shape = DalleBartShape.of(model.config)
    kernels = {k: v.size for k, v in flatten_dict(tiny_models.params["dalle"]).items()
               if k[-1] == "kernel" and "decoder" in k or k[0] == "lm_head"}
    cross_kv = sum(v for k, v in kernels.items() if "FlaxBartAttention_1" in k and k[-2] in ("k_proj", "v_proj"))
    per_token = sum(kernels.values()) - cross_kv
    d, n, t, layers = shape.d_model, shape.image_length, shape.text_length, shape.decoder_layers
    attention = layers * n * (4 * n * d + 4 * t * d)
    assert sampling_cost(shape, 1, 1, 4).flops == 2 * n * per_token + 2 * t * cross_kv + attention


def _mini_parameter_bytes() -> dict[tuple[str, ...], int]:
    """Bytes of every parameter of the mini DalleBart (float32), from its real
    parameter tree: shapes only (jax.eval_shape), nothing allocated."""
    import functools

    from bench.core.models.dallebart import dalle_mini
    from bench.core.models.presets import PRESETS

    dm = dalle_mini()
    model = dm.DalleBart(dm.DalleBartConfig(**PRESETS["mini"].dalle_config), _do_init=False)
    tree = jax.eval_shape(functools.partial(model.init_weights, input_shape=model.input_shape), jax.random.PRNGKey(0))
    return {path: leaf.size * leaf.dtype.itemsize for path, leaf in flatten_dict(tree).items()}, model.config


def test_sampling_weight_bytes_are_what_the_cached_step_reads_in_mini():
    """CachedDecoder's step reads every decoder parameter except the
    cross-attention key/value projections (projected once per prompt into the
    cache) and the embedding tables (one row gathered per token), plus the
    logits head; the cross-attention projections are read once per call."""
    params, config = _mini_parameter_bytes()
    cross_kv = {p: b for p, b in params.items()
                if "FlaxBartAttention_1" in p and p[-2] in ("k_proj", "v_proj")}
    step = {p: b for p, b in params.items()
            if (p[0] == "lm_head" or "decoder" in p) and p not in cross_kv
            and not any(name in p for name in ("embed_tokens", "embed_positions"))}
    matrices = sum(b for p, b in step.items() if p[-1] == "kernel")
    shape = DalleBartShape.of(config)
    n = shape.image_length
    # Weight bytes per program call, from the cost itself: halving them by doubling the batch.
    one, two = (sampling_cost(shape, rows_per_image=2, batch=batch, itemsize=4).bytes for batch in (1, 2))
    weights = 2 * (one - two)
    assert weights == pytest.approx(matrices * n + sum(cross_kv.values()), rel=1e-12)
    # Norm vectors are left out of the formula: under 0.5 % of what the step reads.
    assert weights == pytest.approx(sum(step.values()) * n + sum(cross_kv.values()), rel=5e-3)


def test_vqgan_weights_match_the_published_parameter_tree():
    tree = json.loads((FIXTURES / "vqgan_f16_16384_param_tree.json").read_text())["params"]
    count = sum(math.prod(shape) for path, shape in tree.items()
                if path.endswith("/kernel") and path.startswith(("decoder/", "post_quant_conv/")))
    from bench.core.models.presets import VQGAN_F16_16384
    from bench.core.models.vqgan import VQGANConfig

    assert vqgan_decode_weights(VQGANShape.of(VQGANConfig(**VQGAN_F16_16384))) == count


def _xla_flops(fn, *args) -> float:
    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]


def test_vqgan_and_clip_flops_match_xla(tiny_models):
    """XLA counts these programs exactly (no loops); ours leaves out norms and activations."""
    m = tiny_models
    codes = jnp.zeros((1, 256), jnp.int32)
    xla = _xla_flops(lambda p, c: m.vqgan.decode_code(c, params=p), m.params["vqgan"], codes)
    ours = vqgan_decode_cost(VQGANShape.of(m.vqgan.config), 1, 4).flops
    assert ours == pytest.approx(xla, rel=0.01)

    from bench.core.models.clip import clip_scores

    images = jnp.zeros((1, 256, 256, 3))
    ids = jnp.zeros((1, m.clip_prep.text_length), jnp.int32)
    xla = _xla_flops(lambda p, i, t: clip_scores(m.clip, p, i, t, jnp.ones_like(t), m.clip_prep),
                     m.params["clip"], images, ids)
    ours = clip_cost(ClipShape.of(m.clip.config, m.clip_prep.text_length), 1, 4).flops
    assert ours == pytest.approx(xla, rel=0.03)


def test_roofline_time_is_the_slower_bound_per_stage():
    peak = Peak(flops=100.0, bandwidth=10.0, source="test")
    assert Cost(1000.0, 10.0).seconds(peak) == 10.0  # compute bound
    assert Cost(10.0, 1000.0).seconds(peak) == 100.0  # memory bound
    cost = pipeline_cost(SMALL, VQGANShape(4, (1, 2), 1, (), 8, 4, 4, 3), None, unconditioned_pass=True,
                         batch=1, itemsize=4)
    assert cost.seconds(peak) == sum(s.seconds(peak) for s in (cost.encode, cost.sample, cost.decode, cost.clip))


def test_peak_table_lookup():
    assert table_peak("NVIDIA H100 80GB HBM3", "bfloat16").source == "table: H100"
    assert table_peak("NVIDIA H100 PCIe", "float32").source == "table: H100 PCIe"
    assert table_peak("TPU v5 lite", "bfloat16").flops == 197e12
    assert table_peak("NVIDIA A100-SXM4-80GB", "float32").bandwidth == 2.039e12
    assert table_peak("cpu", "float32") is None


def test_longest_device_name_wins():
    assert table_peak("NVIDIA L40S", "bfloat16").source == "table: L40S"
    assert table_peak("NVIDIA L4", "bfloat16").source == "table: L4"
