"""The dynamic batcher between LoadGen and the compiled pipeline.

LoadGen's issuing thread only appends to a queue (`issue` never waits on the
device). A dispatcher thread forms batches of up to `max_batch` queued
samples, waiting at most `window_s` after the oldest one arrived for a batch
to fill, and launches them; a completer thread waits for each batch's
results and hands them to `complete`, so the next batch is formed and
launched while the last one's results travel to the host. At most
`in_flight` batches are on the device at once: while one runs, new arrivals
queue up and join the next batch instead of trickling out one by one."""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Queued:
    id: int  # LoadGen's response id
    index: int  # query sample library index
    issued_at: float  # time.monotonic() when LoadGen issued it


def wait_before_batch(queued: int, max_batch: int, oldest_waited_s: float, window_s: float) -> float:
    """Seconds to wait before launching a batch of what is queued: 0 when
    the batch is full or the oldest sample has waited out the window."""
    if queued == 0:
        return float("inf")
    if queued >= max_batch or oldest_waited_s >= window_s:
        return 0.0
    return window_s - oldest_waited_s


class Dispatcher:
    def __init__(self, launch: Callable[[list[int]], Any], ready: Callable[[Any], None],
                 complete: Callable[[list[Queued], Any], None], max_batch: int, window_s: float, in_flight: int = 1):
        self._launch, self._ready, self._complete = launch, ready, complete
        self.max_batch, self.window_s = max_batch, window_s
        self._pending: collections.deque[Queued] = collections.deque()
        self._lock = threading.Condition()
        self._slots = threading.Semaphore(in_flight)
        self._launched: queue.Queue = queue.Queue()
        self._stopping = False
        self.batches = 0
        self.samples = 0
        self.error: BaseException | None = None
        self._threads = [threading.Thread(target=self._dispatch, name="dispatcher", daemon=True),
                         threading.Thread(target=self._finish, name="completer", daemon=True)]

    def start(self) -> "Dispatcher":
        for thread in self._threads:
            thread.start()
        return self

    def issue(self, samples) -> None:
        """LoadGen's issue_queries callback: enqueue and return at once."""
        now = time.monotonic()
        with self._lock:
            self._pending.extend(Queued(s.id, s.index, now) for s in samples)
            self._lock.notify()

    def flush(self) -> None:
        """LoadGen's flush_queries callback: nothing is held back beyond the window anyway."""

    def _take(self) -> list[Queued] | None:
        with self._lock:
            while True:
                if self._stopping:
                    return None
                oldest = time.monotonic() - self._pending[0].issued_at if self._pending else 0.0
                wait = wait_before_batch(len(self._pending), self.max_batch, oldest, self.window_s)
                if wait == 0.0:
                    return [self._pending.popleft() for _ in range(min(self.max_batch, len(self._pending)))]
                self._lock.wait(None if wait == float("inf") else wait)

    def _dispatch(self) -> None:
        while True:
            self._slots.acquire()
            batch = self._take()
            if batch is None:
                break
            outputs = None
            if self.error is None:
                try:
                    outputs = self._launch([q.index for q in batch])
                    self.batches += 1
                    self.samples += len(batch)
                except BaseException as e:  # noqa: BLE001 - kept for the run's row; LoadGen must still finish
                    self.error = e
            self._launched.put((batch, outputs))
        self._launched.put(None)

    def _finish(self) -> None:
        """After a failure, batches are completed without results (`complete(batch, None)`),
        so LoadGen ends its test instead of waiting for them forever."""
        while (item := self._launched.get()) is not None:
            batch, outputs = item
            if outputs is not None:
                try:
                    self._ready(outputs)
                except BaseException as e:  # noqa: BLE001
                    self.error, outputs = self.error or e, None
            self._slots.release()
            try:
                self._complete(batch, outputs)
            except BaseException as e:  # noqa: BLE001
                self.error = self.error or e
                if outputs is not None:
                    self._complete(batch, None)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        self._slots.release()  # a dispatcher waiting for a slot sees the stop
        for thread in self._threads:
            thread.join(timeout=60)

    @property
    def mean_fill(self) -> float | None:
        return self.samples / (self.batches * self.max_batch) if self.batches else None
