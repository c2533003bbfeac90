"""How often `dalle-bench compare` fails an unchanged candidate, and how often it catches a slowdown,
estimated from real recorded runs of one sweep (docs/compare.md, "Error rates").

    .venv/bin/python docs/gate_error_rates.py [--repeats R] [--draws N] [--thresholds FILE] RUN [RUN ...]
    .venv/bin/python docs/gate_error_rates.py --paired [...] BASE:CAND [BASE:CAND ...]

Unpaired, each RUN is a run folder or a folder of run folders of the same sweep, all measured with
the same code: every process that measured it (a plain run is one; a `sweep --repeat` run has R) is
one observation of the run-to-run spread. A draw builds a baseline and a candidate of R processes
each as the hierarchical bootstrap does: processes drawn with replacement, then each one's calls
drawn with replacement (a process keeps its own calls at every point, so its offset is shared by its
points, as in a real run). With --paired, each BASE:CAND is an A/B pair of the same code measured as
the CI recipe does (`sweep --repeat R --interleave`, both sides in one ring): a draw takes R pairs of
processes (repeat k of the baseline with repeat k of the candidate) with replacement, then their
calls, and compares them as pairs. The candidate is either unchanged or has every call slower by a
factor; the comparison is the one `compare` makes (bench.jobs.compare.gates.compare_points: the run-level
test, the sweep-level gate and Holm's procedure), with the thresholds given. Printed: the share of
draws in which the comparison fails (any regression), and in which the sweep-level gate alone fails."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bench.base.errors import BenchError
from bench.jobs.compare.gates import compare_points
from bench.jobs.compare.load import load_side
from bench.jobs.compare.match import key_columns, match_points, point_key
from bench.jobs.compare.noise import REGRESSION
from bench.jobs.compare.runs import took_turns_side_by_side
from bench.jobs.compare.thresholds import build_thresholds, read_thresholds_file

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


def pairs_of(entries: list[str]):
    """The first baseline's rows and {point key: [(baseline calls, candidate calls), ...]} over the
    process pairs of every BASE:CAND entry (processes that measured every point)."""
    rows = key = None
    pairs: dict[tuple, list] = {}
    for entry in entries:
        base_path, _, cand_path = entry.partition(":")
        if not cand_path:
            raise BenchError(f"--paired takes BASE:CAND pairs, got {entry}")
        base, cand = load_side(Path(base_path), "baseline"), load_side(Path(cand_path), "candidate")
        if not took_turns_side_by_side(base.run, cand.run):
            raise BenchError(f"{entry}: these runs did not take turns side by side (sweep --repeat --interleave)")
        if rows is None:
            rows = [row for row in base.rows if row.get("status") == "ok"]
            key = key_columns(base.columns, base.columns)
            pairs = {point_key(row, key): [] for row in rows}
        cand_rows = {point_key(row, key): row for row in cand.rows}
        names = None
        for row in base.rows:
            k = point_key(row, key)
            if k in pairs and k in cand_rows:
                common = set(row["runs"]) & set(cand_rows[k]["runs"])
                names = common if names is None else names & common
        for row in base.rows:
            k = point_key(row, key)
            if k in pairs and k in cand_rows:
                pairs[k] += [(row["runs"][n], cand_rows[k]["runs"][n]) for n in sorted(names or ())]
    if not rows or min(len(v) for v in pairs.values()) < 2:
        raise BenchError("fewer than 2 pairs of processes measured every point")
    return rows, key, pairs


def _resampled(calls: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    calls = calls[np.isfinite(calls)]
    return factor * rng.choice(calls, calls.size, replace=True)


def draw_pairs(rows, key, pairs, repeats: int, factor: float, rng: np.random.Generator):
    chosen = rng.choice(min(len(v) for v in pairs.values()), repeats, replace=True)
    base, cand = [], []
    for row in rows:
        measured = pairs[point_key(row, key)]
        base.append({**row, "runs": {f"r{slot}": _resampled(measured[i][0], 1.0, rng)
                                     for slot, i in enumerate(chosen)}})
        cand.append({**row, "runs": {f"r{slot}": _resampled(measured[i][1], factor, rng)
                                     for slot, i in enumerate(chosen)}})
    return base, cand


def error_rates(sources: list, repeats: int, draws: int, thresholds, seed: int = 0,
                paired: bool = False) -> dict[float, tuple]:
    if paired:
        rows, key, pairs = pairs_of(sources)
    else:
        rows, key, processes, names = pool_of(sources)
    rng = np.random.default_rng(seed)
    results = {}
    for factor in FACTORS:
        fails = sweep_fails = 0
        for _ in range(draws):
            if paired:
                base, cand = draw_pairs(rows, key, pairs, repeats, factor, rng)
            else:
                base = draw_side(rows, key, processes, names, repeats, 1.0, rng)
                cand = draw_side(rows, key, processes, names, repeats, factor, rng)
            comparison = compare_points(match_points(base, cand, key), key, thresholds, "baseline", "candidate",
                                        paired=paired)
            fails += not comparison.passed
            sweep_fails += comparison.sweep is not None and comparison.sweep.verdict == REGRESSION
        results[factor] = (fails / draws, sweep_fails / draws)
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="runs (or folders of runs); with --paired, BASE:CAND pairs")
    parser.add_argument("--paired", action="store_true", help="A/B pairs that took turns side by side")
    parser.add_argument("--repeats", type=int, default=5, help="processes a side (sweep --repeat R)")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--thresholds", type=Path, default=None, help="a compare thresholds file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        thresholds = build_thresholds(read_thresholds_file(args.thresholds) if args.thresholds else {}, {})
        if args.paired:
            rows, _, pairs = pairs_of(args.runs)
            observed = f"{min(len(v) for v in pairs.values())} pairs of processes"
        else:
            rows, _, _, names = pool_of([Path(run) for run in args.runs])
            observed = f"{len(names)} processes"
        print(f"{observed}, {len(rows)} points; {args.repeats} processes a side, {args.draws} draws a factor; "
              f"thresholds {args.thresholds or 'default'}")
        sources = args.runs if args.paired else [Path(run) for run in args.runs]
        for factor, (fails, sweep_fails) in error_rates(sources, args.repeats, args.draws, thresholds,
                                                        args.seed, args.paired).items():
            what = "unchanged" if factor == 1.0 else f"every call x{factor:g}"
            print(f"{what:>18}: compare fails in {fails:.1%} of draws; the sweep-level gate in {sweep_fails:.1%}")
    except BenchError as e:
        sys.exit(f"Error: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
