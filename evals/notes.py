"""`quality_notes`: why a requested quality figure is null, one entry per
metric ('isc: 8 images, fewer than ...; fid: ...'), kept in the row beside
the figures so that every output that shows them can say why one is missing."""

from __future__ import annotations


def format_notes(notes: dict[str, str]) -> str | None:
    """{'isc': 'why'} -> 'isc: why' (entries joined by '; '), None when empty."""
    return "; ".join(f"{metric}: {reason}" for metric, reason in sorted(notes.items())) or None


def parse_notes(text: str | None) -> dict[str, str]:
    return dict(entry.split(": ", 1) for entry in text.split("; ")) if text else {}
