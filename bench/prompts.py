"""Prompt sets: a name of a file in the project's prompts/ folder, or a path
to a text file with one prompt per line (blank lines and lines starting with
# are skipped)."""

from __future__ import annotations

import difflib
from pathlib import Path

from .errors import BenchError

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


def prompt_sets() -> list[str]:
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")) if PROMPTS_DIR.is_dir() else []


def read_prompt_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"--prompts: cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise BenchError(f"--prompts: {path} has no prompts")
    return prompts


def load_prompts(source: str) -> list[str]:
    """The prompts of a set name or a file path."""
    path = Path(source).expanduser()
    if path.suffix or path.parent != Path(".") or path.exists():
        if not path.exists():
            raise BenchError(f"--prompts: file not found: {source}")
        return read_prompt_file(path)
    if source in prompt_sets():
        return read_prompt_file(PROMPTS_DIR / f"{source}.txt")
    close = difflib.get_close_matches(source, prompt_sets(), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise BenchError(f"--prompts: unknown prompt set '{source}' (sets: {', '.join(prompt_sets())}; "
                     f"or give a file){hint}")
