"""bench/base/torch_free.py: transformers imported without torch, in a fresh interpreter, and the
user's USE_TORCH left to stand."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

from tests.conftest import REPO

CHECK = """
import os, sys
from bench.base.torch_free import transformers_without_torch
turned_off = transformers_without_torch()
from transformers.utils import is_torch_available
from transformers import CLIPProcessor  # its image utilities import torchvision where it is available
print(turned_off, is_torch_available(), "torch" in sys.modules, "torchvision" in sys.modules,
      os.environ.get("USE_TORCH"))
"""


def _fresh(env_extra: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "USE_TORCH"} | env_extra
    proc = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()


def test_a_fresh_process_imports_transformers_without_torch_and_leaves_no_variable():
    assert _fresh({}) == ["True", "False", "False", "False", "None"]


def test_the_users_use_torch_stands():
    # USE_TORCH=0 set by the user: nothing is done here, and transformers follows the user.
    turned_off, torch_available, *_, variable = _fresh({"USE_TORCH": "0"})
    assert (turned_off, torch_available, variable) == ("False", "False", "0")


def test_nothing_changes_once_transformers_is_imported():
    from bench.base.torch_free import transformers_without_torch

    importlib.import_module("transformers")  # this test process has it, with torch

    assert transformers_without_torch() is False and "USE_TORCH" not in os.environ


def test_only_metrics_with_a_pytorch_network_keep_torch():
    from evals.features import needs_torch
    from evals.registry import resolve

    assert not needs_torch(resolve(["adherence"]))  # the shapes world's checker: numpy
    for name in ("clip", "fid", "cmmd", "fd_dinov2"):
        assert needs_torch(resolve([name, "adherence"])), name


def test_a_command_asks_the_registry_by_metric_name():
    from bench.jobs.loadgen.accuracy import QualitySettings, metric_names
    from evals.registry import run_torch

    assert run_torch(["adherence"]) is False and run_torch([]) is False
    assert run_torch(["clip"]) is True
    assert run_torch(["adherance"]) is True  # the command's own check names the mistake, with torch or not
    # LoadGen's accuracy: no metric without a CLIP or a reference, and each of those runs a network.
    assert run_torch(metric_names(QualitySettings(clip=None))) is False
    assert run_torch(metric_names(QualitySettings(clip=None, fid_ref="point:x"))) is True
