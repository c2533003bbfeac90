"""A sweep's wall-clock budget (`sweep --budget-s`), and the rule that a batch
larger than one that ran out of memory is not tried. Pure bookkeeping: the
executor asks before each point whether to run it and tells what each point
cost; nothing here touches a device.

What a point will cost is estimated from what the sweep has measured so far:
compiling its program (the longest compilation seen for its dtype and sampling
structure, else the longest of any: compile time barely depends on the batch)
and its calls (the median latency of the nearest smaller batch of the same
program family, scaled up with the batch as the two largest batches measured
grew, between square root and linear; linear from a single batch, so the
estimate errs long). The first point of a
sweep has nothing to be estimated from and always runs: it is what measures
compile time. A point whose estimate does not fit in what is left is
recorded as `skipped` with the estimate and the reason, and the sweep goes
on (a cheaper point may still fit)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path


def process_started() -> float:
    """When this process started, on time.monotonic()'s clock where the system
    says (Linux: both count from boot), else now: the budget counts the
    interpreter's start and imports too."""
    now = time.monotonic()
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        started = ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return started if now - 600 <= started <= now else now


@dataclass(frozen=True)
class Family:
    """Points whose programs differ by the batch only: the batch ladder of one layout and sampling structure."""

    dtype: str
    parallel: str
    devices: int
    structure: str

    @classmethod
    def of(cls, settings: dict, structure: str) -> Family:
        return cls(settings["dtype"], settings["parallel"], int(settings["devices"]), structure)


MIN_EXPONENT = 0.5


def growth_exponent(latencies: dict[int, float]) -> float:
    """How latency grows with the batch, as the exponent a of latency ~ batch^a
    between the two largest batches measured, within [0.5, 1]; 1 (linear, the
    cautious guess) from one batch. An accelerator's latency barely grows while
    its units are idle (the H200 ran mini at batch 4 as fast as at batch 1), a
    CPU's grows linearly; the floor keeps a guess from two flat points from
    promising much larger batches for nothing."""
    if len(latencies) < 2:
        return 1.0
    (b1, l1), (b2, l2) = sorted(latencies.items())[-2:]
    if l1 <= 0 or l2 <= 0:
        return 1.0
    exponent = math.log(l2 / l1) / math.log(b2 / b1)
    return min(1.0, max(MIN_EXPONENT, exponent))


@dataclass(frozen=True)
class Cost:
    """Estimated seconds of one point: compiling (0 when its program is compiled) and its calls."""

    compile_s: float
    calls: int
    latency_s: float

    @property
    def total_s(self) -> float:
        return self.compile_s + self.calls * self.latency_s

    def describe(self) -> str:
        parts = [f"compile ~{self.compile_s:.0f} s"] if self.compile_s else []
        parts.append(f"{self.calls} calls of ~{self.latency_s:.2f} s")
        return f"~{self.total_s:.0f} s ({' + '.join(parts)})"


@dataclass
class Budget:
    """What a sweep has measured, for estimating what is left. `budget_s`
    None: no budget (only the out-of-memory rule applies)."""

    budget_s: float | None
    started: float = field(default_factory=process_started)
    compiles: dict = field(default_factory=dict)
    """(dtype, structure) -> longest compile seen, seconds."""
    latencies: dict = field(default_factory=dict)
    """Family -> {batch_per_device: median latency of a call, seconds}."""
    out_of_memory: dict = field(default_factory=dict)
    """Family -> smallest batch per device that ran out of memory."""

    def left_s(self, now: float | None = None) -> float | None:
        if self.budget_s is None:
            return None
        return self.budget_s - ((time.monotonic() if now is None else now) - self.started)

    def estimate(self, family: Family, batch: int, compiled: bool, calls: int, programs: int = 1) -> Cost | None:
        """The point's cost, or None when nothing measured yet says anything about it.
        `programs`: compilations to pay, as multiples of the whole pipeline's."""
        compile_s = 0.0
        if not compiled:
            same = self.compiles.get((family.dtype, family.structure))
            known = same if same is not None else max(self.compiles.values(), default=None)
            if known is None:
                return None
            compile_s = known * programs
        latency_s = self._latency(family, batch)
        if latency_s is None:
            if compile_s == 0.0:
                return None
            latency_s = 0.0  # no call of this kind measured yet: the compile estimate alone
        return Cost(compile_s, calls, latency_s)

    def _latency(self, family: Family, batch: int) -> float | None:
        measured = self.latencies.get(family)
        if not measured:
            # Another family of the same dtype and structure (another device count): latency per image.
            others = [(b, s) for f, m in self.latencies.items() if (f.dtype, f.structure) ==
                      (family.dtype, family.structure) for b, s in m.items()]
            if not others:
                return None
            b, s = max(others)
            return s * max(1.0, batch / b)
        smaller = sorted(b for b in measured if b <= batch)
        if not smaller:
            return measured[min(measured)]
        b = smaller[-1]
        return measured[b] * max(1.0, batch / b) ** growth_exponent(
            {k: v for k, v in measured.items() if k <= batch})

    def skip_reason(self, family: Family, batch: int, compiled: bool, calls: int, programs: int = 1,
                    now: float | None = None) -> str | None:
        """Why the point is not run, or None to run it."""
        oom = self.out_of_memory.get(family)
        if oom is not None and batch >= oom:
            return f"not tried: batch per device {oom} ran out of memory with these settings"
        left = self.left_s(now)
        if left is None:
            return None
        cost = self.estimate(family, batch, compiled, calls, programs)
        if cost is None:
            if left > 0:
                return None  # the first of its kind: it measures what the rest are planned from
            return f"budget: {self.budget_s:.0f} s spent before this point"
        if cost.total_s > left:
            return f"budget: needs {cost.describe()}, {max(left, 0):.0f} s of the {self.budget_s:.0f} s budget left"
        return None

    def record(self, family: Family, batch: int, status: str, compile_s: float | None,
               latency_s: float | None) -> None:
        if status == "oom":
            self.out_of_memory[family] = min(batch, self.out_of_memory.get(family, batch))
        if compile_s:
            key = (family.dtype, family.structure)
            self.compiles[key] = max(compile_s, self.compiles.get(key, 0.0))
        if status == "ok" and latency_s is not None:
            self.latencies.setdefault(family, {})[batch] = latency_s
