"""`dalle-bench train-shapes`: trains the shapes preset's three models on
the world and writes ordinary checkpoint folders (dallebart/, vqgan/,
clip/), loaded by the same code as published checkpoints.

Stages: vqgan, dallebart (on cell tokens), clip, then assemble (the
VQGAN's colour -> code table, checked against the encoder on whole images;
DalleBart relabelled to codes; reconstruction error measured; training.json
written). The three training stages are independent and can run as
separate processes (`--stage`); without it they run one after another."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.base.errors import BenchError

STAGES = ("vqgan", "dallebart", "clip", "assemble")
CELL_MODEL = ".dallebart-cells"


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    vqgan_crop_steps: int = 400  # 4x4-cell crops, batch 16
    vqgan_image_steps: int = 80  # then whole images, batch 2 (see vqgan.py)
    vqgan_learning_rate: float = 3e-3
    dallebart_steps: int = 3000
    dallebart_batch: int = 64
    dallebart_learning_rate: float = 1.5e-3
    drop_caption: float = 0.15
    clip_steps: int = 800
    clip_batch: int = 128
    clip_learning_rate: float = 1e-3


def vqgan_config():
    from bench.core.models.presets import PRESETS
    from bench.core.models.vqgan import VQGANConfig

    return VQGANConfig(**PRESETS["shapes"].vqgan_config)


def _train_vqgan(out: Path, s: TrainSettings, echo):
    from .vqgan import Phase, train_vqgan

    phases = (Phase(s.vqgan_crop_steps, batch=16, crop_cells=4), Phase(s.vqgan_image_steps, batch=2, crop_cells=16))
    model = train_vqgan(vqgan_config(), seed=s.seed, phases=phases, learning_rate=s.vqgan_learning_rate, echo=echo)
    model.save_pretrained(out / "vqgan")


def _train_dallebart(out: Path, s: TrainSettings, echo):
    from bench.core.models.dallebart import dalle_mini
    from bench.core.models.presets import PRESETS

    from .dallebart import train_dallebart
    from .tokenizers import write_bart_tokenizer

    dm = dalle_mini()
    folder = out / CELL_MODEL
    vocab = write_bart_tokenizer(folder)
    config = dm.DalleBartConfig(**PRESETS["shapes"].dalle_config, encoder_vocab_size=vocab)
    processor = dm.DalleBartProcessor(dm.DalleBartTokenizer.from_pretrained(str(folder)), False,
                                      config.max_text_length)
    model = train_dallebart(config, processor, seed=s.seed, steps=s.dallebart_steps, batch=s.dallebart_batch,
                            learning_rate=s.dallebart_learning_rate, drop_caption=s.drop_caption, echo=echo)
    model.save_pretrained(folder)


def _train_clip(out: Path, s: TrainSettings, echo):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPProcessor, CLIPTokenizerFast, FlaxCLIPModel

    from bench.core.models.presets import PRESETS

    from .clip import train_clip
    from .tokenizers import write_clip_tokenizer

    config = PRESETS["shapes"].clip_config
    staging = out / ".clip-tokenizer"
    write_clip_tokenizer(staging)
    tokenizer = CLIPTokenizerFast.from_pretrained(staging)
    size = config["vision_config"]["image_size"]
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    text_config = dict(config["text_config"], vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model = FlaxCLIPModel(CLIPConfig(**dict(config, text_config=text_config)), seed=s.seed)
    model = train_clip(model, processor, seed=s.seed, steps=s.clip_steps, batch=s.clip_batch,
                       learning_rate=s.clip_learning_rate, echo=echo)
    processor.save_pretrained(out / "clip")
    model.save_pretrained(out / "clip")
    shutil.rmtree(staging)


def colour_codes(vqgan, params, seed: int) -> np.ndarray:
    """The code the encoder gives each named colour: the most frequent code
    over its cells in whole images (grids of random cells and world scenes)."""
    from bench.shapes.world import COLOUR_NAMES, GRID

    from .data import images_of, training_scenes

    rng = np.random.default_rng(seed)
    grids = np.concatenate([rng.integers(len(COLOUR_NAMES), size=(4, GRID, GRID)), training_scenes(rng, 8)[1]])
    _, codes = vqgan.encode(images_of(grids), params=params)
    codes, cells = np.asarray(codes).ravel(), grids.ravel()
    return np.array([np.bincount(codes[cells == c], minlength=vqgan.config.n_embed).argmax()
                     for c in range(len(COLOUR_NAMES))])


def _assemble(out: Path, s: TrainSettings, echo, timings: dict):
    from bench.core.models.dallebart import dalle_mini
    from bench.core.models.vqgan import VQModel
    from bench.shapes.captions import parse
    from bench.shapes.checker import read_cells, score_grid

    from .dallebart import to_codes
    from .data import images_of, training_scenes

    vqgan = VQModel.from_pretrained(out / "vqgan")
    from bench.shapes.world import COLOUR_NAMES

    table = np.arange(len(COLOUR_NAMES))  # the codes the VQGAN was trained with (see vqgan.py)
    echo(f"encoder's most frequent code per colour: {colour_codes(vqgan, vqgan.params, s.seed + 2).tolist()} "
         f"(trained with {table.tolist()})")
    # The table must be what the encoder does on whole images of the world, cell for cell.
    captions, grids = training_scenes(np.random.default_rng(s.seed + 1), 8)
    images = images_of(grids)
    _, codes = vqgan.encode(images, params=vqgan.params)
    agreement = float((np.asarray(codes) == table[grids.reshape(len(grids), -1)]).mean())
    decoded = np.clip(np.asarray(vqgan.decode_code(table[grids.reshape(len(grids), -1)], params=vqgan.params)), 0, 1)
    mse = float(((decoded - images) ** 2).mean())
    max_error = float(np.abs(decoded - images).max())
    passed = float(np.mean([score_grid(read_cells(d), parse(c)).passed for d, c in zip(decoded, captions)]))
    echo(f"vqgan on world images: codes agree with the table on {agreement:.2%} of cells; reconstruction "
         f"mse {mse:.2e}, max abs error {max_error:.3f} (pixels in [0, 1]); checker passes {passed:.0%}")

    dm = dalle_mini()
    cells = out / CELL_MODEL
    model = dm.DalleBart.from_pretrained(str(cells))
    model.params = to_codes(model.params, table, vqgan.config.n_embed)
    model.save_pretrained(out / "dallebart")
    for f in cells.iterdir():
        if not f.name.startswith(("config", "flax_model")):
            shutil.copy(f, out / "dallebart" / f.name)
    shutil.rmtree(cells)
    record = {
        "command": "dalle-bench train-shapes --out " + str(out),
        "settings": dataclasses.asdict(s), "stage_seconds": timings,
        "colour_codes": table.tolist(), "vqgan_code_agreement": agreement, "vqgan_reconstruction_mse": mse,
        "vqgan_reconstruction_max_abs_error": max_error, "vqgan_reconstruction_checker_pass_rate": passed,
    }
    previous = out / "training.json"
    if previous.exists():
        record = {**json.loads(previous.read_text()), **record,
                  "stage_seconds": {**json.loads(previous.read_text()).get("stage_seconds", {}), **timings}}
    previous.write_text(json.dumps(record, indent=2) + "\n")


def check_stages(out: Path, stages: tuple[str, ...]) -> None:
    """Before any training: --out can be written, and assemble finds what it assembles (the vqgan
    and dallebart stages' checkpoints, from earlier in this invocation or an earlier one)."""
    from bench.results.runlock import check_output_folder

    check_output_folder(out, "--out")
    made: set[str] = set()
    for stage in stages:
        if stage == "assemble":
            for needed, folder in (("vqgan", out / "vqgan"), ("dallebart", out / CELL_MODEL)):
                if needed not in made:
                    _check_checkpoint(folder, needed)
        made.add(stage)


def _check_checkpoint(folder: Path, stage: str) -> None:
    files = ("config.json", "flax_model.msgpack")
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise BenchError(f"--stage assemble: no {stage} stage output in {folder} (missing {', '.join(missing)}): "
                         f"run --stage {stage} into this --out first (a finished checkpoint folder keeps no "
                         f"{CELL_MODEL}: assembling it again needs the dallebart stage)")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BenchError(f"--stage assemble: {folder / 'config.json'} is not readable JSON: {e}") from None
    if not isinstance(config, dict):
        raise BenchError(f"--stage assemble: {folder / 'config.json'} is not a model configuration "
                         "(not a JSON object)")


def train_shapes(out: Path, settings: TrainSettings, stages: tuple[str, ...] = STAGES, echo=print) -> None:
    check_stages(out, stages)
    import jax

    out.mkdir(parents=True, exist_ok=True)
    jobs = {"vqgan": _train_vqgan, "dallebart": _train_dallebart, "clip": _train_clip}
    timings = {}
    for stage in stages:
        start = time.perf_counter()
        if stage == "assemble":
            _assemble(out, settings, echo, timings)
        else:
            jobs[stage](out, settings, echo)
            timings[stage] = round(time.perf_counter() - start, 1)
            _merge_timing(out, stage, timings[stage], jax.__version__)
        echo(f"{stage}: {time.perf_counter() - start:.0f} s")


def _merge_timing(out: Path, stage: str, seconds: float, jax_version: str) -> None:
    path = out / "training.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record.setdefault("stage_seconds", {})[stage] = seconds
    record["jax"] = jax_version
    path.write_text(json.dumps(record, indent=2) + "\n")
