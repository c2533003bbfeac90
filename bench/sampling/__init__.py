"""Token sampling: pure logits warpers and the cached autoregressive loop."""

from .config import SamplingConfig
from .loop import sample_image_tokens, image_keys

__all__ = ["SamplingConfig", "sample_image_tokens", "image_keys"]
