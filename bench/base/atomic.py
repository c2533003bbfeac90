"""Replacing a file in one step, the one way every writer here does it:
write a temporary file beside it, then rename it over the old one. A reader
(or a run killed half-way) sees the old file or the new one, never half of
one, and a failed write leaves no temporary file behind."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def replacing(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yields a temporary path beside `path` (same suffix, so writers that
    add one, like numpy's savez, keep the name) for the caller to write.
    When the block ends without error it replaces `path`; on any error it is
    removed and the old file stays. `durable`: flushed to disk before the
    rename, for result tables a crash right after must not leave empty."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
