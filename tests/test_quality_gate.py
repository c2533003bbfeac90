"""The quality gate is live. Against the stored shapes baseline (`bench/data/baselines/shapes`,
`make baseline-shapes`) a run of this code passes with the same adherence, and a run of a copy of
this repository whose sampler is broken on purpose (the conditioned and unconditioned logits
swapped in super-conditioning) fails `compare` on quality, exit status 1. The copy runs as users
run the CLI: `python -m bench` from its own folder, so its `bench` package is the broken one."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import pytest

from bench import data

from .conftest import REPO

pytestmark = pytest.mark.xdist_group("test_shapes_quality")  # the same preset's programs, one worker

BASELINE = data.path("baselines", "shapes")
THRESHOLDS = REPO / "results" / "baselines" / "shapes-thresholds.toml"
LOOP = Path("bench") / "core" / "sampling" / "loop.py"
SUPER_CONDITIONING = 'super_condition_rows(pairs[:, 0], pairs[:, 1], settings["cond_scale"])'
SWAPPED = 'super_condition_rows(pairs[:, 1], pairs[:, 0], settings["cond_scale"])'


def _baseline_sweep() -> list[str]:
    """The Makefile's SHAPES_BASELINE_SWEEP, so the test sweeps exactly as the baseline was made."""
    text = (REPO / "Makefile").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("SHAPES_BASELINE_SWEEP :="))
    return shlex.split(line.split(":=", 1)[1])


def _sweep(run_cli, repo: Path, out: Path, run_id: str) -> Path:
    run_cli("sweep", *_baseline_sweep(), "--out", out, "--run-id", run_id, cwd=repo, check=True)
    return out / run_id


def _compare(run_cli, candidate: Path) -> tuple[int, dict]:
    proc = run_cli("compare", BASELINE, candidate, "--thresholds", THRESHOLDS, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def _adherence_gate(result: dict) -> dict:
    (point,) = result["points"]
    return next(g for g in point["gates"] if g["metric"] == "adherence")


def test_the_stored_baseline_is_what_the_makefile_sweep_makes():
    run = json.loads((BASELINE / "run.json").read_text())
    assert run["definition"]["preset"] == "shapes" and not list(BASELINE.rglob("*.png"))
    command = run["sessions"][0]["command"][2:]
    # made as `--out results/baselines`, before the baseline moved into the package (the Makefile's --out now)
    assert command[:-4] == _baseline_sweep() and command[-4:] in (
        ["--out", folder, "--run-id", "shapes"] for folder in ("results/baselines", "bench/data/baselines"))


def test_an_unchanged_run_passes_the_quality_gate(run_cli, tmp_path):
    run = _sweep(run_cli, REPO, tmp_path, "same")
    status, result = _compare(run_cli, run)
    assert status == 0 and result["verdict"] == "pass", json.dumps(result, indent=1)[-3000:]
    gate = _adherence_gate(result)
    assert gate["verdict"] == "ok" and gate["baseline"] > 0.4 and abs(gate["change"]) <= 0.05


@pytest.mark.integration
def test_a_sampler_with_swapped_super_conditioning_fails_the_quality_gate(run_cli, tmp_path):
    """Integration tier (a copy of the repository and a second shapes sweep): in `make test`,
    test_an_unchanged_run_passes_the_quality_gate gates this code's own sampler against the stored
    baseline (a broken one fails it), and tests/test_compare.py's adherence and CLIP tests
    (test_adherence_is_decided_on_pass_counts, test_the_clip_score_gate_is_a_one_sided_welch_test)
    how the gate decides."""
    broken = tmp_path / "broken-repo"
    shutil.copytree(REPO, broken, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "results", ".benchmarks", ".hypothesis", ".pytest_cache", "__pycache__", "*.egg-info"))
    source = (broken / LOOP).read_text()
    assert source.count(SUPER_CONDITIONING) == 1, f"{LOOP} changed: update the mutation"
    (broken / LOOP).write_text(source.replace(SUPER_CONDITIONING, SWAPPED))
    run = _sweep(run_cli, broken, tmp_path, "broken")
    status, result = _compare(run_cli, run)
    assert status == 1 and result["verdict"] == "fail"
    gate = _adherence_gate(result)
    assert gate["verdict"] == "regression" and gate["change"] < -0.2, gate
    (point,) = result["points"]
    clip = next(g for g in point["gates"] if g["metric"] == "clip_score_mean")  # the shapes CLIP sees it too
    assert clip["verdict"] == "regression", clip
