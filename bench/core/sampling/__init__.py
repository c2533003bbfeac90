"""Token sampling: pure logits warpers and the cached autoregressive loop.

The loop (and JAX with it) is imported on first use, not with the package:
the command line reads `SamplingConfig` for its help text and validation,
and a mistyped option must be refused without waiting for JAX to import."""

from .config import SETTING_KEYS, SamplingConfig, SamplingStructure, settings_rows

__all__ = ["SETTING_KEYS", "SamplingConfig", "SamplingStructure", "settings_rows", "sample_image_tokens",
           "image_keys"]


def __getattr__(name: str):
    if name in ("sample_image_tokens", "image_keys"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
