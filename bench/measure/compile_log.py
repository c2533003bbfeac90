"""Counting XLA compilations in this process from JAX's own monitoring
events, so tests and run records count compilations instead of timing them.

Every backend compilation request (`/jax/core/compile/backend_compile_duration`)
is either a persistent-cache hit (`/jax/compilation_cache/cache_hits`) or a
real compilation."""

from __future__ import annotations

import threading

from jax import monitoring

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
CACHE_HIT = "/jax/compilation_cache/cache_hits"

_counts = {BACKEND_COMPILE: 0, CACHE_HIT: 0}
_lock = threading.Lock()


def _count(event: str, *args, **kwargs) -> None:
    if event in _counts:
        with _lock:
            _counts[event] += 1


monitoring.register_event_listener(_count)
monitoring.register_event_duration_secs_listener(_count)


class CompileLog:
    """Compilations since this log was made."""

    def __init__(self):
        self._start = dict(_counts)

    def requests(self) -> int:
        """Backend compilation requests: real compilations and persistent-cache hits."""
        return _counts[BACKEND_COMPILE] - self._start[BACKEND_COMPILE]

    def cache_hits(self) -> int:
        return _counts[CACHE_HIT] - self._start[CACHE_HIT]

    def compiles(self) -> int:
        """Programs XLA actually compiled (requests the persistent cache did not answer)."""
        return self.requests() - self.cache_hits()
