"""How often the A/B throughput gate (tiny-ab-thresholds.toml: a 20 % drop, Mann-Whitney U at
alpha 0.05) fails an unchanged candidate, and how often it catches every call 30 % slower, by
resampling per-call latencies measured on this machine (docs/compare.md: Throughput A/B).

    python docs/ab_gate_power.py [--calls N] RUN_DIR [RUN_DIR ...]   # runs of the baseline's 3-point sweep

Each run's points are resampled with replacement (N calls a side, default 12 as the baseline's
sweep times; DRAWS times); a run of three points fails when any point's gate fails."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench.compare.noise import latency_test

DRAWS = 300


def gate_fails(base, cand, drop: float) -> bool:
    test = latency_test(base, cand)
    return bool(test.significant and 1 - 1 / test.ratio > drop)


def main(runs: list[str], calls: int) -> None:
    empty = [run for run in runs if not any(Path(run).glob("images/*/latencies.npy"))]
    if not runs or empty:
        sys.exit(f"Error: no run folder with images/*/latencies.npy given{': ' + ', '.join(empty) if empty else ''}")
    for drop in (0.15, 0.20):
        for run in runs:
            rng = np.random.default_rng(0)
            alarms, catches = [], []
            for path in sorted(Path(run).glob("images/*/latencies.npy")):
                measured = np.load(path)
                draws = [(rng.choice(measured, calls), rng.choice(measured, calls)) for _ in range(DRAWS)]
                alarms.append(np.mean([gate_fails(a, b, drop) for a, b in draws]))
                catches.append(np.mean([gate_fails(a, 1.3 * b, drop) for a, b in draws]))
            print(f"drop {drop:.0%}, {calls} calls a side, {run}: "
                  f"unchanged fails {1 - np.prod(1 - np.array(alarms)):.3f}, "
                  f"30 % slower caught {1 - np.prod(1 - np.array(catches)):.3f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    calls = 12
    if args[:1] == ["--calls"]:
        calls, args = int(args[1]), args[2:]
    main(args, calls)
