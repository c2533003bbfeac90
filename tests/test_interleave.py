"""`sweep --interleave`: two processes taking turns call by call (bench/jobs/sweep/interleave.py), on
real processes (the turn file is keyed by process id)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from .conftest import REPO


def _start(tmp_path, name: str, calls: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "turn_worker.py"), str(tmp_path / "turns.json"),
                             str(tmp_path / "log"), name, str(calls)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})


def test_two_processes_alternate_their_calls_and_never_overlap(tmp_path):
    a = _start(tmp_path, "A", 4)
    time.sleep(0.5)
    b = _start(tmp_path, "B", 6)  # more calls: goes on alone once A has finished
    assert a.wait(timeout=60) == 0 and b.wait(timeout=60) == 0
    lines = (tmp_path / "log").read_text().split()
    events = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]
    calls = [name for name, what in events if what == "start"]
    for i in range(0, len(events), 2):  # every start is followed by its own end: no overlap
        assert events[i][1] == "start" and events[i + 1] == (events[i][0], "end")
    first = calls[0][0]
    other = "B" if first == "A" else "A"
    assert [c[0] for c in calls[:8]] == [first, other] * 4
    assert calls[8:] == ["B4", "B5"]


def test_a_process_alone_does_not_wait_forever(tmp_path):
    code = ("import sys; from pathlib import Path; from bench.jobs.sweep.interleave import Turns\n"
            "t = Turns(Path(sys.argv[1]), wait_for_peer_s=0.5); t.join(); t.take(); t.take(); t.leave()\n"
            "print('alone' if t.alone else 'paired')")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "turns.json")], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "alone", proc.stderr
