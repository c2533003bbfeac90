"""Word-level tokenizers for the world: byte-level BPE whose merges are
learned (deterministically) from the world's words until each word is one
token. They load through transformers' BART and CLIP tokenizer classes, as
the published tokenizers do."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from bench.shapes.captions import COUNT_WORDS, RELATIONS
from bench.shapes.world import BACKGROUND_COLOURS, OBJECT_COLOURS, SHAPES, SIZES

BART_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
CLIP_SPECIALS = ["<|startoftext|>", "<|endoftext|>"]


def world_words() -> list[str]:
    words = {"a", "an", "on", "background", *OBJECT_COLOURS, *BACKGROUND_COLOURS, *SIZES, *COUNT_WORDS.values()}
    words |= set(SHAPES) | {s + "s" for s in SHAPES}
    words |= {w for relation in RELATIONS for w in relation.split()}
    return sorted(words)


def _train(model, trainer, pre_tokenizer, corpus: list[str]) -> tuple[dict, list[tuple[str, str]]]:
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.train_from_iterator(corpus, trainer)
    data = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["merges"]]
    return data["vocab"], merges


def _write(folder: Path, vocab: dict, merges: list, tokenizer_class, **kwargs) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / "_raw"
    raw.mkdir(exist_ok=True)
    (raw / "vocab.json").write_text(json.dumps(vocab))
    (raw / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = tokenizer_class(vocab_file=str(raw / "vocab.json"), merges_file=str(raw / "merges.txt"), **kwargs)
    tokenizer.save_pretrained(folder)
    for f in raw.iterdir():
        f.unlink()
    raw.rmdir()


def write_bart_tokenizer(folder: Path) -> int:
    """What DalleBartTokenizer loads; returns the vocabulary size."""
    from transformers import BartTokenizerFast

    words = world_words()
    corpus = [" ".join(words), " ".join(reversed(words))] + words  # every word with and without a leading space
    trainer = trainers.BpeTrainer(vocab_size=5000, min_frequency=1, special_tokens=BART_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    vocab, merges = _train(models.BPE(), trainer, pre_tokenizers.ByteLevel(add_prefix_space=False), corpus)
    _write(folder, vocab, merges, BartTokenizerFast)
    return len(vocab)


def write_clip_tokenizer(folder: Path) -> int:
    """CLIP-style BPE (word-final symbols marked </w>); end-of-text is the
    largest id, which CLIP's text pooling relies on."""
    from transformers import CLIPTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    trainer = trainers.BpeTrainer(vocab_size=5000, min_frequency=1, initial_alphabet=alphabet,
                                  end_of_word_suffix="</w>", show_progress=False)
    vocab, merges = _train(models.BPE(end_of_word_suffix="</w>"), trainer, pre_tokenizers.Whitespace(),
                           world_words())
    # Every single byte, alone and word-final, so any text encodes; specials last.
    tokens = alphabet + [c + "</w>" for c in alphabet]
    tokens += [t for t in sorted(vocab, key=vocab.get) if t not in set(tokens)]
    vocab = {t: i for i, t in enumerate(tokens + CLIP_SPECIALS)}
    _write(folder, vocab, merges, CLIPTokenizerFast)
    return len(vocab)
