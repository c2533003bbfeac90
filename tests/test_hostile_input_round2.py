"""Issue 29's classes of hostile input, one fast case each through the CLI (the whole table is the
integration tier's tests/test_fuzz_cli.py): refused up front with one line and exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from bench.commands.metrics import json_text

REFUSED = {
    "not finite": (["loadgen", "--scenario", "server", "--target-qps", "inf"], "--target-qps must be a finite number"),
    "no upper bound": (["loadgen", "--scenario", "offline", "--min-queries", "1000000000000"],
                       "--min-queries must be in [1, 10,000,000]"),
    "a window that never ends": (["loadgen", "--scenario", "offline", "--max-batch-wait-ms", "inf"],
                                 "--max-batch-wait-ms must be a finite number"),
    "a run id longer than a file name": (["loadgen", "--scenario", "offline", "--run-id", "a" * 300],
                                         "--run-id: at most 128 characters"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_before_anything_starts(cli_inprocess, tmp_path, name):
    args, message = REFUSED[name]
    proc = cli_inprocess(*args, "--out", tmp_path / "out")
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_no_command_writes_into_a_run_it_does_not_own(cli_inprocess, tmp_path):
    run = tmp_path / "run"
    (run / "images" / "000-x").mkdir(parents=True)
    (run / "run.json").write_text('{"run_id": "run"}')
    before = hashlib.sha256((run / "run.json").read_bytes()).hexdigest()
    proc = cli_inprocess("compare", run, run, "--output", run / "run.json")
    assert proc.returncode == 2 and "--output" in proc.stderr and "inside the run folder" in proc.stderr
    proc = cli_inprocess("generate", "a cat", "--out", run / "images" / "000-x", "--no-progress")
    assert proc.returncode == 2 and "--out" in proc.stderr and "inside the run folder" in proc.stderr
    assert hashlib.sha256((run / "run.json").read_bytes()).hexdigest() == before
    assert list((run / "images" / "000-x").iterdir()) == []
    proc = cli_inprocess("generate", "a cat", "--out", run / "run.json" / "sub", "--no-progress")
    assert proc.returncode == 2 and "is a file, not a folder" in proc.stderr


def test_metrics_json_has_null_for_values_that_are_not_numbers():
    text = json_text({"fid": float("nan"), "kid": [1.0, float("inf")], "n": 3})
    assert "NaN" not in text and "Infinity" not in text
    assert '"fid": null' in text and '"n": 3' in text


@pytest.mark.parametrize("command", [("loadgen", "--scenario", "offline"), ("sweep", "--preset", "shapes", "-n", "1")])
def test_out_under_a_regular_file_is_refused(cli_inprocess, tmp_path, command):
    (tmp_path / "file").write_text("x")
    proc = cli_inprocess(*command, "--out", tmp_path / "file" / "sub")
    assert proc.returncode == 2 and "--out" in proc.stderr and "is a file, not a folder" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_prompt_file_with_invalid_utf8_is_refused(cli_inprocess, tmp_path):
    (tmp_path / "prompts.txt").write_bytes(b"a red \xff\xfe circle\n")
    proc = cli_inprocess("loadgen", "--scenario", "offline", "--prompts", tmp_path / "prompts.txt",
                         "--out", tmp_path / "out")
    assert proc.returncode == 2 and "--prompts" in proc.stderr and "utf-8" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_sigterm_during_loadgen_is_recorded_as_ctrl_c_is(tiny_cache, tmp_path):
    """SIGTERM (a scheduler's stop, `kill`) while LoadGen runs: the running test gets its row, marked
    interrupted, run.json says the run is incomplete, the lock is released, exit 143."""
    import fcntl
    import json
    import signal
    import time

    import pandas as pd

    from tests.conftest import start_long_loadgen

    proc, lines = start_long_loadgen(tiny_cache, tmp_path)
    run_dir = tmp_path / "stopped"
    deadline = time.monotonic() + 120
    while not (run_dir / "loadgen" / "singlestream-performance" / "mlperf_log_detail.txt").is_file():
        assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
        time.sleep(0.2)
    time.sleep(2)  # a few samples into the test
    assert str(proc.pid) in (run_dir / ".lock").read_text()  # the test runs under the lock
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    stderr = "".join(lines) + rest
    assert proc.returncode == 143, stderr
    assert "Interrupted: the run is incomplete (stopped by SIGTERM)" in stderr and "Traceback" not in stderr
    rows = pd.read_parquet(run_dir / "scenarios.parquet")
    assert list(rows.scenario_id) == ["singlestream-performance"]
    assert rows.status[0] == "interrupted" and "SIGTERM" in rows.error[0] and "incomplete" in rows.error[0]
    assert (run_dir / rows.log_dir[0] / "mlperf_log_detail.txt").is_file()
    interrupted = json.loads((run_dir / "run.json").read_text())["interrupted"]
    assert interrupted["by"] == "SIGTERM" and interrupted["scenario_id"] == "singlestream-performance"
    assert (run_dir / ".lock").read_text() == ""  # released: the record names no holder
    with open(run_dir / ".lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --- Images: a decompression bomb refused by its header; 16-bit PNGs scaled, not clipped ---------

def _one_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def _small_images(folder: Path, count: int = 2) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"small{i}.png")
    return folder


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000), (4097, 4096)])
@pytest.mark.parametrize("command", ["cmmd", "prdc", "fid", "clip-score"])
def test_an_image_too_large_is_refused_from_its_header(cli_inprocess, tmp_path, command, size):
    """20000x20000 is past PIL's own refusal (a DecompressionBombError traceback before), 10000x10000
    between its warning and its refusal (a warning line, then 300 MB decoded), 4097x4096 just past ours."""
    from tests.png import huge_png

    folder = _small_images(tmp_path / "images")
    (folder / "zz_huge.png").write_bytes(huge_png(*size))
    reference = _small_images(tmp_path / "reference")
    args = {"cmmd": ["metrics", "cmmd", folder, reference],
            "prdc": ["metrics", "prdc", folder, reference],
            "fid": ["metrics", "fid", folder, reference],
            "clip-score": ["metrics", "clip-score", folder, "--prompts", tmp_path / "p.txt", "--clip", "shapes"]}
    (tmp_path / "p.txt").write_text("a\nb\nc\n")
    proc = cli_inprocess(*args[command], env={"HF_HUB_OFFLINE": "1"})
    line = _one_line(proc)
    assert proc.returncode == 2
    assert "zz_huge.png" in line and f"{size[0]}x{size[1]} pixels" in line and "4096x4096" in line, line


@pytest.mark.parametrize("size", [(20000, 20000), (10000, 10000)])
def test_open_image_refuses_a_bomb_by_its_size_and_leaves_pils_limit_alone(tmp_path, size):
    """Past PIL's refusal and between its warning and its refusal: our one error with the declared size,
    no warning, and PIL's limit (global to every thread) as it was."""
    import warnings

    from PIL import Image

    from bench.base.errors import BenchError
    from evals.images import open_image
    from tests.png import huge_png

    (tmp_path / "huge.png").write_bytes(huge_png(*size))
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None  # PIL's default guard is on
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be an exception here
        with pytest.raises(BenchError) as refused:
            open_image(tmp_path / "huge.png")
    assert f"{size[0]}x{size[1]} pixels" in str(refused.value) and "4096x4096" in str(refused.value)
    assert Image.MAX_IMAGE_PIXELS == limit


def test_a_16_bit_png_is_scaled_to_8_bits(tmp_path):
    """PIL opens a 16-bit greyscale PNG as mode I;16, and its convert("RGB") clips every value above
    255 to white: the reader scales by 257 instead."""
    import numpy as np
    from PIL import Image

    from evals.images import load_folder

    values = np.array([[0, 257, 32768, 65535], [1000, 12850, 50000, 65280]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode == "I;16"  # a real 16-bit file, as other tools write them
    _, images = load_folder(tmp_path)
    expected = np.rint(values / 257).astype(np.uint8)  # 0, 1, 128, 255 / 4, 50, 195, 254
    assert images.shape == (1, 2, 4, 3) and images.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(images[0, :, :, channel], expected)


def test_a_16_bit_png_scores_as_its_8_bit_twin(cli_inprocess, tmp_path, torch_clip):
    """Through the CLI: CLIP scores a 16-bit image as the same picture in 8 bits, not as white."""
    import numpy as np
    from PIL import Image

    ramp = np.add.outer(np.arange(32), np.arange(32)) * 1000  # 0 .. 62000, a diagonal ramp
    Image.fromarray(ramp.astype(np.uint16)).save(tmp_path / "a_deep.png")
    Image.fromarray(np.rint(ramp / 257).astype(np.uint8)).convert("RGB").save(tmp_path / "b_eight.png")
    Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(tmp_path / "c_white.png")
    (tmp_path / "p.txt").write_text("a grey ramp\n" * 3)
    proc = cli_inprocess("metrics", "clip-score", tmp_path, "--prompts", tmp_path / "p.txt", "--clip", torch_clip,
                         check=True)
    scores = json.loads(proc.stdout)["per_image"]
    assert scores["a_deep.png"] == pytest.approx(scores["b_eight.png"], abs=1e-4)
    assert abs(scores["a_deep.png"] - scores["c_white.png"]) > 1e-3, scores


# --- report --html and eval on a run: a damaged image, a file-size limit, no points ---------------

@pytest.fixture(scope="module")
def one_point_run(tmp_path_factory, run_cli) -> Path:
    """A finished tiny run of one point (two prompts, one image each, two timed calls): copy it before
    changing it."""
    out = tmp_path_factory.mktemp("round2-run")
    run_cli("sweep", "--devices", "1", "--parallel", "single", "--cond-scale", "1", "--no-stages", "--iters", "2",
            "--warmup", "0", "-n", "1", "--out", out, "--run-id", "run", "--no-progress", "--no-report", check=True)
    return out / "run"


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_report_html_shows_a_damaged_image_as_unreadable(cli_inprocess, tmp_path, one_point_run):
    from tests.png import huge_png

    run = _copy(one_point_run, tmp_path / "run")
    images = sorted((run / "images").glob("*/prompt*_sample*.png"))
    images[0].write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    images[1].write_bytes(huge_png(20000, 20000))
    proc = cli_inprocess("report", "--html", run)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    warning = _one_line(proc)
    assert warning.startswith("Warning: ") and images[0].name in warning and "and 1 more" in warning, warning
    page = (run / "report" / "report.html").read_text()
    assert page.count(">unreadable</td>") == 2
    assert f"{images[0]}: unreadable image" in page and "20000x20000 pixels" in page
    assert (run / "report" / "report.md").is_file()


def test_report_html_under_a_file_size_limit_stops_in_one_line(tmp_path, one_point_run, tiny_cache):
    """`ulimit -f`: the write of report.html fails part-way (EFBIG: Python ignores SIGXFSZ); one line,
    exit 1 (not the input's fault: bench.base.errors.RunWriteError), the page before it whole, no temporary file."""
    import resource
    import subprocess
    import sys

    from tests.conftest import REPO

    run = _copy(one_point_run, tmp_path / "run")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(DALLE_BENCH_CACHE=str(tiny_cache), TRANSFORMERS_VERBOSITY="error")

    def report(limit: int | None):
        def preexec():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return subprocess.run([sys.executable, "-m", "bench", "report", "--html", str(run)], cwd=REPO, env=env,
                              capture_output=True, text=True, preexec_fn=preexec, timeout=600)

    assert report(None).returncode == 0
    pages = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "report").iterdir()}
    largest_table = max(p.stat().st_size for p in (run / "report").iterdir() if p.suffix != ".html")
    assert (run / "report" / "report.html").stat().st_size > largest_table + 1024
    proc = report(largest_table + 1024)  # every table fits, the page does not
    line = _one_line(proc)
    assert proc.returncode == 1 and "cannot write" in line and "report.html" in line and "File too large" in line
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "report").iterdir()}
    assert after == pages  # no half-written page, no temporary file left; the tables rewritten identically
    proc = report(1024)  # the lock's record fits, report.md does not
    assert proc.returncode == 1 and "report.md" in _one_line(proc)
    assert {p.name for p in (run / "report").iterdir()} == set(pages)


def test_eval_of_a_run_without_points_is_refused(cli_inprocess, tmp_path, one_point_run):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(one_point_run / "run.json", run / "run.json")
    proc = cli_inprocess("eval", run, "--clip", "shapes")
    line = _one_line(proc)
    assert proc.returncode == 2 and "points.parquet" in line and "no finished points" in line, line
    assert "written" not in proc.stderr
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]


# --- A Hub id neither in the local cache nor reachable: one line in seconds, not a minute of retries ---

UNREACHABLE = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "",
               "HTTPS_PROXY": "", "https_proxy": "", "ALL_PROXY": "", "all_proxy": ""}


def _hub_commands(images: Path, prompts: Path, run: Path) -> dict[str, tuple[list, str]]:
    return {
        "clip-score --clip": (["metrics", "clip-score", images, "--prompts", prompts,
                               "--clip", "openai/clip-vit-base-patch32"], "--clip"),
        "cmmd --clip": (["metrics", "cmmd", images, images], "--clip"),
        "prdc --dinov2": (["metrics", "prdc", images, images], "--dinov2"),
        "fd-dinov2 --dinov2": (["metrics", "fd-dinov2", images, images, "--dinov2", "owner/no-such-dinov2"],
                               "--dinov2"),
        "eval --clip": (["eval", run], "--clip"),
        "eval --cmmd-clip": (["eval", run, "--metrics", "cmmd", "--fid-ref", images], "--cmmd-clip"),
        "eval --dinov2": (["eval", run, "--metrics", "prdc", "--fid-ref", images], "--dinov2"),
        # "shapes" names the shapes preset's CLIP for the CLIP score only: for the other networks, a Hub id.
        "eval --cmmd-clip shapes": (["eval", run, "--metrics", "cmmd", "--fid-ref", images, "--cmmd-clip", "shapes"],
                                    "--cmmd-clip"),
        "sweep --eval-dinov2 shapes": (["sweep", "-n", "1", "--eval", "prdc", "--fid-ref", images, "--eval-dinov2",
                                        "shapes", "--out", run.parent / "out", "--no-progress"], "--eval-dinov2"),
        "sweep --eval-clip": (["sweep", "-n", "1", "--eval", "clip", "--out", run.parent / "out", "--no-progress"],
                              "--eval-clip"),
    }


# A process each (Hugging Face reads its settings at import); the unreachable Hub is the integration
# tier's: in make test, HF_HUB_OFFLINE takes every command through the same refusal, and
# test_a_cached_hub_id_loads_while_the_hub_is_unreachable probes an unreachable Hub.
@pytest.mark.parametrize("offline", ["HF_HUB_OFFLINE", pytest.param("unreachable", marks=pytest.mark.integration)])
@pytest.mark.parametrize("name", list(_hub_commands(Path(), Path(), Path("r"))))
def test_a_hub_id_neither_cached_nor_reachable_is_one_line(run_cli, tmp_path, one_point_run, name, offline):
    images = _small_images(tmp_path / "images")
    (tmp_path / "p.txt").write_text("a\nb\n")
    run = _copy(one_point_run, tmp_path / "run")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()}
    args, option = _hub_commands(images, tmp_path / "p.txt", run)[name]
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-hf-cache"),
           **({"HF_HUB_OFFLINE": "1"} if offline == "HF_HUB_OFFLINE" else UNREACHABLE)}
    proc = run_cli(*args, env=env)
    line = _one_line(proc)  # transformers' retry warnings would be more lines
    assert proc.returncode == 2 and "Retrying" not in proc.stderr
    assert line.startswith(f"Error: {option}: cannot load '") and "not in the local Hugging Face cache" in line
    assert ("HF_HUB_OFFLINE is set" if offline == "HF_HUB_OFFLINE" else "127.0.0.1:9") in line, line
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()} == before
    assert not (tmp_path / "out").exists()


def test_a_cached_hub_id_loads_while_the_hub_is_unreachable(run_cli, tmp_path, torch_clip):
    """The same id, in the local Hugging Face cache (its layout: refs/main naming a snapshot), loads
    from there without asking the Hub, so without a minute of retries first."""
    cache = tmp_path / "hf-cache"
    commit = "0" * 40
    repo = cache / "models--bench-test--tiny-clip"
    shutil.copytree(torch_clip, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    images = _small_images(tmp_path / "images")
    (tmp_path / "p.txt").write_text("a\nb\n")
    proc = run_cli("metrics", "clip-score", images, "--prompts", tmp_path / "p.txt", "--clip", "bench-test/tiny-clip",
                   env={"HF_HUB_CACHE": str(cache), **UNREACHABLE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Retrying" not in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["clip_model"] == "bench-test/tiny-clip"


@pytest.fixture(scope="module")
def measured_run(one_point_run):
    """A finished tiny sweep of one point (two timed calls): the module's one run, read-only."""
    return one_point_run


def _copy_with_infinite_latencies(run, dest, in_table: bool):
    import shutil

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(run, dest)
    for path in dest.glob("images/*/latencies.npy"):
        if in_table:
            path.unlink()  # only the table's figures: the gates would have no calls to test
        else:
            np.save(path, np.full_like(np.load(path), np.inf))
    if in_table:
        table = pq.read_table(dest / "points.parquet")
        rows = table.to_pylist()
        for row in rows:
            row.update({c: float("inf") for c in row if c.startswith("latency_") and isinstance(row[c], float)})
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), dest / "points.parquet")
    return dest


@pytest.mark.parametrize("where", ["latencies.npy", "points.parquet"])
def test_compare_never_passes_a_candidate_whose_latencies_are_infinite(cli_inprocess, measured_run, tmp_path, where):
    candidate = _copy_with_infinite_latencies(measured_run, tmp_path / "cand", in_table=where == "points.parquet")
    same = cli_inprocess("compare", measured_run, measured_run)
    assert same.returncode == 0, same.stderr[-2000:]
    proc = cli_inprocess("compare", measured_run, candidate)
    assert proc.returncode == 2 and "PASS" not in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert where in proc.stderr and "inf" in proc.stderr and "refusing to compare" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def _loadgen_run(folder, result_value: float):
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.results.scenarios_schema import SCHEMA, check_row

    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"kind": "loadgen", "run_id": folder.name}))
    row = check_row({"run_id": folder.name, "scenario_id": "offline-performance", "scenario": "Offline",
                     "mode": "performance", "status": "ok", "validity": "VALID", "result_metric": "samples_per_s",
                     "result_value": result_value})
    pq.write_table(pa.Table.from_pylist([row], schema=SCHEMA), folder / "scenarios.parquet")
    return folder


def test_compare_fails_a_loadgen_candidate_with_an_infinite_result(cli_inprocess, tmp_path):
    base = _loadgen_run(tmp_path / "base", 2.0)
    assert cli_inprocess("compare", base, _loadgen_run(tmp_path / "same", 2.0)).returncode == 0
    proc = cli_inprocess("compare", base, _loadgen_run(tmp_path / "inf", float("inf")))
    assert proc.returncode == 1 and "not a measured figure" in proc.stdout, proc.stdout[-2000:] + proc.stderr
    assert "Traceback" not in proc.stderr


# --- output folders that cannot be written, train-shapes' assemble, loadgen's --eval-clip, prompt bytes


def _one_line_refusal(proc, *names):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert all(name in proc.stderr for name in names), proc.stderr


def _unwritable(folder):
    """A folder this process cannot write: mode 555, or for root (whom modes do not stop) immutable."""
    import os
    import subprocess

    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not possible: no folder root cannot write")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_train_shapes_refuses_what_it_could_not_finish(cli_inprocess, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = cli_inprocess("train-shapes", "--stage", "assemble", "--out", tmp_path / "empty")
    _one_line_refusal(proc, "--stage assemble", "vqgan")
    assert list((tmp_path / "empty").iterdir()) == []
    (tmp_path / "file").write_text("x")
    _one_line_refusal(cli_inprocess("train-shapes", "--stage", "clip", "--out", tmp_path / "file" / "sub"),
                      "--out", "is a file, not a folder")
    restore = _unwritable(tmp_path / "locked")
    try:
        for out in (tmp_path / "locked", tmp_path / "locked" / "sub"):
            _one_line_refusal(cli_inprocess("train-shapes", "--stage", "clip", "--out", out), "--out", "cannot write")
    finally:
        restore()
    assert list((tmp_path / "locked").iterdir()) == []


def test_accelerator_refuses_an_out_under_a_file_before_its_probe(cli_inprocess, tmp_path):
    (tmp_path / "file").write_text("x")
    proc = cli_inprocess("accelerator", "--smoke", "--out", tmp_path / "file" / "sub")
    _one_line_refusal(proc, "--out", "is a file, not a folder")
    # The probe did not run: a failed probe says "the device probe ...", a finished one is followed by the
    # devices-and-budget line and the results folder; nothing is written beside the file.
    assert "probe" not in proc.stderr and "budget" not in proc.stderr and proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] and (tmp_path / "file").read_text() == "x"


@pytest.mark.parametrize("source, message", [
    ("{tmp}/none", "checkpoint not found"),
    ("{tmp}/empty", "is not a CLIP checkpoint"),
    ("{tmp}/corrupt", "config.json cannot be read"),
    ("{tmp}/bart", "is not a CLIP checkpoint"),
    ("not a hub id", "neither a checkpoint folder nor a Hub id"),
])
def test_loadgen_checks_eval_clip_before_anything_loads(cli_inprocess, tmp_path, source, message):
    (tmp_path / "empty").mkdir()
    for name, config in (("corrupt", "{"), ("bart", '{"model_type": "bart"}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text(config)
        (tmp_path / name / "flax_model.msgpack").write_bytes(b"")
    proc = cli_inprocess("loadgen", "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                         source.format(tmp=tmp_path), "--out", tmp_path / "out")
    _one_line_refusal(proc, "--eval-clip", message)
    assert not (tmp_path / "out").exists()


def test_generate_refuses_a_prompt_that_is_not_utf8(cli_inprocess, tmp_path):
    proc = cli_inprocess("generate", "a red \udcff circle", "--out", tmp_path / "out", "--no-progress")  # the byte 0xff
    _one_line_refusal(proc, "prompt 1", "utf-8")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [("loadgen", "--scenario", "offline"), ("generate", "a cat", "--no-progress"),
                                     ("sweep", "--no-progress")])
def test_an_out_that_cannot_be_written_is_refused_before_any_model_loads(cli_inprocess, tmp_path, command):
    restore = _unwritable(tmp_path / "locked")
    try:
        proc = cli_inprocess(*command, "--out", tmp_path / "locked" / "sub")
    finally:
        restore()
    _one_line_refusal(proc, "--out", "cannot write")
    assert list((tmp_path / "locked").iterdir()) == []
