from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Sequence

import numpy as np

# The per-row sampling inputs of a compiled program (each a (rows,) array in its batch).
SETTING_KEYS = ("inv_temperature", "top_k", "top_p", "cond_scale")


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SamplingConfig:
    """How image tokens are drawn. The values are inputs of the compiled
    program (one per batch row, `rows`); only its `structure` shapes the program."""

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

    @property
    def structure(self) -> "SamplingStructure":
        return SamplingStructure.of(self.cond_scale, self.top_k, self.top_p)

    def rows(self, count: int) -> dict[str, np.ndarray]:
        """This setting for `count` batch rows, as the program takes it."""
        return settings_rows([self] * count)

    @classmethod
    def help(cls, name: str) -> str:
        """Help text defined once, on the field, and reused by the CLI."""
        return {f.name: f.metadata["help"] for f in fields(cls)}[name]


@dataclass(frozen=True)
class SamplingStructure:
    """What of the sampling settings changes the compiled program: whether
    the unconditioned pass runs, and whether a top-k/top-p filter (one sort)
    runs at all. Every setting of one structure runs in the same program."""

    unconditioned_pass: bool = True
    filtered: bool = False

    @property
    def key(self) -> str:
        """Short name: plain, uncond, filter or uncond+filter."""
        parts = [name for name, on in (("uncond", self.unconditioned_pass), ("filter", self.filtered)) if on]
        return "+".join(parts) or "plain"

    @classmethod
    def of(cls, cond_scale: float, top_k: int, top_p: float) -> "SamplingStructure":
        """The structure of these setting values (checked or not: a sweep groups invalid points too)."""
        return cls(unconditioned_pass=cond_scale != 1.0, filtered=top_k > 0 or top_p < 1.0)

    @classmethod
    def covering(cls, configs: Sequence[SamplingConfig]) -> "SamplingStructure":
        """The structure a batch mixing `configs` needs."""
        return cls(unconditioned_pass=any(c.unconditioned_pass for c in configs),
                   filtered=any(c.structure.filtered for c in configs))


def settings_rows(configs: Sequence[SamplingConfig]) -> dict[str, np.ndarray]:
    """One row of program inputs per config. The temperature goes in as its
    float32 reciprocal: a static program had `logits / T` with T a constant,
    which XLA rewrites into a multiplication by the rounded reciprocal, so
    the traced program multiplies by the same number and draws the same tokens."""
    temperature = np.asarray([c.temperature for c in configs], np.float32)
    return {"inv_temperature": np.float32(1.0) / temperature,
            "top_k": np.asarray([c.top_k for c in configs], np.int32),
            "top_p": np.asarray([c.top_p for c in configs], np.float32),
            "cond_scale": np.asarray([c.cond_scale for c in configs], np.float32)}
