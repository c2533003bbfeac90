"""Processes on one machine taking turns (`sweep --interleave FILE`, `sweep --repeat R`).

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

The members form a ring: `take()` hands the turn to the next member of the
ring still taking turns. Members that join with a `slot` (a `--repeat`
process: its repeat number) are ordered by slot, then by side (the run they
belong to; reversed on every other slot), so the processes of two `--repeat
--interleave` sweeps alternate, r1 of one side beside r1 of the other: each pair measures a point back to back, under the
same load, which lets `compare` pair them (bench/jobs/compare/noise.py); members
without a slot keep their joining order, after those with one. `sweep --repeat R` runs R
processes that take turns point by point (each calls `take()` before a point
and keeps the turn through it); with `--interleave` too, the 2R processes of
both sweeps form one ring. `expected` members must join before anyone takes
the first turn (or the join wait runs out).

The turn lives in FILE (JSON: the members' process ids in ring order, whose
turn it is, who has finished), changed under an exclusive lock on FILE.lock.
A member that has finished, or whose process is gone, is no longer waited
for: the others go on without it. Same host only (process ids)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from bench.base.atomic import write_text_atomic

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


def next_in_ring(ring: list[str], member: str, live: set[str]) -> str | None:
    """The first live member after `member` in `ring` (cyclically), `member`
    itself last; None when none is live. Pure."""
    if member not in ring:
        return next((m for m in ring if m in live), None)
    start = ring.index(member)
    order = ring[start + 1:] + ring[:start + 1]
    return next((m for m in order if m in live), None)


def ring_order(members: dict) -> list[str]:
    """Member ids ordered by slot (those without one last), then by side, the sides' order reversed
    on every other slot (A B, B A, A B, ...: neither side always goes first, so an effect of going
    first or second in a pair averages out instead of looking like a difference between the sides),
    then by joining (the dict's order). Pure."""
    joined = {pid: position for position, pid in enumerate(members)}
    sides = sorted({str(info.get("side") or "") for info in members.values()})

    def key(pid: str) -> tuple:
        info = members[pid]
        slot = info.get("slot")
        side = sides.index(str(info.get("side") or ""))
        return (slot is None, slot or 0, -side if (slot or 0) % 2 == 0 else side, joined[pid])

    return sorted(members, key=key)


class Turns:
    """This process's side of a turn file."""

    def __init__(self, path: Path, wait_for_peer_s: float = JOIN_WAIT_S, echo=None, expected: int = 2,
                 slot: int | None = None, side: str | None = None):
        self.path = Path(path)
        self.slot = slot
        self.side = side
        self.me = str(os.getpid())
        self.wait_for_peer_s = wait_for_peer_s
        self.echo = echo or (lambda line: None)
        self.expected = expected
        self.holding = False
        self.alone = False
        self.handoffs = 0
        self.held: list[list[float]] = []
        """Each turn this process held: [start, end], seconds since the epoch."""

    def _acquired(self) -> None:
        self.holding = True
        self.held.append([time.time(), math.nan])

    def _released(self) -> None:
        if self.holding and self.held and math.isnan(self.held[-1][1]):
            self.held[-1][1] = time.time()
        self.holding = False

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
                state.setdefault("started", False)
                yield state
                after = json.dumps(state)
                # A waiting process looks 100 times a second: only a change is written,
                # so its looks do not write files during the other's timed call.
                if after != before:
                    write_text_atomic(self.path, after)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _live(self, state: dict) -> list[str]:
        """The members still taking turns, in ring order. Finished or dead
        members are dropped; a turn one of them held passes to its successor."""
        ring = ring_order(state["members"])
        gone = [pid for pid, info in state["members"].items()
                if pid != self.me and (info.get("done") or not _alive(int(pid)))]
        live = [pid for pid in ring if pid not in gone]
        if state["turn"] in gone:
            state["turn"] = next_in_ring(ring, state["turn"], set(live))
        for pid in gone:
            del state["members"][pid]
        if not live:
            state["started"] = False
        return live

    def _peers(self, state: dict) -> list[str]:
        return [pid for pid in self._live(state) if pid != self.me]

    def join(self) -> None:
        """Register, and wait (up to wait_for_peer_s) until `expected` members have joined."""
        with self._state() as state:
            live = self._live(state)
            if len(live) >= self.expected:
                raise RuntimeError(f"{self.path}: {self.expected} processes already take turns with this file")
            if not live:  # a file left by earlier sweeps: start afresh
                state.update(turn=None, started=False)
            state["members"][self.me] = {"host": socket.gethostname(), "done": False, "slot": self.slot,
                                          "side": self.side}
        deadline = time.monotonic() + self.wait_for_peer_s
        while True:
            with self._state() as state:
                members = len(self._live(state))
                if members >= self.expected or state["started"]:
                    state["started"] = True
                    return
                if time.monotonic() > deadline:
                    state["started"] = True
                    self.alone = members == 1
                    break
            time.sleep(0.1)
        if self.alone:
            self.echo(f"Warning: turn file {self.path}: no other process joined within "
                      f"{self.wait_for_peer_s:g} s; measuring alone")
        else:
            self.echo(f"Warning: turn file {self.path}: {members} of {self.expected} processes joined within "
                      f"{self.wait_for_peer_s:g} s; taking turns among them")

    def take(self) -> None:
        """Before a turn's work: hand the turn on (if held) and wait until it is this process's."""
        while True:
            with self._state() as state:
                live = self._live(state)
                if live == [self.me] or self.me not in live:
                    self._released()  # alone: each take starts a turn of its own
                    self._acquired()
                    return
                if self.holding and state["turn"] == self.me:
                    state["turn"] = next_in_ring(live, self.me, set(live) - {self.me})
                    self._released()
                    self.handoffs += 1
                else:
                    if state["turn"] is None:
                        # The first turn goes to the head of the ring, not to whoever asks first, so
                        # that each round of turns runs in ring order (r1, r1, r2, r2, ...).
                        state["turn"] = live[0]
                    if state["turn"] == self.me:
                        self._acquired()
                        return
            time.sleep(POLL_S)

    def leave(self) -> None:
        """Finished (or stopped): the others go on without this process; the turn passes to the next."""
        with self._state() as state:
            live = self._live(state)
            state["members"].setdefault(self.me, {})["done"] = True
            if state["turn"] == self.me:
                state["turn"] = next_in_ring(live, self.me, set(live) - {self.me})
            if not (set(live) - {self.me}):
                state.update(turn=None, started=False)
            self._released()
