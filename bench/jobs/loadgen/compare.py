"""Comparing two loadgen runs (pure: rows in, verdicts out). Tests are matched
by scenario_id. Each matched test gets a validity gate (VALID in the
baseline, anything else in the candidate is a regression: a candidate that
no longer meets LoadGen's rules has not kept its figure) and a gate on the
scenario's result metric: samples/s against --max-throughput-drop, latency
against --max-latency-rise. LoadGen gives one figure per test, with no
interval, so the threshold alone decides (no noise rule)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..compare.noise import NA, OK, REGRESSION, verdict
from ..compare.thresholds import Thresholds, describe


@dataclass(frozen=True)
class ScenarioGate:
    scenario_id: str
    gate: str  # "validity" or the result metric
    baseline: object
    candidate: object
    change: float | None  # relative change, candidate against baseline (result gates)
    verdict: str
    reason: str


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def baseline_problem(base_rows: list[dict]) -> str | None:
    """Why the baseline's figures cannot be compared against (a figure that is not finite or not > 0:
    the change against it would be NaN or of the wrong sign), or None."""
    for row in base_rows:
        value = _number(row.get("result_value"))
        if value is not None and (not math.isfinite(value) or value <= 0):
            return f"{row.get('scenario_id')}'s {row.get('result_metric')} is {value}: not a measured figure"
    return None


def compare_scenarios(base_rows: list[dict], cand_rows: list[dict], thresholds: Thresholds) -> list[ScenarioGate]:
    """ValueError when the baseline holds a figure that is not finite or not > 0 (baseline_problem)."""
    problem = baseline_problem(base_rows)
    if problem:
        raise ValueError(problem)
    gates: list[ScenarioGate] = []
    candidates = {row["scenario_id"]: row for row in cand_rows}
    for base in base_rows:
        sid = base["scenario_id"]
        cand = candidates.get(sid)
        if cand is None:
            gates.append(ScenarioGate(sid, "validity", base.get("validity"), None, None, REGRESSION,
                                      "missing from the candidate"))
            continue
        was_valid = base.get("validity") == "VALID"
        lost = was_valid and (cand.get("validity") != "VALID" or cand.get("status") != "ok")
        gates.append(ScenarioGate(sid, "validity", base.get("validity"), cand.get("validity"), None,
                                  REGRESSION if lost else OK,
                                  f"INVALID where the baseline was VALID: {cand.get('invalid_reason')}" if lost
                                  else "as the baseline" if cand.get("validity") == base.get("validity")
                                  else "baseline was not VALID: not gated"))
        metric = base.get("result_metric")
        b, c = _number(base.get("result_value")), _number(cand.get("result_value"))
        higher_better = metric == "samples_per_s"
        name = "max_throughput_drop" if higher_better else "max_latency_rise"
        threshold = getattr(thresholds, name)
        if c is not None and (not math.isfinite(c) or c <= 0):  # never a pass (issue 29)
            gates.append(ScenarioGate(sid, metric, b, c, None, REGRESSION,
                                      f"the candidate's {metric} is {c}: not a measured figure"))
            continue
        if c is None and b is not None and cand.get("status") == "ok":  # finished without the figure it had
            gates.append(ScenarioGate(sid, metric, b, c, None, REGRESSION,
                                      f"the candidate's test finished but has no {metric} figure"))
            continue
        change = None if b in (None, 0) or c is None else (c - b) / b
        worsening = None if change is None else (-change if higher_better else change)
        outcome = NA if metric != cand.get("result_metric") else verdict(worsening, threshold, None)
        gates.append(ScenarioGate(sid, metric, b, c, change, outcome,
                                  f"{'drop' if higher_better else 'rise'} limit {describe(name, threshold)}"))
    return gates


def passed(gates: list[ScenarioGate]) -> bool:
    return not any(g.verdict == REGRESSION for g in gates)


def render(gates: list[ScenarioGate], baseline: str, candidate: str, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"baseline": baseline, "candidate": candidate, "passed": passed(gates),
                           "gates": [g.__dict__ for g in gates]}, indent=2) + "\n"
    verdict_text = "PASS" if passed(gates) else "FAIL"
    lines = [f"## dalle-bench compare (loadgen): {verdict_text}", "",
             f"Baseline {baseline}, candidate {candidate}.", "",
             "| test | gate | baseline | candidate | change | verdict | note |", "|---|---|---|---|---|---|---|"]
    for g in gates:
        change = "" if g.change is None else f"{100 * g.change:+.1f} %"
        value = (lambda v: f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append(f"| {g.scenario_id} | {g.gate} | {value(g.baseline)} | {value(g.candidate)} | {change} | "
                     f"{g.verdict} | {g.reason} |")
    return "\n".join(lines) + "\n"
