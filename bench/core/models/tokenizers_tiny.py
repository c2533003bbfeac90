"""The tiny preset's tokenizers, written rather than trained so they are
identical on every machine: byte-level vocabularies with no merges (every
byte is a token). They load through the same transformers classes as the
published tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers.pre_tokenizers import ByteLevel

BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def write_bart_tokenizer(folder: Path) -> int:
    """BART-style byte-level BPE (what DalleBartTokenizer loads). Returns the vocabulary size."""
    from transformers import BartTokenizerFast

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(BART_SPECIALS + alphabet + ["<mask>"])}
    return _save(folder, vocab, BartTokenizerFast)


def write_clip_tokenizer(folder: Path) -> int:
    """CLIP-style BPE, word-final symbols marked with </w>; end-of-text is the
    largest id, which CLIP's text pooling relies on."""
    from transformers import CLIPTokenizerFast

    alphabet = sorted(ByteLevel.alphabet())
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(tokens)}
    return _save(folder, vocab, CLIPTokenizerFast)


def _save(folder: Path, vocab: dict, tokenizer_class) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "_raw"
    raw.mkdir(exist_ok=True)
    (raw / "vocab.json").write_text(json.dumps(vocab))
    (raw / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = tokenizer_class(vocab_file=str(raw / "vocab.json"), merges_file=str(raw / "merges.txt"))
    tokenizer.save_pretrained(folder)
    for f in raw.iterdir():
        f.unlink()
    raw.rmdir()
    return len(vocab)
