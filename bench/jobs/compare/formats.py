"""A comparison as Markdown (a pull-request comment: the verdict line first,
then the table), JSON (for machines; shape in docs/compare.md) or JUnit XML (one
test case per point and gate, so CI systems list every gate). Pure."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from .family import METHOD
from .gates import METRICS, STATUS, SWEEP, Comparison, Gate, PointComparison
from .noise import CONFIDENCE, INFO, MIN_CALIBRATION_RUNS, NA, NOISE, OFF, REGRESSION, UNDECIDED
from .thresholds import describe

MARKS = {REGRESSION: " ✗", NOISE: " ~", UNDECIDED: " ?"}


def test_text(comparison: Comparison) -> str:
    """How the gates are decided, with the family's size and level: said in every format."""
    runs = f"{comparison.runs[0]} vs {comparison.runs[1]} runs"
    how = ("the runs took turns side by side (sweep --repeat --interleave), so process k of each side is "
           "paired: the paired t-test on the differences of their log medians, one-sided against the threshold"
           if comparison.paired else "Welch's t-test on the log run medians, one-sided against the threshold")
    return (f"latency (one test per point; images/s shown): runs are the unit ({runs}): each run's median, "
            f"{how} (a single candidate run "
            f"against a baseline of at least {MIN_CALIBRATION_RUNS} runs: a prediction test; one run a side: "
            f"undecided); the sweep: the geometric mean of the points' latency ratios, the same test on one "
            f"figure per run; CLIP score: Welch's t-test on the means; adherence: Newcomb's interval on the pass "
            f"counts; family-wise: {METHOD} over the {comparison.tests} tested gate"
            f"{'s' if comparison.tests != 1 else ''} at α = {comparison.alpha:g}; intervals "
            f"{CONFIDENCE:.0%} two-sided")


def _settings_text(point: PointComparison, names) -> str:
    return ", ".join(f"{name}={point.settings[name]}" for name in names)


def varying_settings(comparison: Comparison) -> list[str]:
    """The key columns whose value differs between matched points (all of them for one point)."""
    varying = [name for name in comparison.key if len({repr(p.settings[name]) for p in comparison.points}) > 1]
    return varying or list(comparison.key)


def _number(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    return f"{value:.4g}"


def _change(gate: Gate) -> str:
    if gate.change is None:
        return "n/a"
    return f"{gate.change * 100:+.1f} %" if gate.relative else f"{gate.change:+.2f}"


def _cell(gate: Gate | None) -> str:
    if gate is None:
        return "—"
    if gate.verdict == NA:
        return "n/a"
    if gate.note:
        return gate.note.split(":")[0]  # "undecided": the reason is in the notes under the table
    return _change(gate) + _interval_text(gate) + MARKS.get(gate.verdict, "")


def _point(point: PointComparison) -> str:
    same = point.baseline_id == point.candidate_id
    return point.baseline_id if same else f"{point.baseline_id} → {point.candidate_id}"


def _status_cell(gate: Gate) -> str:
    if gate.baseline == gate.candidate == "ok":
        return "ok"
    return f"{gate.baseline} → {gate.candidate}" + MARKS.get(gate.verdict, "")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sweep_text(comparison: Comparison) -> str:
    """The figure a reviewer reads first: the sweep's latency change with its interval and verdict."""
    g = comparison.sweep
    if g is None:
        return ""
    if g.verdict in (OFF, NA):
        return f"sweep latency: {g.reason}"
    word = {REGRESSION: "regression", NOISE: "beyond threshold, within noise", UNDECIDED: "undecided"}.get(
        g.verdict, "ok")
    return f"sweep latency {_change(g)}{_interval_text(g)} ({word})"


def verdict_line(comparison: Comparison) -> str:
    runs = f"baseline `{comparison.baseline}`, candidate `{comparison.candidate}`"
    matched = f"{len(comparison.points)} matched point{'s' if len(comparison.points) != 1 else ''}"
    noise = comparison.count(NOISE)
    noise_text = f"; {noise} change{'s' if noise != 1 else ''} beyond threshold within noise" if noise else ""
    undecided = len(comparison.undecided())
    failing = " (fails: --require-decided)" if comparison.require_decided and undecided else ""
    undecided_text = (f"; {undecided} gate{'s' if undecided != 1 else ''} undecided{failing}" if undecided else "")
    family = f"; {METHOD} over {comparison.tests} test{'s' if comparison.tests != 1 else ''} at α = {comparison.alpha:g}"
    sweep = sweep_text(comparison)
    sweep = f"{sweep}; " if sweep else ""
    regressions = len(comparison.regressions())
    if regressions or not comparison.passed:
        what = (f"{regressions} regression{'s' if regressions != 1 else ''}" if regressions
                else "no regression, but undecided gates")
        return f"**FAIL**: {what} in {matched} ({sweep}{runs}{noise_text}{undecided_text}{family})."
    return f"**PASS**: no regression in {matched} ({sweep}{runs}{noise_text}{undecided_text}{family})."


def _interval_text(gate: Gate) -> str:
    """The change's interval, oriented like the change: in % of the baseline, or in points."""
    interval = change_interval(gate)
    if interval is None:
        return ""
    if gate.relative:
        return f" [{interval[0] * 100:+.1f}, {interval[1] * 100:+.1f}]"
    return f" [{interval[0]:+.2f}, {interval[1]:+.2f}]"


def change_interval(gate: Gate) -> tuple[float, float] | None:
    return gate.interval()


def markdown(comparison: Comparison) -> str:
    compared = [p for p in comparison.points if len(p.gates) > 1]  # ok on both sides: metric gates
    shown = [m for m in METRICS if any(g.baseline is not None and g.candidate is not None
                                       for p in compared if (g := p.gate(m.column)))]
    missing = [m.label for m in METRICS if m not in shown] if compared else []
    names = varying_settings(comparison)
    lines = [verdict_line(comparison), ""]
    lines += [f"> Warning: {w}" for w in comparison.warnings]
    if comparison.warnings:
        lines.append("")
    header = ["point", "settings", "status", *(m.label for m in shown)]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in comparison.points:
        cells = [_point(p), _settings_text(p, names), _status_cell(p.gate(STATUS)),
                 *(_cell(p.gate(m.column)) for m in shown)]
        lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    for title, listed in (("Regressions", comparison.regressions()), ("Undecided", comparison.undecided())):
        if not listed:
            continue
        lines += ["", f"### {title}", "", "| point | metric | baseline | candidate | change | threshold | why |",
                  "|---|---|---|---|---|---|---|"]
        for p, g in listed:
            threshold = describe(_threshold_name(g), g.threshold) if g.metric != STATUS else "—"
            cells = ["sweep" if p is None else _point(p), g.metric, _number(g.baseline), _number(g.candidate),
                     _change(g) + _interval_text(g) if g.metric != STATUS else "—", threshold, g.reason]
            lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    t = comparison.thresholds
    lines += ["", "Thresholds: " + ", ".join(f"{name} {describe(name, getattr(t, name))}" for name in t.names())
              + ". Change: candidate against baseline, in % (absolute for CLIP score, FID and adherence); in "
              "brackets its interval. Tests: " + test_text(comparison) + ". "
              "✗ regression: beyond its threshold and not noise (or no test); "
              "~ beyond its threshold but within noise; ? undecided (why: below)."]
    notes = [f"Not measured in both runs: {', '.join(missing)}."] if missing else []
    notes += sorted({f"{g.label}: {g.note}." for p in compared for g in p.gates if g.note})
    notes += sorted({f"Not compared: {g.label}, {g.reason}." for p in compared for g in p.gates
                     if g.reason.startswith("not comparable")})
    for side, ids in (("baseline", comparison.only_baseline), ("candidate", comparison.only_candidate)):
        if ids:
            notes.append(f"Not compared: {len(ids)} {side} point{'s' if len(ids) != 1 else ''} without a match "
                         f"({', '.join(ids)}).")
    for note in notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _threshold_name(gate: Gate) -> str | None:
    if gate.metric == SWEEP:
        return "max_sweep_latency_rise"
    return next((m.threshold for m in METRICS if m.column == gate.metric), None)


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _gate_json(g: Gate) -> dict:
    t = g.test
    tested = {}
    if t is not None:
        tested = {"test": t.name, "p_value": t.p_value, "holm_adjusted_p": g.adjusted_p,
                  "change_interval": list(change_interval(g)) if change_interval(g) else None}
        if hasattr(t, "baseline_runs"):
            tested.update(runs=[t.baseline_runs, t.candidate_runs], calls=[t.baseline_calls, t.candidate_calls])
    return {"metric": g.metric, "baseline": _plain(g.baseline), "candidate": _plain(g.candidate),
            "change": _plain(g.change),
            "change_kind": None if g.metric == STATUS else "relative" if g.relative else "absolute",
            "threshold": g.threshold, "verdict": g.verdict, "reason": g.reason,
            **({"note": g.note} if g.note else {}), **tested}


def to_json(comparison: Comparison) -> dict:
    return {
        "verdict": "pass" if comparison.passed else "fail",
        "baseline": comparison.baseline,
        "candidate": comparison.candidate,
        "runs": list(comparison.runs),
        "paired": comparison.paired,
        "key": list(comparison.key),
        "thresholds": comparison.thresholds.to_json(),
        "matched_points": len(comparison.points),
        "regressions": len(comparison.regressions()),
        "within_noise": comparison.count(NOISE),
        "undecided": comparison.count(UNDECIDED),
        "require_decided": comparison.require_decided,
        "significance_level": comparison.alpha,
        "family": {"method": METHOD, "tests": comparison.tests, "alpha": comparison.alpha},
        "test": test_text(comparison),
        "sweep": None if comparison.sweep is None else _gate_json(comparison.sweep),
        "only_baseline": list(comparison.only_baseline),
        "only_candidate": list(comparison.only_candidate),
        "warnings": list(comparison.warnings),
        "points": [{
            "baseline_point": p.baseline_id,
            "candidate_point": p.candidate_id,
            "settings": {k: _plain(v) for k, v in p.settings.items()},
            "gates": [_gate_json(g) for g in p.gates],
        } for p in comparison.points],
    }


def json_text(comparison: Comparison) -> str:
    return json.dumps(to_json(comparison), indent=2) + "\n"


def junit(comparison: Comparison) -> str:
    """JUnit XML: a test case per point and gate (info-only metrics are not gates);
    regressions are failures (and undecided gates with --require-decided), gates off, not measured
    or undecided are skipped."""
    names = varying_settings(comparison)
    suite = ET.Element("testsuite", name=f"dalle-bench compare {comparison.baseline} -> {comparison.candidate}")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("baseline", comparison.baseline), ("candidate", comparison.candidate),
                        ("significance_level", f"{comparison.alpha:g}"), ("test", test_text(comparison)),
                        ("family", f"{METHOD}, {comparison.tests} tests"),
                        *((f"threshold.{n}", describe(n, v)) for n, v in comparison.thresholds.to_json().items()),
                        *(("warning", w) for w in comparison.warnings)):
        ET.SubElement(properties, "property", name=name, value=str(value))
    tests = failures = skipped = 0
    for p, g in comparison.all_gates():
        if g.verdict == INFO and g.metric != STATUS:
            continue
        tests += 1
        case = ET.SubElement(suite, "testcase", time="0",
                             classname="compare.sweep" if p is None else f"compare.{p.baseline_id}",
                             name=g.label if p is None else f"{g.metric} ({_settings_text(p, names)})")
        detail = f"baseline {_number(g.baseline)}, candidate {_number(g.candidate)}"
        if g.metric != STATUS:
            detail += (f", change {_change(g)}{_interval_text(g)}, "
                       f"threshold {describe(_threshold_name(g), g.threshold)}")
        if g.verdict == REGRESSION or (g.verdict == UNDECIDED and comparison.require_decided):
            failures += 1
            ET.SubElement(case, "failure", message=g.reason, type=g.verdict).text = detail
        elif g.verdict in (OFF, NA, INFO, UNDECIDED):
            skipped += 1
            ET.SubElement(case, "skipped", message=g.reason)
        else:
            ET.SubElement(case, "system-out").text = f"{g.verdict}: {g.reason}; {detail}"
    counts = {"tests": str(tests), "failures": str(failures), "errors": "0", "skipped": str(skipped), "time": "0"}
    suite.attrib.update(counts)
    root = ET.Element("testsuites", name="dalle-bench compare", **{k: v for k, v in counts.items() if k != "skipped"})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


FORMATS = {"markdown": markdown, "json": json_text, "junit": junit}
