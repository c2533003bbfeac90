"""The driver of `dalle-bench accelerator`: probe the devices, then run the
matrix's blocks one after another, each a `dalle-bench sweep` or `loadgen`
process of its own with its share of the budget left, stopped (SIGTERM: a
sweep keeps every finished point) when it reaches it; then the summary.

This process never imports JAX: it holds no device memory, and the blocks'
memory figures are their own. Everything goes to
OUT/<device-kind>/<run-id>/: accelerator.json (the plan, the environment and
each block's outcome, rewritten after every block), summary.md and
summary.json, logs/<block>.log, and each block's run folder."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import signal
import site
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from bench.base.atomic import write_text_atomic
from bench.base.errors import BenchError

from .plan import STOP_GRACE_S, Matrix, allotment, device_slug, loadgen_command, sweep_command
from .summary import loadgen_headline, markdown, sweep_headline

PROBE_TIMEOUT_S = 120
SUMMARY_RESERVE_S = 3.0  # kept at the end for the summary files
# -P: the current folder stays off the children's import path, so a bench/ folder there (another
# checkout) cannot stand in for the bench this process runs.
PYTHON = (sys.executable, "-P")


def _environ(matrix: Matrix) -> dict:
    env = dict(os.environ)
    # A checkout's bench, not installed, is importable only from the checkout's root: name that root so the
    # blocks import the code this process runs while they start in its current folder (where relative --out
    # and prompt files mean what they mean here). An installed bench is on every process's path already.
    source = str(Path(__file__).resolve().parents[3])
    if source not in {*site.getsitepackages(), site.getusersitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (source, env.get("PYTHONPATH"))))
    # JAX must not take most of the device up front: peak_bytes_in_use then measures what a point needs.
    env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    env.setdefault("PYTHONUNBUFFERED", "1")
    if matrix.run.host_devices:
        flags = env.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={matrix.run.host_devices}".strip()
    return env


def probe(env: dict, timeout_s: float) -> dict:
    """The devices and their runtime, from a process of its own (bench/jobs/accelerator/probe.py)."""
    try:
        done = subprocess.run([*PYTHON, "-m", "bench.jobs.accelerator.probe"], env=env, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"the device probe did not answer within {timeout_s:.0f} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the device probe failed: {last}")
    return json.loads(done.stdout)


def run_block(args: list[str], env: dict, seconds: float, log: Path) -> tuple[str, int | None, float]:
    """Run `dalle-bench ARGS` for at most `seconds` (then SIGTERM, and SIGKILL
    after a grace): (status, exit code, wall seconds)."""
    started = time.monotonic()
    with open(log, "w") as out:
        out.write("$ dalle-bench " + shlex.join(args) + "\n")
        out.flush()
        process = subprocess.Popen([*PYTHON, "-m", "bench", *args], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=max(seconds - STOP_GRACE_S, 1.0))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            return "stopped at its allotment", None, time.monotonic() - started
    # sweep exits 1 when a point ended oom or failed: the rows say which, and an oom is a finding here.
    status = {0: "done", 1: "done, some points not ok"}.get(code, f"error (exit {code})")
    return status, code, time.monotonic() - started


def _headline(kind: str, folder: Path) -> dict | None:
    table = folder / ("points.parquet" if kind == "sweep" else "scenarios.parquet")
    if not table.is_file():
        return None
    rows = pd.read_parquet(table)
    return sweep_headline(rows) if kind == "sweep" else loadgen_headline(rows)


def run_accelerator(matrix: Matrix, budget_s: float, out: Path, run_id: str | None, smoke: bool, echo) -> Path:
    from bench.results.runlock import check_output_folder

    check_output_folder(out, "--out")  # before the probe: a minute of work for nothing
    started = time.monotonic()
    deadline = started + budget_s
    env = _environ(matrix)
    found = probe(env, min(PROBE_TIMEOUT_S, budget_s))
    devices = found["devices"]
    run_id = run_id or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = out / device_slug(devices["device_kind"], devices["platform"]) / run_id
    if folder.exists():
        raise BenchError(f"{folder} exists: give another --run-id")
    (folder / "logs").mkdir(parents=True)
    echo(f"{devices['device_kind']} x {devices['device_count']} ({devices['platform']}); budget {budget_s:.0f} s; "
         f"results in {folder}")
    record = {"run_id": run_id, "command": shlex.join(["dalle-bench", *sys.argv[1:]]), "smoke": smoke,
              "budget_s": budget_s, "matrix": {"source": matrix.source, "run": asdict(matrix.run),
                                               "blocks": [asdict(b) for b in matrix.blocks]},
              "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "probe": found, "blocks": []}

    def save() -> None:
        record["wall_s"] = time.monotonic() - started
        write_text_atomic(folder / "accelerator.json", json.dumps(record, indent=2, default=str) + "\n")

    save()
    blocks = list(matrix.blocks)
    for index, block in enumerate(blocks):
        left = deadline - time.monotonic() - SUMMARY_RESERVE_S
        seconds = allotment(left, [b.share for b in blocks[index:]])
        record["blocks"].append(_block_entry(block, seconds, matrix, folder, devices["device_count"], env, echo))
        save()
    record["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    save()
    write_text_atomic(folder / "summary.json", json.dumps(
        {"run_id": run_id, "device": devices, "blocks": {b["name"]: b.get("headline") for b in record["blocks"]}},
        indent=2, default=str) + "\n")
    write_text_atomic(folder / "summary.md", markdown(record))
    save()
    return folder


def _block_entry(block, seconds: float, matrix: Matrix, folder: Path, device_count: int, env: dict, echo) -> dict:
    """One block within its allotment (skipped when the allotment is under the matrix's minimum): its
    entry of accelerator.json's blocks."""
    entry = {"name": block.name, "kind": block.kind, "allotted_s": round(seconds, 1)}
    if seconds < matrix.run.min_block_s:
        entry.update(status="skipped", note=f"budget: {seconds:.0f} s allotted, under the "
                                            f"{matrix.run.min_block_s:.0f} s a block needs")
        echo(f"{block.name}: skipped ({entry['note']})")
        return entry
    if block.kind == "sweep":
        args = sweep_command(block, matrix.run, seconds, folder, block.name, device_count)
    else:
        args = loadgen_command(block, matrix.run, folder, block.name)
    echo(f"{block.name}: {seconds:.0f} s: dalle-bench {shlex.join(args)}")
    status, code, wall = run_block(args, env, seconds, folder / "logs" / f"{block.name}.log")
    entry.update(status=status, exit_code=code, wall_s=round(wall, 1), command=shlex.join(["dalle-bench", *args]))
    try:
        entry["headline"] = _headline(block.kind, folder / block.name)
    except Exception as e:  # a half-written or missing table: the block's log says more
        entry["note"] = f"no figures: {type(e).__name__}: {e}"
    echo(f"{block.name}: {status} in {wall:.0f} s")
    return entry
