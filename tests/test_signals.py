"""bench/base/signals.py: SIGTERM stops a command as Ctrl-C does while the command
runs, and whatever handled SIGTERM before is back afterwards."""

from __future__ import annotations

import contextlib
import signal

import pytest

from bench.base.errors import Terminated
from bench.base.signals import sigterm_as_interrupt, stopped_by


@pytest.fixture
def recorded_sigterm():
    """A SIGTERM handler of the caller's (recording each signal), restored to the original after the test."""
    seen = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, original)


def test_sigterm_inside_raises_terminated_and_the_previous_handler_is_back(recorded_sigterm):
    with pytest.raises(Terminated) as stop:
        with sigterm_as_interrupt():
            signal.raise_signal(signal.SIGTERM)
    assert isinstance(stop.value, KeyboardInterrupt)  # caught where Ctrl-C is
    assert recorded_sigterm == []  # the block's handler took it, not the caller's
    signal.raise_signal(signal.SIGTERM)
    assert recorded_sigterm == [signal.SIGTERM]


@pytest.mark.parametrize("ending", ["normally", "by an error"])
def test_the_previous_handler_is_back_however_the_block_ends(recorded_sigterm, ending):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ValueError) if ending == "by an error" else contextlib.nullcontext():
        with sigterm_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is not before
            if ending == "by an error":
                raise ValueError("a failure inside the command")
    assert signal.getsignal(signal.SIGTERM) is before


def test_stopped_by_names_the_signal_and_its_exit_status():
    assert stopped_by(Terminated()) == ("SIGTERM", 143)
    assert stopped_by(KeyboardInterrupt()) == ("SIGINT", 130)
    assert stopped_by(KeyboardInterrupt(), "Ctrl-C") == ("Ctrl-C", 130)
