"""Two sweeps on one machine taking turns call by call (`sweep --interleave FILE`).

An A/B comparison of two versions (two checkouts, or two installed
versions) measured one after the other compares the machine's load at two
moments as much as the versions: on a shared 2-core runner the load moves by
tens of percent within a minute. Started together with the same FILE, the two
sweeps take turns: before each timed call a process hands the turn to the
other and waits until it comes back, so exactly one of them works at a time
and their timed calls alternate (A1 B1 A2 B2 ...) under the same load. A
process keeps the turn through everything between two timed calls (writing
images, compiling the next point, warm-up), so the other's timed calls never
overlap its work.

The turn lives in FILE (JSON: the members' process ids, whose turn it is,
who has finished), changed under an exclusive lock on FILE.lock. A member
that has finished, or whose process is gone, is no longer waited for: the
other goes on alone. Same host only (process ids)."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .atomic import write_text_atomic

POLL_S = 0.01  # how often a waiting process looks at the turn: cheap enough not to disturb the other's call
JOIN_WAIT_S = 600.0  # how long the first sweep waits for the second to join (compare pairs runs started within it)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Turns:
    """This process's side of a turn file."""

    def __init__(self, path: Path, wait_for_peer_s: float = JOIN_WAIT_S, echo=None):
        self.path = Path(path)
        self.me = str(os.getpid())
        self.wait_for_peer_s = wait_for_peer_s
        self.echo = echo or (lambda line: None)
        self.holding = False
        self.alone = False
        self.handoffs = 0

    @contextmanager
    def _state(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    before = self.path.read_text()
                    state = json.loads(before)
                except (OSError, ValueError):
                    before, state = None, {}
                state.setdefault("members", {})
                state.setdefault("turn", None)
                yield state
                after = json.dumps(state)
                # A waiting process looks 100 times a second: only a change is written,
                # so its looks do not write files during the other's timed call.
                if after != before:
                    write_text_atomic(self.path, after)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _peer(self, state: dict) -> str | None:
        """The other member still taking turns, if any (finished or dead members are dropped)."""
        for pid, info in list(state["members"].items()):
            if pid != self.me and (info.get("done") or not _alive(int(pid))):
                del state["members"][pid]
                if state["turn"] == pid:
                    state["turn"] = None
        return next((pid for pid in state["members"] if pid != self.me), None)

    def join(self) -> None:
        """Register, and wait (up to wait_for_peer_s) for the other sweep to register too."""
        with self._state() as state:
            self._peer(state)
            if len(state["members"]) >= 2:
                raise RuntimeError(f"{self.path}: two sweeps already take turns with this file")
            state["members"][self.me] = {"host": socket.gethostname(), "done": False}
        deadline = time.monotonic() + self.wait_for_peer_s
        while True:
            with self._state() as state:
                if self._peer(state):
                    return
            if time.monotonic() > deadline:
                self.alone = True
                self.echo(f"Warning: --interleave {self.path}: no other sweep joined within "
                          f"{self.wait_for_peer_s:g} s; measuring alone")
                return
            time.sleep(0.1)

    def take(self) -> None:
        """Before a timed call: hand the turn over (if held) and wait until it is this process's."""
        while True:
            with self._state() as state:
                peer = self._peer(state)
                if peer is None:
                    self.holding = True
                    return
                if self.holding and state["turn"] == self.me:
                    state["turn"] = peer
                    self.holding = False
                    self.handoffs += 1
                elif state["turn"] in (None, self.me):
                    state["turn"] = self.me
                    self.holding = True
                    return
            time.sleep(POLL_S)

    def leave(self) -> None:
        """Finished (or stopped): the other sweep goes on alone."""
        with self._state() as state:
            state["members"].setdefault(self.me, {})["done"] = True
            if state["turn"] == self.me:
                state["turn"] = None
        self.holding = False
