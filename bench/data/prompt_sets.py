"""Prompt sets: the sets shipped in the package's data (bench/data/prompts/, by name),
or a file the user gives, in any of the formats below. Each prompt may carry
a category and a challenge label (PartiPrompts' scheme), used for the
per-category breakdowns of quality.

| format | recognised by | columns used |
| --- | --- | --- |
| plain text | any other suffix | one prompt a line; blank lines and `#` lines skipped |
| PartiPrompts | `.tsv` | `Prompt`, `Category`, `Challenge` |
| DrawBench | `.csv` | `Prompts` (or `Prompt`), `Category` |
| COCO captions | `.json` | `annotations[].caption` |
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from bench import data
from bench.base.errors import BenchError, did_you_mean

SUFFIXES = (".txt", ".tsv", ".csv", ".json")


@dataclass(frozen=True)
class PromptSet:
    name: str
    prompts: tuple[str, ...]
    categories: tuple[str, ...] | None = None
    challenges: tuple[str, ...] | None = None


def __getattr__(name: str):
    # PROMPTS_DIR is looked up when used, not at import: a zip install is then refused by the
    # command that needs the sets, in one line, rather than by an import traceback.
    if name == "PROMPTS_DIR":
        return data.path("prompts")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prompt_sets() -> dict[str, Path]:
    """Name -> file of every shipped set."""
    folder = data.path("prompts")
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in SUFFIXES}


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"--prompts: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None


def _table(path: Path, delimiter: str, prompt_columns: tuple[str, ...]) -> PromptSet:
    rows = list(csv.DictReader(_read_text(path).splitlines(), delimiter=delimiter))
    header = rows[0].keys() if rows else []
    column = next((c for c in prompt_columns if c in header), None)
    if column is None:
        raise BenchError(f"--prompts: {path} has no {' or '.join(prompt_columns)} column")
    rows = [r for r in rows if (r.get(column) or "").strip()]

    def labels(name: str):
        return tuple((r.get(name) or "").strip() for r in rows) if name in header else None

    return PromptSet(path.stem, tuple(r[column].strip() for r in rows), labels("Category"), labels("Challenge"))


def _coco(path: Path) -> PromptSet:
    try:
        data = json.loads(_read_text(path))
        captions = [a["caption"].strip() for a in data["annotations"] if a.get("caption", "").strip()]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BenchError(f"--prompts: {path} is not a COCO captions file (annotations[].caption)") from None
    return PromptSet(path.stem, tuple(captions))


def read_prompt_file(path: Path) -> PromptSet:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        prompt_set = _table(path, "\t", ("Prompt", "caption"))  # caption: MLPerf's COCO captions.tsv
    elif suffix == ".csv":
        prompt_set = _table(path, ",", ("Prompts", "Prompt"))
    elif suffix == ".json":
        prompt_set = _coco(path)
    else:
        lines = _read_text(path).splitlines()
        prompt_set = PromptSet(path.stem, tuple(line.strip() for line in lines
                                                if line.strip() and not line.lstrip().startswith("#")))
    if not prompt_set.prompts:
        raise BenchError(f"--prompts: {path} has no prompts")
    return prompt_set


def load_prompt_set(source: str) -> PromptSet:
    """A shipped set by name, or a file by path."""
    sets = prompt_sets()
    if source in sets:
        return read_prompt_file(sets[source])
    path = Path(source).expanduser()
    if path.exists():
        return read_prompt_file(path)
    if path.suffix or len(path.parts) > 1:
        raise BenchError(f"--prompts: file not found: {source}")
    raise BenchError(f"--prompts: unknown prompt set '{source}' (sets: {', '.join(sets)}; or give a file)"
                     f"{did_you_mean(source, sets)}")
