"""dalle-mini 0.1.5 imports and runs on the current JAX stack through bench.compat."""

import subprocess
import sys


def test_shims_make_dalle_mini_importable_in_a_fresh_interpreter():
    code = ("from bench.compat import import_dalle_mini; import_dalle_mini();"
            "from dalle_mini.model import DalleBart, DalleBartProcessor, DalleBartConfig;"
            "import jax.numpy as jnp, jax; assert jnp.DeviceArray is jax.Array")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_dalle_mini_encode_init_cache_decode_run_after_shims():
    import jax.numpy as jnp

    from bench.models import dallebart
    from tests.test_conformance import FIXTURES

    model, params = dallebart.load_dallebart(str(FIXTURES / "dallebart"))
    ids = jnp.zeros((2, model.config.max_text_length), jnp.int32)
    mask = jnp.ones_like(ids)
    encoded = dallebart.encode(model, params, ids, mask)
    cache = dallebart.empty_cache(model, 2, model.config.image_length, encoded)
    step = dallebart.decoder_step(model, params, encoded, mask, model.config.image_length)
    logits, cache = step(jnp.zeros((2, 1), jnp.int32), jnp.int32(0), cache)
    assert logits.shape == (2, model.config.image_vocab_size + 1)
    assert jnp.isfinite(logits).all()
