"""Builds the tiny preset's checkpoints on first use, into a cache folder,
so that afterwards they load through the same code as published ones."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jax

from bench.base.cache import cache_root

from .presets import PRESETS
from .tokenizers_tiny import write_bart_tokenizer, write_clip_tokenizer

# Bump when the tiny preset's definition or its build changes, so stale caches are rebuilt
# (the folder is named after it). 2: the tiny CLIP's shared direction (`_aligned_clip_params`).
TINY_VERSION = 2
SEED = 0
# Norm of the direction both CLIP towers share, against sqrt(projection_dim) for a layer norm's
# output: image and text embeddings have cosines around 0.5 that differ by image and prompt.
CLIP_SHARED_SCALE = 1.0


def tiny_folder() -> Path:
    """The folder holding dallebart/, vqgan/ and clip/, built if missing: by one process, while
    any other that needs it waits (two building at once would each take as long, for nothing)."""
    folder = cache_root() / f"tiny-v{TINY_VERSION}"
    if not (folder / "complete").exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f".tiny-v{TINY_VERSION}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
            if not (folder / "complete").exists():  # not built by the process we waited for
                _build(folder)
    return folder


def tokenizer_folders() -> tuple[Path, Path]:
    """The tiny tokenizers (BART-style, CLIP-style), also used by random-weight
    runs of the published configurations, which cannot download the real ones."""
    folder = tiny_folder()
    return folder / "dallebart", folder / "clip"


def _build(folder: Path) -> None:
    """The three models, each in a thread of its own: initialising op by op is mostly compiling
    each op, which XLA does without holding the GIL, so two cores take about half the time. On
    the CPU whatever the default backend: on a GPU each of those thousands of ops would be
    compiled on its own (minutes, where the CPU takes seconds); the weights are then the same
    whichever machine built them."""
    import transformers

    from .dallebart import dalle_mini

    # Imported here, once: transformers' lazy modules are not made to be imported by two threads at once.
    for name in ("CLIPConfig", "CLIPImageProcessor", "CLIPProcessor", "CLIPTokenizerFast", "FlaxCLIPModel"):
        getattr(transformers, name)
    dalle_mini()
    cpu = jax.local_devices(backend="cpu")[0]

    def on_cpu(build):
        def run(staging: Path) -> None:
            with jax.default_device(cpu):  # per thread: JAX's default device is thread-local
                build(staging)
        return run

    staging = Path(tempfile.mkdtemp(prefix=".tiny-build-", dir=folder.parent))
    try:
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="tiny-build") as pool:
            for done in [pool.submit(on_cpu(build), staging) for build in (_build_vqgan, _build_dallebart,
                                                                           _build_clip)]:
                done.result()  # the first failure is raised here
        (staging / "complete").write_text(f"jax {jax.__version__}\n")
        if folder.exists() and not (folder / "complete").exists():
            shutil.rmtree(folder)  # left by a build that was killed
        try:
            staging.rename(folder)
        except OSError:
            if not (folder / "complete").exists():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_dallebart(staging: Path) -> None:
    from .dallebart import dalle_mini

    dm = dalle_mini()
    vocab = write_bart_tokenizer(staging / "dallebart")
    config = dm.DalleBartConfig(**PRESETS["tiny"].dalle_config, encoder_vocab_size=vocab)
    dm.DalleBart(config, seed=SEED).save_pretrained(staging / "dallebart")


def _build_vqgan(staging: Path) -> None:
    from .vqgan import VQGANConfig, VQModel

    config = VQGANConfig(**PRESETS["tiny"].vqgan_config)
    # Initialised on the smallest image the encoder takes (one latent cell): the weights do not depend on
    # the input's size and are the same, but the eager forward of initialisation is 3x faster than at 256 px.
    factor = 2 ** (len(config.ch_mult) - 1)
    VQModel(config, input_shape=(1, factor, factor, config.in_channels), seed=SEED).save_pretrained(staging / "vqgan")


def _build_clip(staging: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, CLIPTokenizerFast, FlaxCLIPModel

    preset = PRESETS["tiny"]
    write_clip_tokenizer(staging / "clip_tokenizer")
    tokenizer = CLIPTokenizerFast.from_pretrained(staging / "clip_tokenizer")
    size = preset.clip_config["vision_config"]["image_size"]
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(staging / "clip")
    shutil.rmtree(staging / "clip_tokenizer")
    clip = FlaxCLIPModel(CLIPConfig(**preset.clip_config), seed=SEED)
    clip.save_pretrained(staging / "clip", params=_aligned_clip_params(clip.params))


def _aligned_clip_params(params: dict) -> dict:
    """A randomly initialised CLIP's image and text embeddings are about orthogonal, so
    100 * max(cos, 0) is 0 for half the pairs and every CLIP-based check passes whatever the
    code does. Both towers get the same projection and the same random direction as the bias
    of their last layer norm: each embedding is that shared part plus its own input-dependent
    part, so every score is positive and differs between images and between prompts."""
    import numpy as np

    params = jax.tree.map(np.asarray, params)
    width = params["visual_projection"]["kernel"].shape[0]
    if params["text_projection"]["kernel"].shape[0] != width:
        raise ValueError("the tiny CLIP's towers must have one width to share a projection")
    shared = np.random.default_rng(SEED).standard_normal(width).astype(np.float32) * CLIP_SHARED_SCALE
    params["text_projection"]["kernel"] = params["visual_projection"]["kernel"].copy()
    params["vision_model"]["post_layernorm"]["bias"] = shared
    params["text_model"]["final_layer_norm"]["bias"] = shared.copy()
    return params
