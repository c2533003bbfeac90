"""From what the user asked for (`ModelSpec`) to loaded models and weights (`Models`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from bench.base.choices import DTYPES
from bench.base.errors import BenchError, first_line
from bench.base.sources import check_hub_source, looks_local, weights_id

from . import clip as clip_lib
from . import dallebart
from .spec import ModelSpec, check_spec  # noqa: F401  (their home before bench/core/models/spec.py)
from .tiny import tiny_folder, tokenizer_folders
from .vqgan import VQGANConfig, VQModel

JAX_DTYPES = {name: getattr(jnp, name) for name in DTYPES}


@dataclass
class Models:
    spec: ModelSpec
    sources: dict[str, str]
    random_weights: bool
    dalle: Any
    dalle_params: Any
    processor: Any
    geometry: dallebart.TextGeometry
    vqgan: VQModel
    vqgan_params: Any
    clip: Any
    clip_params: Any
    clip_processor: Any
    clip_prep: clip_lib.ClipPreprocessing
    revisions: dict[str, str | None]
    """Per model, the weights that were loaded: the Hub commit the download
    resolved to, a hash of a local folder's weight files, or None (random
    weights; a wandb artifact, whose name carries its version)."""

    @property
    def params(self) -> dict:
        return {"dalle": self.dalle_params, "vqgan": self.vqgan_params, "clip": self.clip_params}


def load_models(spec: ModelSpec) -> Models:
    preset = check_spec(spec)
    dtype = JAX_DTYPES[spec.dtype]
    weights = spec.resolved_weights()
    random = weights == "random" and not preset.random_only

    if preset.checkpoints is not None and not random:
        root = preset.checkpoints
        if not (root / "training.json").is_file():
            raise BenchError(f"--preset {preset.name}: its checkpoints are missing from {root} "
                             f"(train them with `dalle-bench train-shapes --out {root}`)")
        sources = {"dalle": str(root / "dallebart"), "vqgan": str(root / "vqgan"), "clip": str(root / "clip")}
    elif preset.built_locally:
        root = tiny_folder()
        sources = {"dalle": str(root / "dallebart"), "vqgan": str(root / "vqgan"), "clip": str(root / "clip")}
    else:
        sources = {"dalle": preset.dalle, "vqgan": preset.vqgan, "clip": preset.clip}
    for key, override in (("dalle", spec.model), ("vqgan", spec.vqgan), ("clip", spec.clip)):
        if override:
            sources[key] = override
    vqgan_revision = preset.vqgan_revision if sources["vqgan"] == preset.vqgan else None

    if random:
        bart_tokenizer_dir, clip_tokenizer_dir = tokenizer_folders()
        dalle, dalle_params = dallebart.load_dallebart("", dtype, random_config=preset.dalle_config)
        processor = _random_weights_processor(bart_tokenizer_dir, dalle.config)
        vqgan = VQModel(VQGANConfig(**preset.vqgan_config), dtype=dtype, _do_init=False)
        vqgan_params = _init(vqgan)
        clip, clip_params, clip_processor = clip_lib.load_clip(str(clip_tokenizer_dir), dtype,
                                                               random_config=preset.clip_config)
        sources = {k: f"random ({v} architecture)" for k, v in sources.items()}
        revisions = {"dalle": None, "vqgan": None, "clip": None}
    else:
        dalle, dalle_params = _load("--model", sources["dalle"], dallebart.load_dallebart, dtype)
        processor = _load("--model", sources["dalle"], dallebart.load_processor)
        vqgan, vqgan_params = _load("--vqgan", sources["vqgan"], _load_vqgan, dtype, vqgan_revision)
        clip, clip_params, clip_processor = _load("--clip", sources["clip"], clip_lib.load_clip, dtype)
        revisions = {name: _revision(model, sources[name])
                     for name, model in (("dalle", dalle), ("vqgan", vqgan), ("clip", clip))}

    return Models(
        spec=spec, sources=sources, random_weights=weights == "random", dalle=dalle, dalle_params=dalle_params,
        processor=processor, geometry=dallebart.TextGeometry.of(dalle.config), vqgan=vqgan,
        vqgan_params=vqgan_params, clip=clip, clip_params=clip_params, clip_processor=clip_processor,
        clip_prep=clip_lib.ClipPreprocessing.of(clip, clip_processor), revisions=revisions,
    )


def _revision(model, source: str) -> str | None:
    """transformers records the Hub commit a download resolved to; a local folder is named by its weights."""
    commit = getattr(model.config, "_commit_hash", None)
    if commit:
        return commit
    return weights_id(source) if looks_local(source) else None


def _load(option: str, source: str, loader, *args):
    if looks_local(source) and not Path(source).exists():
        raise BenchError(f"{option}: checkpoint not found: {source}")
    check_hub_source(source, option)  # neither cached nor reachable: one line now, not a minute of retries
    try:
        loaded = loader(source, *args)
    except BenchError:  # already names its problem, which is not the checkpoint (dalle-mini missing)
        raise
    except Exception as e:  # transformers/wandb raise many types for one cause: unusable checkpoint
        reason = first_line(e)
        raise BenchError(f"{option}: cannot load checkpoint '{source}': {reason}") from None
    if isinstance(loaded, tuple):
        check_complete(option, source, *loaded[:2])
    return loaded


def missing_weights(model, params) -> list[str]:
    """Weights the architecture needs that `params` lacks, as 'a/b/kernel' paths."""
    from flax.core import unfreeze
    from flax.traverse_util import flatten_dict

    expected = flatten_dict(unfreeze(model.params_shape_tree))
    return sorted("/".join(map(str, key)) for key in expected.keys() - flatten_dict(unfreeze(params)).keys())


def check_complete(option: str, source: str, model, params) -> None:
    """A checkpoint without every weight of its architecture is refused in one
    line. transformers says so only in a warning, which the CLI's
    TRANSFORMERS_VERBOSITY=error hides, and loading with _do_init=False leaves
    the weights out instead of initialising them."""
    missing = missing_weights(model, params)
    if missing:
        raise BenchError(f"{option}: checkpoint '{source}' lacks {len(missing)} weight(s) of its architecture, "
                         f"e.g. {', '.join(missing[:3])}")


def _load_vqgan(source: str, dtype, revision: str | None):
    model, params = VQModel.from_pretrained(source, revision=revision, dtype=dtype, _do_init=False)
    return model, dallebart.cast_floating(params, dtype)


def _init(vqgan: VQModel):
    from .random_init import random_weights

    shape = (1, vqgan.config.resolution, vqgan.config.resolution, vqgan.config.in_channels)
    return random_weights(vqgan.init_weights, shape, dtype=vqgan.dtype)


def _random_weights_processor(tokenizer_dir: Path, config):
    dm = dallebart.dalle_mini()
    tokenizer = dm.DalleBartTokenizer.from_pretrained(str(tokenizer_dir))
    # The published tokenizer cannot be downloaded here; token ids only need to
    # be in range, and the padded text length (the cost) is the real one.
    return dm.DalleBartProcessor(tokenizer, False, config.max_text_length)
