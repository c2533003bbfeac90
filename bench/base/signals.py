"""SIGTERM (`kill`, a scheduler's stop) handled as Ctrl-C is, for as long as a
command runs: it raises `Terminated`, a KeyboardInterrupt, so that one
`except KeyboardInterrupt` stops a command either way (exit 143, not 130)."""

from __future__ import annotations

import contextlib
import signal

from .errors import Terminated


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Inside the block SIGTERM raises Terminated; the handler before it is back on leaving, however the
    block ends. (Main thread only, as every signal handler.)"""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        # None: the previous handler was not installed from Python; the default is what it did.
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def stopped_by(stop: KeyboardInterrupt, sigint: str = "SIGINT") -> tuple[str, int]:
    """What stopped a command, and its exit status: SIGTERM 143, SIGINT 130 (named `sigint`: "Ctrl-C" in
    loadgen's records)."""
    return ("SIGTERM", 143) if isinstance(stop, Terminated) else (sigint, 130)
