"""Bad input to `dalle-bench sweep` and `report`: one line naming the
problem, exit status 2, and nothing already written is touched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

# One pytest-xdist worker runs this module: its module fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_sweep_bad_input")

CASES = {
    "empty axis": (["--temperature", ","], "--temperature: empty list"),
    "unknown value": (["--parallel", "pmapp"], "did you mean 'pmap'"),
    "not a number": (["--top-k", "many"], "--top-k: 'many' is not an integer"),
    "bad temperature": (["--temperature", "1,0"], "--temperature must be > 0"),
    "bad top-p": (["--top-p", "1.5"], "--top-p must be in (0, 1]"),
    "bad dtype": (["--dtype", "float64"], "--dtype must be one of"),
    "too many devices": (["--devices", "1,4", "--host-devices", "2"], "--devices 4: only 2 cpu device(s) available"),
    "unknown preset": (["--preset", "mgea"], "did you mean 'mega'"),
    "unknown prompt set": (["--prompts", "dmeo"], "did you mean 'demo'"),
    "empty prompt file": (["--prompts", "{tmp}/empty.txt"], "has no prompts"),
    "missing sweep file": (["--sweep", "{tmp}/none.toml"], "cannot read"),
    "sweep file does not parse": (["--sweep", "{tmp}/broken.toml"], "does not parse"),
    "unknown axis in file": (["--sweep", "{tmp}/unknown_axis.toml"], "unknown sweep axis 'temprature'"),
    "empty grid in file": (["--sweep", "{tmp}/empty_grid.toml"], "has no values"),
    "unequal zip": (["--sweep", "{tmp}/unequal_zip.toml"], "different lengths"),
    "zero iterations": (["--iters", "0"], "--iters must be >= 1"),
    "resume a folder that is not a run": (["--resume", "{tmp}"], "is not a dalle-bench run"),
}

FILES = {
    "empty.txt": "# only a comment\n\n",
    "broken.toml": "[grid\ntemperature = [1",
    "unknown_axis.toml": "[grid]\ntemprature = [1.0]\n",
    "empty_grid.toml": "[grid]\ntemperature = []\n",
    "unequal_zip.toml": "[zip]\ndevices = [1, 2]\nparallel = ['single']\n",
}


def _check_one_line_error(proc, message: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1 and message in lines[0], proc.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_bad_sweep_input(case, cli_inprocess, run_cli, tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    args, message = CASES[case]
    # --host-devices needs a process whose JAX has not started: this one's has (conftest's 4 devices).
    run = run_cli if "--host-devices" in args else cli_inprocess
    proc = run("sweep", *[a.replace("{tmp}", str(tmp_path)) for a in args], "--out", tmp_path / "out")
    _check_one_line_error(proc, message)
    assert not (tmp_path / "out").exists()


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, cli_inprocess):
    out = tmp_path_factory.mktemp("small")
    cli_inprocess("sweep", "--cond-scale", "1", "--no-stages", "--iters", "1", "-n", "1", "--out", out, "--run-id", "r",
                  "--no-progress", "--no-report", check=True)
    return out / "r"


def test_resume_with_another_definition_is_refused(small_run, cli_inprocess):
    before = _digest(small_run)
    proc = cli_inprocess("sweep", "--resume", small_run, "--cond-scale", "1,3")
    _check_one_line_error(proc, "was made by another sweep definition (differs in: grid)")
    assert _digest(small_run) == before


def test_an_out_inside_a_run_or_under_a_file_is_refused(small_run, cli_inprocess, tmp_path):
    before = _digest(small_run)
    _check_one_line_error(cli_inprocess("sweep", "--out", small_run / "nested"), "is inside the run folder")
    assert _digest(small_run) == before and not (small_run / "nested").exists()
    (tmp_path / "file").write_text("x")
    _check_one_line_error(cli_inprocess("sweep", "--out", tmp_path / "file" / "sub"), "is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_corrupt_results_file_is_reported_and_left_alone(small_run, cli_inprocess, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "run.json").write_bytes((small_run / "run.json").read_bytes())
    (damaged / "points.parquet").write_bytes((small_run / "points.parquet").read_bytes()[:100])
    before = _digest(damaged)
    for args in (["sweep", "--resume", damaged], ["report", damaged]):
        _check_one_line_error(cli_inprocess(*args), "points.parquet is corrupt")
        assert _digest(damaged) == before


def test_report_of_a_folder_that_is_not_a_run(cli_inprocess, tmp_path):
    _check_one_line_error(cli_inprocess("report", tmp_path), "is not a dalle-bench run")

