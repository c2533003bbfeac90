"""dalle-mini 0.1.5 imports and runs on the current JAX stack through bench.base.compat."""

import os
import subprocess
import sys


def test_shims_make_dalle_mini_importable_in_a_fresh_interpreter():
    code = ("from bench.base.compat import import_dalle_mini; import_dalle_mini();"
            "from dalle_mini.model import DalleBart, DalleBartProcessor, DalleBartConfig;"
            "import jax.numpy as jnp, jax; assert jnp.DeviceArray is jax.Array")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_dalle_mini_encode_init_cache_decode_run_after_shims():
    import jax.numpy as jnp

    from bench.core.models import dallebart
    from tests.test_conformance import FIXTURES

    model, params = dallebart.load_dallebart(str(FIXTURES / "dallebart"))
    ids = jnp.zeros((2, model.config.max_text_length), jnp.int32)
    mask = jnp.ones_like(ids)
    encoded = dallebart.encode(model, params, ids, mask)
    decoder = dallebart.CachedDecoder(model)
    decoder_params = decoder.prepare(params)
    cache = decoder.initial_cache(decoder_params, 2, model.config.image_length, encoded)
    step = decoder.step(decoder_params, encoded, mask, model.config.image_length)
    logits, cache = step(jnp.zeros((2, 1), jnp.int32), jnp.int32(0), cache)
    assert logits.shape == (2, model.config.image_vocab_size + 1)
    assert jnp.isfinite(logits).all()


def test_cached_decoder_steps_equal_plain_decode():
    """Unrolled layers and our cache layout give the logits of dalle-mini's
    own scanned `decode`, step after step, with a padded prompt."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench.core.models import dallebart
    from tests.test_conformance import FIXTURES

    model, params = dallebart.load_dallebart(str(FIXTURES / "dallebart"))
    length = model.config.image_length
    ids = jax.random.randint(jax.random.PRNGKey(0), (3, model.config.max_text_length), 0, 100)
    mask = jnp.ones_like(ids).at[1, 5:].set(0)
    encoded = dallebart.encode(model, params, ids, mask)
    decoder = dallebart.CachedDecoder(model)
    assert decoder.fast and decoder.unroll
    decoder_params = decoder.prepare(params)
    cache = decoder.initial_cache(decoder_params, 3, length, encoded)
    plain_cache = model.init_cache(3, length, encoded)
    step = decoder.step(decoder_params, encoded, mask, length)
    tokens = jnp.full((3, 1), model.config.decoder_start_token_id, jnp.int32)
    for position in range(6):
        logits, cache = step(tokens, jnp.int32(position), cache)
        plain = model.decode(tokens, encoded, encoder_attention_mask=mask,
                             decoder_attention_mask=jnp.ones((3, length), jnp.int32),
                             decoder_position_ids=jnp.full((3, 1), position, jnp.int32),
                             past_key_values=plain_cache, params=params, return_dict=True)
        plain_cache = plain.past_key_values
        np.testing.assert_allclose(logits, plain.logits[:, -1], atol=1e-5, rtol=1e-5)
        tokens = jnp.argmax(logits, -1)[:, None].astype(jnp.int32)


def test_each_model_builds_its_cached_decoder_once():
    """A sweep builds a program per point; building the decoder constructs a
    second transformers model (0.7 s of shape inference), so it is kept per model."""
    from bench.core.models import dallebart
    from tests.test_conformance import FIXTURES

    first, _ = dallebart.load_dallebart(str(FIXTURES / "dallebart"))
    second, _ = dallebart.load_dallebart(str(FIXTURES / "dallebart"))
    assert dallebart.cached_decoder(first) is dallebart.cached_decoder(first)
    assert dallebart.cached_decoder(second) is not dallebart.cached_decoder(first)
    assert dallebart.cached_decoder(second).model is second


def test_without_dalle_mini_the_cli_says_how_to_install_it(run_cli, tmp_path):
    # `pip install dalle-bench` alone leaves dalle-mini out; a site hook hides it the same way.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['dalle_mini'] = None\n")
    proc = run_cli("generate", "a red circle", "--preset", "shapes", "-n", "1", "--out", tmp_path / "out",
                   "--no-progress", env={"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: dalle-mini is not installed: install it without its dependencies, "
                                "`pip install --no-deps dalle-mini==0.1.5`"), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
