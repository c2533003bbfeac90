"""`sweep --repeat R`: every point measured by R separate processes taking
turns point by point (bench/commands/repeat.py), merged into one row per
point (bench/jobs/sweep/merge.py); and the N-member ring of turns under it
(bench/jobs/sweep/interleave.py), on real processes and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from bench.jobs.sweep.interleave import next_in_ring
from bench.jobs.sweep.merge import merged_row, pooled, stack_latencies
from bench.measure.stats import LatencyStats
from tests.conftest import REPO

# One pytest-xdist worker runs this module: its module fixture is built once.
pytestmark = pytest.mark.xdist_group("test_repeat")

def _member(tmp_path, name: str, points: int, expected: int, slot: int | None = None,
            side: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "turn_worker.py"), str(tmp_path / "turns.json"),
                             str(tmp_path / "log"), name, str(points), str(expected), str(slot or ""), side], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})


def _turns(tmp_path) -> list[str]:
    lines = (tmp_path / "log").read_text().split()
    events = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    for i in range(0, len(events), 2):  # every start is followed by its own end: no overlap
        assert events[i][1] == "start" and events[i + 1] == (events[i][0], "end"), events
    return [name for name, what in events if what == "start"]


def test_next_in_ring_skips_members_that_are_gone():
    ring = ["1", "2", "3", "4"]
    assert next_in_ring(ring, "2", {"1", "2", "3", "4"}) == "3"
    assert next_in_ring(ring, "4", {"1", "2", "3", "4"}) == "1"
    assert next_in_ring(ring, "2", {"1", "2"}) == "1"
    assert next_in_ring(ring, "2", {"2"}) == "2"
    assert next_in_ring(ring, "2", set()) is None


def test_three_members_take_turns_round_the_ring_in_join_order(tmp_path):
    members = [_member(tmp_path, name, points, expected=3) for name, points in (("A", 3), ("B", 3), ("C", 5))]
    # Staggered starts: none takes a turn before all three joined, so the ring is complete from the first turn.
    assert all(m.wait(timeout=60) == 0 for m in members)
    turns = _turns(tmp_path)
    assert len(turns) == 11
    rounds = [turns[i:i + 3] for i in range(0, 9, 3)]
    assert all(sorted(name[0] for name in r) == ["A", "B", "C"] for r in rounds), turns
    assert len({tuple(name[0] for name in r) for r in rounds}) == 1, f"not one ring order: {turns}"
    assert turns[9:] == ["C3", "C4"]  # A and B have finished: C goes on alone


def test_repeats_of_two_sides_take_turns_side_by_side_from_the_first_round(tmp_path):
    """Two `--repeat 2 --interleave` sweeps (sides A and B): the ring is ordered by repeat number
    whatever the joining order, the side going first alternating (A B, then B A), and the first
    turn goes to its head, so every round runs A1 B1 B2 A2 and repeat k of both sides measure each
    point back to back (compare pairs them)."""
    members = []
    for name, slot in (("B2", 2), ("B1", 1), ("A2", 2), ("A1", 1)):  # joined in this order
        members.append(_member(tmp_path, name, 3, expected=4, slot=slot, side=name[0]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(json.loads((tmp_path / "turns.json").read_text() or "{}").get(
                "members", {}) if (tmp_path / "turns.json").is_file() else {}) < len(members):
            time.sleep(0.05)
    assert all(m.wait(timeout=60) == 0 for m in members)
    turns = _turns(tmp_path)
    assert [t[:2] for t in turns] == ["A1", "B1", "B2", "A2"] * 3, turns


def test_a_dead_member_is_skipped(tmp_path):
    slow = subprocess.Popen([sys.executable, "-c",
                             "import sys, time\nfrom pathlib import Path\nfrom bench.jobs.sweep.interleave import Turns\n"
                             "t = Turns(Path(sys.argv[1]), wait_for_peer_s=60, expected=3); t.join(); t.take()\n"
                             "time.sleep(600)", str(tmp_path / "turns.json")], cwd=REPO)
    members = [_member(tmp_path, name, 3, expected=3) for name in "AB"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (tmp_path / "turns.json").is_file():
        time.sleep(0.1)
    time.sleep(2.0)  # the three joined; the slow one may hold the turn
    slow.kill()
    slow.wait()
    assert all(m.wait(timeout=60) == 0 for m in members)
    turns = _turns(tmp_path)
    assert sorted(turns) == ["A0", "A1", "A2", "B0", "B1", "B2"]
    assert [t[0] for t in turns[::2]] == [turns[0][0]] * 3  # A and B alternate once the dead one is dropped


def test_a_point_is_ok_only_when_ok_in_every_repeat_and_pools_their_calls():
    ok = {"point_id": "000-x", "point_index": 0, "preset": "tiny", "dtype": "float32", "parallel": "single",
          "devices": 1, "processes": 1, "local_devices": 1, "batch_per_device": 1, "global_batch": 2,
          "temperature": 1.0, "top_k": 0, "top_p": 1.0, "cond_scale": 1.0, "seed": 0, "structure": "plain",
          "prompts": "demo", "num_prompts": 2, "num_images": 1, "status": "ok", "images_per_s": 10.0,
          "image_tokens_per_s": 2560.0, "roofline_s_per_image": 0.01, "flops_per_image": 1e9,
          "images_dir": "images/000-x", "finished_at": "2026-01-01T00:00:01+00:00", "host_peak_rss_bytes": 5}
    latencies = stack_latencies([[0.1, 0.2, 0.3], [0.4, 0.5]])
    assert latencies.shape == (2, 3) and np.isnan(latencies[1, 2])
    rows = [{**ok, "latency_p50_s": 0.2}, {**ok, "latency_p50_s": 0.45, "host_peak_rss_bytes": 7}]
    row = merged_row(rows, "run", latencies)
    assert row["status"] == "ok" and row["repeats"] == 2 and row["repeat_latency_p50_s"] == [0.2, 0.45]
    assert row["latency_p50_s"] == LatencyStats.of(pooled(latencies)).p50 == 0.3 and row["iterations"] == 5
    assert row["images_per_s"] == pytest.approx(2 / 0.3) and row["host_peak_rss_bytes"] == 7
    failed = merged_row([rows[0], {**ok, "status": "oom", "error": "RESOURCE_EXHAUSTED"}], "run", latencies)
    assert failed["status"] == "oom" and failed["error"] == "repeat r2: RESOURCE_EXHAUSTED"
    assert failed.get("latency_p50_s") is None
    disagree = merged_row(rows, "run", latencies, disagreement="repeats disagree: tokens of r2 differ from r1")
    assert disagree["status"] == "failed" and disagree["error"].startswith("repeats disagree")


TINY = ["--iters", "4", "--warmup", "1", "-n", "1", "--no-stages", "--cond-scale", "1,3", "--no-progress",
        "--no-report"]


# Two repeats: merging, turns and the compilation cache show with two processes as with more (a ring of
# three or four members is test_three_members_take_turns_round_the_ring_in_join_order's, on cheap workers).
REPEATS = 2


@pytest.fixture(scope="module")
def repeated(tmp_path_factory, run_cli, cli_inprocess):
    out = tmp_path_factory.mktemp("repeat")
    started = time.monotonic()
    proc = run_cli("sweep", *TINY, "--repeat", REPEATS, "--out", out, "--run-id", "repeated", check=True)
    seconds = time.monotonic() - started
    plain = cli_inprocess("sweep", *TINY, "--out", out, "--run-id", "plain", check=True)
    return out / "repeated", out / "plain", proc, plain, seconds


def test_repeat_runs_every_point_in_separate_processes_and_merges_them(repeated):
    run_dir, _, proc, _, _ = repeated
    run = json.loads((run_dir / "run.json").read_text())
    assert run["repeats"] == REPEATS and run["sessions"][0]["repeats"] == REPEATS
    assert f"{REPEATS} repeats (separate processes, taking turns point by point)" in proc.stderr
    children = [run_dir / "repeats" / f"r{k}" for k in range(1, REPEATS + 1)]
    assert all((child / "points.parquet").is_file() and (child.parent / f"{child.name}.log").is_file()
               for child in children)
    pids = [json.loads((child / "run.json").read_text())["sessions"][0]["pid"] for child in children]
    assert len(set(pids + [run["sessions"][0]["pid"]])) == REPEATS + 1  # fresh processes, none of them the parent
    rows = pd.read_parquet(run_dir / "points.parquet")
    assert len(rows) == 2 and (rows.status == "ok").all() and (rows.repeats == REPEATS).all()
    for row in rows.itertuples():
        assert len(row.repeat_latency_p50_s) == REPEATS
        latencies = np.load(run_dir / row.images_dir / "latencies.npy")
        assert latencies.shape == (REPEATS, 4)
        per_repeat = [pd.read_parquet(child / "points.parquet").set_index("point_id").loc[row.point_id]
                      for child in children]
        assert list(row.repeat_latency_p50_s) == [r.latency_p50_s for r in per_repeat]
        assert row.latency_p50_s == pytest.approx(np.median(latencies)) and row.iterations == 4 * REPEATS
        assert (run_dir / row.images_dir / "prompt000_sample000.png").is_file()


def test_repeats_took_turns_point_by_point(repeated):
    run_dir, _, _, _, _ = repeated
    held = [json.loads((run_dir / "repeats" / f"r{k}" / "run.json").read_text())["sessions"][0]["turns_held"]
            for k in range(1, REPEATS + 1)]
    assert all(len(turns) == 2 for turns in held)  # one turn per point
    for point in range(2):
        spans = sorted(turns[point] for turns in held)
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans
    # Round by round: every repeat measured the first point before any measured the second.
    assert max(turns[0][1] for turns in held) <= min(turns[1][0] for turns in held)


def test_later_repeats_load_their_programs_from_the_compilation_cache(repeated):
    run_dir, *_ = repeated
    sessions = [json.loads((run_dir / "repeats" / f"r{k}" / "run.json").read_text())["sessions"][0]
                for k in range(1, REPEATS + 1)]
    assert all(s["compilation_cache"]["enabled"] for s in sessions)
    first = min(sessions, key=lambda s: s["turns_held"][0][0])
    assert all(s["time"]["compilation_cache_hits"] > 0 for s in sessions if s is not first)


def test_repeats_make_the_same_tokens_as_a_plain_sweep(repeated):
    run_dir, plain_dir, _, _, seconds = repeated
    plain = pd.read_parquet(plain_dir / "points.parquet")
    assert (plain.repeats == 1).all() and all(len(v) == 1 for v in plain.repeat_latency_p50_s)
    for point_id in plain.point_id:
        assert np.load(plain_dir / "images" / point_id / "latencies.npy").ndim == 1
        np.testing.assert_array_equal(np.load(run_dir / "images" / point_id / "tokens.npy"),
                                      np.load(plain_dir / "images" / point_id / "tokens.npy"))
    print(f"--repeat {REPEATS} on 2 tiny points: {seconds:.1f} s")


def test_resuming_a_finished_repeat_run_keeps_it_and_cannot_change_the_count(repeated, cli_inprocess):
    run_dir, *_ = repeated
    refused = cli_inprocess("sweep", "--resume", run_dir, "--repeat", REPEATS + 1)
    assert refused.returncode == 2 and f"made with --repeat {REPEATS};" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    again = cli_inprocess("sweep", "--resume", run_dir, "--no-report", check=True)
    assert "2 points, 2 already done" in again.stderr
    assert len(pd.read_parquet(run_dir / "points.parquet")) == 2


@pytest.mark.parametrize("args, message", [
    (["--repeat", "0"], "--repeat"),
    (["--repeat", "65"], "at most 64"),
    (["--repeat", "2", "--num-processes", "2"], "not with --num-processes"),
])
def test_bad_repeat_is_one_line(args, message, cli_inprocess, tmp_path):
    proc = cli_inprocess("sweep", *args, "--out", tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not any(tmp_path.iterdir())
