"""A comparison as Markdown (a pull-request comment: the verdict line first,
then the table), JSON (for machines; shape in docs/compare.md) or JUnit XML (one
test case per point and gate, so CI systems list every gate). Pure."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from .gates import METRICS, STATUS, Comparison, Gate, PointComparison
from .noise import (INFO, NA, NOISE, OFF, RATIO_CONFIDENCE, RATIO_RESAMPLES, RATIO_SEED, REGRESSION, PAIRED_TEST, TEST,
                    UNDECIDED, minimum_calls)
from .thresholds import describe

MARKS = {REGRESSION: " ✗", NOISE: " ~", UNDECIDED: " ?"}


def test_text(comparison: Comparison) -> str:
    """How throughput and latency are decided, with the significance level: said in every format."""
    if comparison.paired:
        return (f"throughput and latency: the runs took turns call by call (sweep --interleave), so each "
                f"candidate call is paired with the baseline call before it: {PAIRED_TEST}, α = "
                f"{comparison.alpha:g} (at least {minimum_calls(comparison.alpha, True)} turns; points with "
                f"unequal call counts: {TEST}), with the {RATIO_CONFIDENCE:.0%} bootstrap interval of the "
                f"median per-turn ratio ({RATIO_RESAMPLES} resamples of the turns, seed {RATIO_SEED})")
    return (f"throughput and latency: {TEST} on every timed call of both points, α = {comparison.alpha:g} "
            f"(at least {minimum_calls(comparison.alpha)} calls a side), with the "
            f"{RATIO_CONFIDENCE:.0%} bootstrap interval of the ratio of medians "
            f"({RATIO_RESAMPLES} resamples of both sides, seed {RATIO_SEED})")


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


def verdict_line(comparison: Comparison) -> str:
    runs = f"baseline `{comparison.baseline}`, candidate `{comparison.candidate}`"
    matched = f"{len(comparison.points)} matched point{'s' if len(comparison.points) != 1 else ''}"
    noise = comparison.count(NOISE)
    noise_text = f"; {noise} change{'s' if noise != 1 else ''} beyond threshold within noise" if noise else ""
    undecided = len(comparison.undecided())
    failing = " (fails: --require-decided)" if comparison.require_decided and undecided else ""
    undecided_text = (f"; {undecided} gate{'s' if undecided != 1 else ''} undecided, too few calls{failing}"
                      if undecided else "")
    regressions = len(comparison.regressions())
    if regressions or not comparison.passed:
        what = (f"{regressions} regression{'s' if regressions != 1 else ''}" if regressions
                else "no regression, but undecided gates")
        return f"**FAIL**: {what} in {matched} ({runs}{noise_text}{undecided_text})."
    return f"**PASS**: no regression in {matched} ({runs}{noise_text}{undecided_text})."


def _interval_text(gate: Gate) -> str:
    """The change's bootstrap interval, in % of the baseline, oriented like the change."""
    interval = change_interval(gate)
    return "" if interval is None else f" [{interval[0] * 100:+.1f}, {interval[1] * 100:+.1f}]"


def change_interval(gate: Gate) -> tuple[float, float] | None:
    """The ratio-of-medians interval as a change of the gate's metric: latency rises with the
    ratio, images/s falls with it (images/s = global batch / median latency)."""
    t = gate.test
    if t is None or t.ratio_low is None:
        return None
    if gate.metric == "images_per_s":
        return 1.0 / t.ratio_high - 1.0, 1.0 / t.ratio_low - 1.0
    return t.ratio_low - 1.0, t.ratio_high - 1.0


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
            cells = [_point(p), g.metric, _number(g.baseline), _number(g.candidate),
                     _change(g) + _interval_text(g) if g.metric != STATUS else "—", threshold, g.reason]
            lines.append("| " + " | ".join(_escape(c) for c in cells) + " |")
    t = comparison.thresholds
    lines += ["", "Thresholds: " + ", ".join(f"{name} {describe(name, getattr(t, name))}" for name in t.names())
              + ". Change: candidate against baseline, in % (absolute for CLIP score and FID); in brackets its "
              "95 % bootstrap interval. Significance: " + test_text(comparison) + "; the evaluated CLIP score: "
              "95 % Student-t intervals. "
              "✗ regression: beyond its threshold and not noise (or no test); "
              "~ beyond its threshold but within noise; ? undecided: too few calls for the test."]
    notes = [f"Not measured in both runs: {', '.join(missing)}."] if missing else []
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
    return next((m.threshold for m in METRICS if m.column == gate.metric), None)


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json(comparison: Comparison) -> dict:
    return {
        "verdict": "pass" if comparison.passed else "fail",
        "baseline": comparison.baseline,
        "candidate": comparison.candidate,
        "key": list(comparison.key),
        "thresholds": comparison.thresholds.to_json(),
        "matched_points": len(comparison.points),
        "regressions": len(comparison.regressions()),
        "within_noise": comparison.count(NOISE),
        "undecided": comparison.count(UNDECIDED),
        "require_decided": comparison.require_decided,
        "significance_level": comparison.alpha,
        "test": test_text(comparison),
        "only_baseline": list(comparison.only_baseline),
        "only_candidate": list(comparison.only_candidate),
        "warnings": list(comparison.warnings),
        "points": [{
            "baseline_point": p.baseline_id,
            "candidate_point": p.candidate_id,
            "settings": {k: _plain(v) for k, v in p.settings.items()},
            "gates": [{
                "metric": g.metric, "baseline": _plain(g.baseline), "candidate": _plain(g.candidate),
                "change": _plain(g.change),
                "change_kind": None if g.metric == STATUS else "relative" if g.relative else "absolute",
                "threshold": g.threshold, "verdict": g.verdict, "reason": g.reason,
                **({} if g.test is None else {
                    "calls": [g.test.baseline_calls, g.test.candidate_calls], "p_value": g.test.p_value,
                    "change_interval": list(change_interval(g)) if change_interval(g) else None}),
            } for g in p.gates],
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
                        *((f"threshold.{n}", describe(n, v)) for n, v in comparison.thresholds.to_json().items()),
                        *(("warning", w) for w in comparison.warnings)):
        ET.SubElement(properties, "property", name=name, value=str(value))
    tests = failures = skipped = 0
    for p in comparison.points:
        for g in p.gates:
            if g.verdict == INFO and g.metric != STATUS:
                continue
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=f"compare.{p.baseline_id}",
                                 name=f"{g.metric} ({_settings_text(p, names)})", time="0")
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
