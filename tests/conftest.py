"""Shared test set-up. In-process tests see 4 emulated CPU devices (set
before JAX is imported); CLI tests run `python -m bench` as a subprocess, as
a user would (`run_cli`), or call the CLI in this process where a process of
its own proves nothing more (`cli_inprocess`), with a tiny-preset cache built
once per session."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# One JAX persistent compilation cache for the session, in this process and every CLI
# subprocess: many tests compile the same tiny programs, and on 2 cores compilation is most
# of their time. (A sweep records the cache's state in run.json, as for any user.)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _xla_cache = (Path(os.environ["DALLE_BENCH_TEST_CACHE"]) / "xla-cache" if os.environ.get("DALLE_BENCH_TEST_CACHE")
                  else Path(tempfile.mkdtemp(prefix="dalle-bench-test-xla-")))
    _xla_cache.mkdir(parents=True, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(_xla_cache)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    if not os.environ.get("DALLE_BENCH_TEST_CACHE"):
        atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)

# A shell without job control starts a command put in the background (`make test-integration &`, nohup
# in a script) with SIGINT ignored, and an ignored signal stays ignored through exec: the CLI processes
# that tests stop with SIGINT (Ctrl-C) would never see it. Each process here (each xdist worker too)
# takes Python's own handler back, so its children start with the default one, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With DALLE_BENCH_TEST_TIMELINE=DIR, each test's wall-clock span (set-up, call and tear-down) as
    `nodeid, start, end` in DIR/<worker>.tsv: how the xdist workers shared the suite, and which tests
    a worker spent its time on (docs/development.md, "Where the default tier's time goes")."""
    started = time.time()
    try:
        return (yield)
    finally:
        if folder := os.environ.get("DALLE_BENCH_TEST_TIMELINE"):
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            with open(Path(folder) / f"{worker}.tsv", "a") as timeline:
                timeline.write(f"{item.nodeid}\t{started:.3f}\t{time.time():.3f}\n")


def imported_modules(stderr: str) -> set[str]:
    """The modules a process run with PYTHONPROFILEIMPORTTIME=1 imported, read from its stderr listing."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def start_long_loadgen(tiny_cache: Path, out: Path, *extra: str) -> tuple[subprocess.Popen, list[str]]:
    """A tiny SingleStream loadgen of 600 s (run id `stopped`) started as a user would, returned once
    it says LoadGen is running, with the stderr lines so far: for tests that stop it mid-test."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(DALLE_BENCH_CACHE=str(tiny_cache), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "bench", "loadgen", "--scenario", "singlestream", "-n", "1", *extra,
                             "--min-duration", "600", "--out", str(out), "--run-id", "stopped"], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "LoadGen running" in line:
            break
    return proc, lines


@pytest.fixture(scope="session")
def cache_folder(tmp_path_factory) -> Path:
    """The session's dalle-bench cache folder ($DALLE_BENCH_CACHE), the tiny preset not built yet."""
    folder = Path(os.environ.get("DALLE_BENCH_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["DALLE_BENCH_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_cache(cache_folder) -> Path:
    """The cache folder with the tiny preset built, shared by every test of the session."""
    from bench.core.models.tiny import tiny_folder

    tiny_folder()
    return cache_folder


# A bound on one CLI call, so that a hung command ends the test: the evaluated sweep's `eval`
# (~300 s idle) passed 600 s on a fresh clone while ten other benchmark processes shared the two
# cores (2026-12-04), so the bound is twice that.
CLI_TIMEOUT_S = 1200


@pytest.fixture(scope="session")
def run_cli(tiny_cache):
    def run(*args: str, env: dict | None = None, check: bool = False, cwd: Path = REPO) -> subprocess.CompletedProcess:
        """`python -m bench ARGS` from `cwd` (a copy of the repository runs its own `bench`)."""
        full_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        full_env.update({"DALLE_BENCH_CACHE": str(tiny_cache), "TRANSFORMERS_VERBOSITY": "error"})
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "bench", *map(str, args)], cwd=cwd, env=full_env,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        if check and proc.returncode != 0:
            raise AssertionError(f"dalle-bench {' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    return run


@pytest.fixture(scope="session")
def cli_inprocess(cache_folder):
    """`run_cli`'s twin that calls `bench.cli.main` in this process: the same arguments, and the same
    `.returncode`, `.stdout`, `.stderr` back, without the ~3 s (7 with torch) a subprocess spends starting
    Python and JAX. For calls refused before JAX starts (bad input, one-line errors) and cheap calls that need no
    device count of their own. Keep `run_cli` (a real process) where the process itself is what is
    tested, since here:
    - JAX has this process's 4 emulated devices and cannot change them (`--host-devices` is refused
      once JAX has started; XLA_FLAGS is read once);
    - no signal reaches the command on its own, and no lock is held by another process;
    - an exit status comes from `main`, not from a real exit (os._exit after jax.distributed);
    - output written to file descriptors directly (XLA's C++ logs) and Python warnings (pytest
      records them) are not in `.stderr`; an unexpected exception becomes exit status 1 with its
      traceback in `.stderr`, as Python would print it;
    - Hugging Face reads HF_HUB_OFFLINE, HF_HUB_CACHE and HF_ENDPOINT once, at import, and
      bench.base.sources probes the Hub once a process: `env=` cannot change what they saw;
    - `cwd` must be the repository: a copy of it would still run this process's `bench`.
    What a command leaves behind in this process is undone after each call: os.environ, the
    working folder and JAX's configuration (a sweep turns on the compilation cache)."""
    import contextlib
    import io
    import traceback

    from bench.cli import main

    def run(*args, env: dict | None = None, check: bool = False, cwd: Path = REPO) -> subprocess.CompletedProcess:
        if Path(cwd).resolve() != REPO:
            raise ValueError("cli_inprocess runs this checkout's bench: use run_cli for another folder")
        argv = list(map(str, args))
        stdout, stderr = io.StringIO(), io.StringIO()
        saved_environ = dict(os.environ)
        saved_jax_config = _jax_config()
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(REPO)
            patch.setenv("DALLE_BENCH_CACHE", str(cache_folder))
            patch.setenv("TRANSFORMERS_VERBOSITY", "error")
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            try:
                with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                    main(argv)
                returncode = 0
            except SystemExit as e:
                returncode = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:  # what Python prints for an uncaught exception in a real process
                stderr.write(traceback.format_exc())
                returncode = 1
            finally:
                os.environ.clear()
                os.environ.update(saved_environ)
                _restore_jax_config(saved_jax_config)
        proc = subprocess.CompletedProcess(["dalle-bench", *argv], returncode, stdout.getvalue(), stderr.getvalue())
        if check and proc.returncode != 0:
            raise AssertionError(f"dalle-bench {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc

    return run


def _jax_config() -> dict:
    """JAX's configuration values (a command may change them)."""
    import jax

    return dict(jax.config.values)


def _restore_jax_config(saved: dict) -> None:
    import jax

    for name, value in list(jax.config.values.items()):
        if name in saved and saved[name] != value:
            jax.config.update(name, saved[name])


@pytest.fixture(scope="session")
def tiny_models(tiny_cache):
    """The tiny preset loaded in this process (float32)."""
    from bench.core.models.loading import ModelSpec, load_models

    return load_models(ModelSpec(preset="tiny"))


@pytest.fixture(scope="session")
def torch_clip(tmp_path_factory, tiny_cache):
    """The tiny preset's CLIP converted to PyTorch, saved as a checkpoint folder with its processor:
    its scores are positive and differ between images and prompts, as the in-pipeline ones."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, FlaxCLIPModel
    from transformers.modeling_flax_pytorch_utils import load_flax_weights_in_pytorch_model

    from bench.core.models.presets import PRESETS
    from bench.core.models.tiny import tiny_folder

    folder = tmp_path_factory.mktemp("clip")
    # (from_pretrained(from_flax=True) leaves tensors on the meta device that cannot be saved.)
    flax = FlaxCLIPModel.from_pretrained(tiny_folder() / "clip")
    model = CLIPModel(CLIPConfig(**PRESETS["tiny"].clip_config)).eval()
    model = load_flax_weights_in_pytorch_model(model, flax.params)
    model.save_pretrained(folder)
    CLIPProcessor.from_pretrained(tiny_folder() / "clip").save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """torch-fidelity's Inception network with random weights, saved as a state dict."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *args, **kwargs):  # keep the random initialisation
            return None

    folder = tmp_path_factory.mktemp("inception")
    placeholder = folder / "placeholder.pth"
    torch.save({}, placeholder)
    torch.manual_seed(0)
    network = Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(placeholder))
    path = folder / "inception-random.pth"
    torch.save(network.state_dict(), path)
    return path


# Eight points that give every report plot two or more values to draw: two parallel modes,
# two batch sizes per mode, one and two devices, two condition scales and two temperatures.
REPORT_SWEEP = """\
[grid]
devices = [1, 2]

[zip]
parallel = ["sharded", "sharded", "pmap", "pmap"]
batch_per_device = [1, 2, 1, 2]
cond_scale = [3.0, 1.0, 3.0, 3.0]
temperature = [1.0, 1.0, 0.7, 1.0]
"""


@pytest.fixture(scope="session")
def evaluated_sweep(tmp_path_factory, run_cli, cli_inprocess, torch_clip, inception_weights) -> Path:
    """A finished tiny sweep of eight points with CLIP score and FID (against its
    first point), shared read-only by the report and compare tests: copy it
    before changing anything in it. Four calls a point: the fewest with which
    compare's latency test can decide."""
    out = tmp_path_factory.mktemp("evaluated")
    (out / "sweep.toml").write_text(REPORT_SWEEP)
    run_cli("sweep", "--sweep", out / "sweep.toml", "--no-stages", "--iters", "4", "-n", "2", "--out", out,
            "--run-id", "base", "--no-progress", "--no-report", check=True)
    run_dir = out / "base"
    import pandas as pd

    first = pd.read_parquet(run_dir / "points.parquet").point_id[0]
    cli_inprocess("eval", run_dir, "--metrics", "clip,fid", "--clip", torch_clip, "--fid-ref", f"point:{first}",
                  "--inception-weights", inception_weights, check=True)
    return run_dir

