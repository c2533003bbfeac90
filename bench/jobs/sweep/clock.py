"""Where a sweep's wall time goes: loading, compiling, timed calls, the
untimed calls around them, the stage breakdown, writing results. Pure
bookkeeping: the executor adds seconds to named parts, the summary says
what fraction of the wall time was spent measuring."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

# Parts in the order they are shown; `other` is whatever no part claimed.
PARTS = {
    "load": "loading models and placing weights on devices",
    "compile": "compiling programs (whole pipeline and stage programs)",
    "timed": "the timed calls (the measurement itself)",
    "untimed_calls": "warm-up calls and reading outputs back between timed calls",
    "stages": "timing the stage programs (their compilation counted under compile)",
    "writing": "writing images, tokens and result rows",
    "report": "writing the report",
}


@dataclass
class SweepClock:
    started: float = field(default_factory=time.perf_counter)
    seconds: dict = field(default_factory=lambda: dict.fromkeys(PARTS, 0.0))
    programs_compiled: int = 0
    programs_reused: int = 0

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] += seconds

    @contextmanager
    def timing(self, part: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(part, time.perf_counter() - start)

    def summary(self) -> dict:
        wall = time.perf_counter() - self.started
        parts = {f"{name}_s": round(value, 3) for name, value in self.seconds.items()}
        return {"wall_s": round(wall, 3), **parts, "other_s": round(wall - sum(self.seconds.values()), 3),
                "measuring_fraction": round(self.seconds["timed"] / wall, 4) if wall > 0 else None,
                "programs_compiled": self.programs_compiled, "programs_reused": self.programs_reused}


def summary_text(summary: dict) -> str:
    """The end-of-sweep lines: wall time, each part's share, the measuring fraction."""
    wall = summary["wall_s"]
    shown = [f"{name} {summary[f'{name}_s']:.1f} s" for name in (*PARTS, "other") if summary.get(f"{name}_s")]
    return (f"Sweep wall time {wall:.1f} s: {', '.join(shown)}; measuring fraction (timed / wall) "
            f"{100 * (summary['measuring_fraction'] or 0):.0f} %; programs compiled {summary['programs_compiled']}, "
            f"reused {summary['programs_reused']}.")
