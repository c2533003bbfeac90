"""How often `dalle-bench compare` fails an unchanged candidate, and how often it catches a slowdown,
estimated from real recorded runs of one sweep (docs/compare.md, "Error rates").

    .venv/bin/python docs/gate_error_rates.py [--repeats R] [--draws N] [--thresholds FILE] RUN [RUN ...]

Each RUN is a run folder or a folder of run folders of the same sweep, all measured with the same
code: every process that measured it (a plain run is one; a `sweep --repeat` run has R) is one
observation of the run-to-run spread. A draw builds a baseline and a candidate of R processes each
as the hierarchical bootstrap does: processes drawn with replacement, then each one's calls drawn
with replacement (a process keeps its own calls at every point, so its offset is shared by its
points, as in a real run). The candidate is either unchanged or has every call slower by a factor;
the comparison is the one `compare` makes (bench.compare.gates.compare_points: the run-level test,
the sweep-level gate and Holm's procedure), with the thresholds given. Printed: the share of draws
in which the comparison fails (any regression), and in which the sweep-level gate alone fails."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.compare.gates import compare_points
from bench.compare.load import load_side
from bench.compare.match import key_columns, match_points, point_key
from bench.compare.noise import REGRESSION
from bench.compare.thresholds import build_thresholds, read_thresholds_file
from bench.errors import BenchError

FACTORS = (1.0, 1.1, 1.3, 1.5)


def pool_of(paths: list[Path]):
    """The rows of the first run and {point key: {process: calls}} over every run given."""
    sides = [load_side(path, "run") for path in paths]
    rows = [row for row in sides[0].rows if row.get("status") == "ok"]
    key = key_columns(sides[0].columns, sides[0].columns)
    processes: dict[tuple, dict[str, np.ndarray]] = {point_key(row, key): {} for row in rows}
    for index, side in enumerate(sides):
        for row in side.rows:
            target = processes.get(point_key(row, key))
            if target is not None:
                target.update({f"{index}:{name}": calls for name, calls in row["runs"].items()})
    names = sorted(set.intersection(*(set(p) for p in processes.values())))
    if len(names) < 2:
        raise BenchError(f"{len(names)} process(es) measured every point: at least 2 are needed")
    return rows, key, processes, names


def draw_side(rows, key, processes, names, repeats: int, factor: float, rng: np.random.Generator) -> list[dict]:
    chosen = rng.choice(len(names), repeats, replace=True)
    side = []
    for row in rows:
        measured = processes[point_key(row, key)]
        runs = {}
        for slot, index in enumerate(chosen):
            calls = measured[names[index]]
            calls = calls[np.isfinite(calls)]
            runs[f"p{slot}"] = factor * rng.choice(calls, calls.size, replace=True)
        side.append({**row, "runs": runs})
    return side


def error_rates(paths: list[Path], repeats: int, draws: int, thresholds, seed: int = 0) -> dict[float, tuple]:
    rows, key, processes, names = pool_of(paths)
    rng = np.random.default_rng(seed)
    results = {}
    for factor in FACTORS:
        fails = sweep_fails = 0
        for _ in range(draws):
            base = draw_side(rows, key, processes, names, repeats, 1.0, rng)
            cand = draw_side(rows, key, processes, names, repeats, factor, rng)
            comparison = compare_points(match_points(base, cand, key), key, thresholds, "baseline", "candidate")
            fails += not comparison.passed
            sweep_fails += comparison.sweep is not None and comparison.sweep.verdict == REGRESSION
        results[factor] = (fails / draws, sweep_fails / draws)
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--repeats", type=int, default=5, help="processes a side (sweep --repeat R)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--thresholds", type=Path, default=None, help="a compare thresholds file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        thresholds = build_thresholds(read_thresholds_file(args.thresholds) if args.thresholds else {}, {})
        rows, _, _, names = pool_of(args.runs)
        print(f"{len(names)} processes, {len(rows)} points; {args.repeats} processes a side, {args.draws} draws "
              f"a factor; thresholds {args.thresholds or 'default'}")
        for factor, (fails, sweep_fails) in error_rates(args.runs, args.repeats, args.draws, thresholds,
                                                        args.seed).items():
            what = "unchanged" if factor == 1.0 else f"every call x{factor:g}"
            print(f"{what:>18}: compare fails in {fails:.1%} of draws; the sweep-level gate in {sweep_fails:.1%}")
    except BenchError as e:
        sys.exit(f"Error: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
