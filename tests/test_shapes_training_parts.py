"""Pure parts of train-shapes (no training here): the word tokenizers, the
relabelling of DalleBart's token ids, the reference folder."""

from __future__ import annotations

import numpy as np
import pytest

from bench.jobs.train.dallebart import to_codes
from bench.jobs.train.tokenizers import world_words, write_bart_tokenizer, write_clip_tokenizer
from bench.shapes import checker
from bench.shapes.reference import reference_folder


def test_every_world_word_is_one_token_in_both_tokenizers(tmp_path):
    from transformers import BartTokenizerFast, CLIPTokenizerFast

    write_bart_tokenizer(tmp_path / "bart")
    write_clip_tokenizer(tmp_path / "clip")
    bart = BartTokenizerFast.from_pretrained(tmp_path / "bart")
    clip = CLIPTokenizerFast.from_pretrained(tmp_path / "clip")
    for word in world_words():
        assert len(bart(f"x {word}", add_special_tokens=False)["input_ids"]) == 2, word  # x, then the word
        assert len(bart(word, add_special_tokens=False)["input_ids"]) == 1, word
        assert len(clip(word, add_special_tokens=False)["input_ids"]) == 1, word
    assert clip.eos_token_id == len(clip) - 1  # CLIP's text pooling takes the largest id
    assert len(bart("a fox", add_special_tokens=False)["input_ids"]) > 2  # any text still encodes, by bytes


def test_relabelling_token_ids_permutes_embeddings_and_logits_alike():
    rng = np.random.default_rng(0)
    vocab, width = 5, 3
    params = {"model": {"decoder": {"embed_tokens": {"embedding": rng.normal(size=(vocab + 1, width))}}},
              "lm_head": {"kernel": rng.normal(size=(width, vocab + 1))}}
    table = np.array([3, 0, 4])  # cell token c -> code table[c]; codes 1, 2 unused
    relabelled = to_codes(params, table, vocab)
    old_embed = params["model"]["decoder"]["embed_tokens"]["embedding"]
    new_embed = relabelled["model"]["decoder"]["embed_tokens"]["embedding"]
    for cell, code in enumerate(table):
        np.testing.assert_array_equal(new_embed[code], old_embed[cell])
        np.testing.assert_array_equal(relabelled["lm_head"]["kernel"][:, code], params["lm_head"]["kernel"][:, cell])
    np.testing.assert_array_equal(new_embed[vocab], old_embed[vocab])  # the start token keeps its id
    with pytest.raises(ValueError, match="not one-to-one"):
        to_codes(params, np.array([1, 1, 2]), vocab)


def test_reference_folder_holds_world_images_that_pass_their_captions(tmp_path):
    from PIL import Image

    folder = reference_folder(tmp_path, count=12)
    captions = (folder / "captions.txt").read_text().splitlines()
    files = sorted(folder.glob("*.png"))
    assert len(files) == len(captions) == 12
    for f, caption in zip(files, captions):
        assert checker.score_image(np.asarray(Image.open(f).convert("RGB")), caption).passed
    assert reference_folder(tmp_path, count=12) == folder  # cached


def test_the_untrained_vqgan_decoder_starts_as_nearest_neighbour_upsampling():
    """start_as_skip_paths: residual branches at zero and identity upsampling, so each code's
    features reach exactly its own 16x16 cell (mixed with its neighbours' by conv_in, at the code
    grid); only conv_out's 3x3 kernel reaches one pixel past a cell's edge."""
    from bench.core.models.vqgan import VQGANConfig, VQModel
    from bench.jobs.train.command import vqgan_config
    from bench.jobs.train.vqgan import start_as_skip_paths

    config = VQGANConfig(**vqgan_config().to_dict())
    model = VQModel(config, seed=0)
    codes = np.random.default_rng(0).integers(11, size=(1, 256))
    image = np.asarray(model.decode_code(codes, params=start_as_skip_paths(model.params)))[0]
    cells = image.reshape(16, 16, 16, 16, 3)[:, 1:-1, :, 1:-1]  # each cell without its outer pixel
    spread = cells.max(axis=(1, 3)) - cells.min(axis=(1, 3))
    assert spread.max() < 1e-5
    random_start = np.asarray(model.decode_code(codes, params=model.params))[0]
    assert (random_start.reshape(16, 16, 16, 16, 3)[:, 1:-1, :, 1:-1].std(axis=(1, 3))).max() > 1e-3
