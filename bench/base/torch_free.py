"""Start-up without PyTorch where nothing needs it.

The pipeline is Flax, but transformers imports torch whenever torch is
installed (for its torch models and type checks), and its image utilities
import torchvision, which imports torch too: torch with its compiler stack
takes about 4 of the 7 seconds a `sweep` spends starting on a 2-core
machine. transformers decides once, when it is first imported, what is
available: it reads `USE_TORCH`, and looks torchvision up with
`importlib.util.find_spec`, which answers None for a name whose
`sys.modules` entry is None. A command that will run no metric imports it
with both turned off, and both are put back at once, so that processes the
command starts (repeats, other hosts, evaluations) decide for themselves."""

from __future__ import annotations

import importlib
import os
import sys

_HIDDEN = ("torchvision",)


def transformers_without_torch() -> bool:
    """Import transformers with torch and torchvision turned off, unless it (or torch) is imported
    already or the user set USE_TORCH (their choice stands). True when they were turned off here."""
    if any(name in sys.modules for name in ("transformers", "torch", *_HIDDEN)) or "USE_TORCH" in os.environ:
        return False
    os.environ["USE_TORCH"] = "0"
    sys.modules.update(dict.fromkeys(_HIDDEN))
    try:
        importlib.import_module("transformers.utils.import_utils")  # decides what is available, once
    finally:
        del os.environ["USE_TORCH"]
        for name in _HIDDEN:
            del sys.modules[name]
    return True
