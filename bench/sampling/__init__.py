"""Token sampling: pure logits warpers and the cached autoregressive loop."""

from .config import SETTING_KEYS, SamplingConfig, SamplingStructure, settings_rows
from .loop import sample_image_tokens, image_keys

__all__ = ["SETTING_KEYS", "SamplingConfig", "SamplingStructure", "settings_rows", "sample_image_tokens",
           "image_keys"]
