"""dalle-bench as a regular (non-editable) install: the wheel carries what the
benchmark reads at run time (the prompt sets, the shapes preset's checkpoints,
the stored shapes baseline, the loadgen benchmark definitions, the accelerator
matrix), and an installed copy runs from any folder, with nothing of this
checkout on its path."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from bench import data

from .conftest import CLI_TIMEOUT_S, REPO

pytestmark = pytest.mark.xdist_group("test_package")  # one wheel build for the file

# What the wheel must hold, as paths inside it.
PROMPT_SETS = ("curated.tsv", "demo.txt", "shapes.tsv", "shapes_demo.tsv", "shapes_train.tsv")
SHAPES_CHECKPOINT = ("training.json", "clip/config.json", "clip/flax_model.msgpack", "clip/tokenizer.json",
                     "dallebart/config.json", "dallebart/flax_model.msgpack", "dallebart/tokenizer.json",
                     "vqgan/config.json", "vqgan/flax_model.msgpack")
SHAPES_BASELINE = ("run.json", "points.parquet", "prompt_scores.parquet")
BENCHMARKS = ("mini.toml", "mega.toml", "shapes.toml")
SHIPPED_DATA = ([f"prompts/{name}" for name in PROMPT_SETS]
                + [f"checkpoints/shapes/{name}" for name in SHAPES_CHECKPOINT]
                + [f"baselines/shapes/{name}" for name in SHAPES_BASELINE])


def _clean_env(**extra: str) -> dict:
    """The environment without this checkout on the import path (pytest runs with it on PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of what the build reads, so the checkout gets no build/
    folder and no egg-info from the test."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("bench", "evals"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    "."], cwd=source, env=_clean_env(), check=True, capture_output=True, timeout=600)
    (built,) = out.glob("dalle_bench-*.whl")
    return built


def test_the_wheel_ships_the_run_time_data(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = ([f"bench/data/{name}" for name in SHIPPED_DATA]
                + [f"bench/jobs/loadgen/benchmarks/{name}" for name in BENCHMARKS] + ["bench/jobs/accelerator/matrix.toml"])
    assert not [name for name in expected if name not in names]
    assert any(name.startswith("bench/data/baselines/shapes/images/") for name in names)

    # bench.data.path finds them in the unpacked wheel, imported with nothing else on the path
    # (-S: no site-packages, so no editable install of this checkout; -P: not the current folder).
    zipfile.ZipFile(wheel).extractall(tmp_path / "unpacked")
    probe = ("import sys, bench.data as d; print(d.__file__); "
             "print(all(d.path(*name.split('/')).is_file() for name in sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-S", "-P", "-c", probe, *SHIPPED_DATA], cwd=tmp_path,
                          env=_clean_env(PYTHONPATH=str(tmp_path / "unpacked")), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    module, found = done.stdout.split()
    assert Path(module).is_relative_to(tmp_path / "unpacked") and found == "True"


def test_a_zip_on_the_path_is_refused_in_one_line(wheel, tmp_path):
    """Tokenizers and from_pretrained need real folders: bench run from a zip says so, not a traceback."""
    probe = ("from bench.base.errors import BenchError\nfrom bench.data.prompt_sets import prompt_sets\n"
             "try:\n    prompt_sets()\nexcept BenchError as e:\n    print(e)")
    done = subprocess.run([sys.executable, "-S", "-P", "-c", probe], cwd=tmp_path,
                          env=_clean_env(PYTHONPATH=str(wheel)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 and "not a folder" in done.stdout


def test_the_shapes_reference_run_resolves_from_any_folder(tmp_path, monkeypatch):
    """The shapes definition names its reference `results/baselines/shapes`, as the run records written
    before the move do: from a folder without it, that is the shipped run; a folder of that name where
    the command runs comes first, as before; a path found nowhere is named as given."""
    from bench.jobs.loadgen.accuracy_check import _resolve, reference_bands
    from bench.jobs.loadgen.benchmark import load_benchmark

    monkeypatch.chdir(tmp_path)
    shipped = data.path("baselines", "shapes")
    assert _resolve("results/baselines/shapes") == _resolve("baselines/shapes") == shipped
    (adherence, _) = reference_bands(load_benchmark("shapes"))
    assert adherence.source.startswith("results/baselines/shapes points.parquet")
    (tmp_path / "results" / "baselines" / "shapes").mkdir(parents=True)
    assert _resolve("results/baselines/shapes") == Path("results/baselines/shapes")
    assert _resolve("results/references/mini") == Path("results/references/mini")


@pytest.mark.integration
def test_an_installed_wheel_runs_from_any_folder(wheel, tiny_cache, tmp_path):
    """A fresh venv whose only bench is the wheel's: its dependencies come from this interpreter's
    site-packages, named in a .pth file (whose own .pth files, this checkout's editable install among
    them, are not processed). From a folder with nothing of the checkout in it, `prompts list`, a
    tiny sweep and a shapes generate work. 136 s on the project's 2-core machine shared with other
    runs (2026-12-04), most of it the sweep's and generate's compilation; the session's tiny cache
    and the wheel are built before it (the whole file took 286 s)."""
    started = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], env=_clean_env(), check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(DALLE_BENCH_CACHE=str(tiny_cache), TRANSFORMERS_VERBOSITY="error")

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([venv / "bin" / "dalle-bench", *args], cwd=elsewhere, env=env, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S)
        assert done.returncode == 0, f"dalle-bench {' '.join(args)}: {done.stderr[-3000:]}"
        return done

    where = subprocess.run([python, "-c", "import bench; print(bench.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site_packages), where

    listed = {line.split("\t")[0] for line in run("prompts", "list").stdout.splitlines()}
    assert {Path(name).stem for name in PROMPT_SETS} <= listed

    run("sweep", "--preset", "tiny", "-n", "1", "--iters", "1", "--warmup", "0", "--no-stages", "--no-report",
        "--no-progress", "--out", "out", "--run-id", "tiny")
    assert (elsewhere / "out" / "tiny" / "points.parquet").is_file()

    run("generate", "--preset", "shapes", "-n", "1", "--no-progress", "--out", "generated", "a green square")
    assert list((elsewhere / "generated").rglob("*.png"))
    print(f"installed-wheel test: {time.monotonic() - started:.0f} s")
