from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SamplingConfig:
    """How image tokens are drawn. Static: each distinct value compiles its own program."""

    temperature: float = _setting(1.0, "Divide the logits by T before sampling (T > 0).")
    top_k: int = _setting(0, "Keep only the k most likely tokens; 0 turns the filter off.")
    top_p: float = _setting(1.0, "Keep the most likely tokens until their probability reaches p, in (0, 1]; "
                                 "1 turns the filter off.")
    cond_scale: float = _setting(10.0, "Super-conditioning: uncond + scale * (cond - uncond), scale >= 0; "
                                       "1 skips the unconditioned pass.")

    def __post_init__(self):
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"--temperature must be > 0 and finite, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"--top-k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"--top-p must be in (0, 1], got {self.top_p}")
        if not (self.cond_scale >= 0 and math.isfinite(self.cond_scale)):
            raise ValueError(f"--cond-scale must be >= 0 and finite, got {self.cond_scale}")

    @property
    def unconditioned_pass(self) -> bool:
        return self.cond_scale != 1.0

    @classmethod
    def help(cls, name: str) -> str:
        """Help text defined once, on the field, and reused by the CLI."""
        return {f.name: f.metadata["help"] for f in fields(cls)}[name]
