"""What a completed sample hands LoadGen (pure): its tokens, and in accuracy
mode its image, as bytes that LoadGen copies into its accuracy log; and the
way back from those bytes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.results.outputs import to_uint8


@dataclass(frozen=True)
class ResponseLayout:
    """Bytes of one response: `tokens` int32 little-endian, then (when
    `image_shape` is set) the image as uint8 rows, H x W x 3."""

    tokens: int
    image_shape: tuple[int, ...] | None

    def encode(self, tokens: np.ndarray, image: np.ndarray | None) -> np.ndarray:
        parts = [np.ascontiguousarray(tokens, dtype="<i4").view(np.uint8)]
        if self.image_shape is not None:
            parts.append(to_uint8(image).reshape(-1))
        return np.concatenate(parts)

    def decode(self, data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
        expected = self.tokens * 4 + (int(np.prod(self.image_shape)) if self.image_shape else 0)
        if len(data) != expected:
            raise ValueError(f"a response holds {len(data)} bytes, the layout {expected}")
        raw = np.frombuffer(data, np.uint8)
        tokens = raw[:self.tokens * 4].view("<i4").astype(np.int32)
        image = raw[self.tokens * 4:].reshape(self.image_shape) if self.image_shape else None
        return tokens, image

    def to_json(self) -> dict:
        return {"tokens": self.tokens, "token_dtype": "int32 little-endian",
                "image_shape": list(self.image_shape) if self.image_shape else None, "image_dtype": "uint8"}
