"""What the user asked for (`ModelSpec`) and the checks that need no loading
(`check_spec`): importing this imports neither JAX nor torch, so a process
that only validates (the parent of `sweep --repeat`) stays light."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.base.choices import DTYPES, WEIGHTS
from bench.base.errors import BenchError
from bench.base.sources import looks_local

from .presets import UnknownPreset, get_preset


@dataclass(frozen=True)
class ModelSpec:
    preset: str = "tiny"
    weights: str | None = None
    """'pretrained' or 'random'; None picks the preset's default (random for tiny)."""
    model: str | None = None
    vqgan: str | None = None
    clip: str | None = None
    dtype: str = "float32"

    def resolved_weights(self) -> str:
        if get_preset(self.preset).random_only and self.weights != "pretrained":
            return "random"
        return self.weights or "pretrained"



def check_spec(spec: ModelSpec):
    """The checks that need no loading (names, combinations, local paths);
    a one-line BenchError for the first problem. Returns the preset."""
    try:
        preset = get_preset(spec.preset)
    except UnknownPreset as e:
        raise BenchError(f"--preset: {e.args[0]}") from None
    if spec.weights not in (None, *WEIGHTS):
        raise BenchError(f"--weights must be one of {', '.join(WEIGHTS)}, got '{spec.weights}'")
    if spec.dtype not in DTYPES:
        raise BenchError(f"--dtype must be one of {', '.join(DTYPES)}, got '{spec.dtype}'")
    if preset.random_only and spec.weights == "pretrained" and not (spec.model and spec.vqgan and spec.clip):
        raise BenchError("--weights pretrained: the tiny preset has no published weights; "
                         "give --model, --vqgan and --clip, or use --preset mini/mega")
    for option, source in (("--model", spec.model), ("--vqgan", spec.vqgan), ("--clip", spec.clip)):
        if source and looks_local(source) and not Path(source).exists():
            raise BenchError(f"{option}: checkpoint not found: {source}")
    return preset
