"""PNG files for the hostile-input tests, written byte by byte: an image whose header
declares any size (a decompression bomb: a few kB that decode to gigabytes)."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height black pixels (20000 x 20000: about 50 kB), made
    row by row so that the pixels are never in memory at once."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
