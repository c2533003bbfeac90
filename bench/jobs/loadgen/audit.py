"""Compliance audits (`loadgen --audit NAME`), after MLPerf's compliance tests
(mlcommons/inference compliance/nvidia/TEST01): pure verdicts over what
LoadGen logged, plus the settings an audited test runs with.

TEST01: LoadGen's audit settings (audit.config's `accuracy_log_rng_seed`,
`accuracy_log_probability`, `accuracy_log_sampling_target`, set here on
TestSettings) make LoadGen copy a random share of the responses of a
PERFORMANCE test into its accuracy log. The pipeline is deterministic per
(seed, prompt, sample), so each logged response must hold exactly the tokens
the accuracy test of the same run returned for that sample: a system that
answers timed queries differently (a cheaper path, cached or skipped work)
fails."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # light to import: the command line builds --audit's choice from AUDITS
    from .responses import ResponseLayout

# Every audit: `loadgen --audit NAME` -> the name `loadgen check` gives it. PER_SCENARIO_AUDITS are needed
# for each scenario with a timed test; the others once (a property of the system, not of a scenario).
AUDITS = {"test01": "TEST01", "caching": "caching"}
PER_SCENARIO_AUDITS = ("test01",)
# MLPerf TEST01's audit.config: its seed, and a share of the responses logged. MLPerf logs 1 %
# (accuracy_log_probability = 0.01) of runs of 10^4-10^6 samples; the short runs here hold tens to
# hundreds, so 10 %, and at least TEST01_SAMPLING_TARGET responses when the run has them
# (accuracy_log_sampling_target: LoadGen raises the probability to reach it).
TEST01_RNG_SEED = 720381539243781796
TEST01_PROBABILITY = 0.1
TEST01_SAMPLING_TARGET = 8


def apply_test01(settings) -> None:
    """TEST01's audit settings on a performance test's TestSettings (what audit.config sets)."""
    settings.accuracy_log_rng_seed = TEST01_RNG_SEED
    settings.accuracy_log_probability = TEST01_PROBABILITY
    settings.accuracy_log_sampling_target = TEST01_SAMPLING_TARGET


@dataclass(frozen=True)
class AuditResult:
    """One audit's record in run.json's `audits`."""

    name: str
    scenario: str
    verdict: str  # PASS or FAIL
    compared: int
    differ: int
    reason: str
    figures: dict | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        return f"audit {self.name} ({self.scenario}): {self.verdict}: {self.reason}"


def _decoded(layout: "ResponseLayout", data: bytes):
    """(tokens, None) or (None, why the response cannot be read: a wrong length)."""
    try:
        return layout.decode(data)[0], None
    except ValueError as e:
        return None, str(e)


def judge_test01(scenario: str, performance: list[tuple[int, bytes]], performance_layout: "ResponseLayout",
                 accuracy: list[tuple[int, bytes]], accuracy_layout: "ResponseLayout") -> AuditResult:
    """PASS when every response logged in performance mode holds the tokens accuracy mode returned for
    the same sample, and at least one was logged; FAIL naming how many differ (or are missing, or cannot
    be read: a response of the wrong length counts as differing, with its reason)."""
    import numpy as np

    reference, unreadable = {}, {}
    for index, data in accuracy:
        if index not in reference and index not in unreadable:
            tokens, why = _decoded(accuracy_layout, data)
            if why is None:
                reference[index] = tokens
            else:
                unreadable[index] = why
    differ, missing, first = 0, 0, None
    for index, data in performance:
        tokens, why = _decoded(performance_layout, data)
        if why is not None:
            differ += 1
            first = first or f"sample {index}: the performance-mode response: {why}"
        elif index in unreadable:
            differ += 1
            first = first or f"sample {index}: accuracy mode's response: {unreadable[index]}"
        elif index not in reference:
            missing += 1
            first = first or f"sample {index} is not in the accuracy log"
        elif not np.array_equal(tokens, reference[index]):
            differ += 1
            first = first or (f"sample {index}: {int(np.sum(tokens != reference[index]))} of {tokens.size} tokens "
                              f"differ" if tokens.shape == reference[index].shape else f"sample {index}: "
                              f"{tokens.size} tokens vs {reference[index].size}")
    compared = len(performance)
    if compared == 0:
        return AuditResult("test01", scenario, "FAIL", 0, 0, "LoadGen logged no performance-mode response to "
                           "compare (a run too short for the audit's sampling)")
    if differ or missing:
        return AuditResult("test01", scenario, "FAIL", compared, differ + missing,
                           f"{differ + missing} of {compared} responses logged in performance mode differ from "
                           f"accuracy mode's ({first})")
    return AuditResult("test01", scenario, "PASS", compared, 0,
                       f"{compared} responses logged in performance mode ({len({i for i, _ in performance})} "
                       f"samples) equal accuracy mode's")


# The caching audit (MLPerf's former TEST04: the same performance test with unique samples, then with one sample
# issued for every query, LoadGen's `performance_issue_same`): a system that caches results answers the second far
# faster. Three tests, distinct / same / distinct, and the same-sample test is compared with the faster distinct
# one: a drift over the run (the first timed test after warm-up, another process on the machine) then cannot make
# an honest system look faster on one sample. The pipeline's work does not depend on which sample it makes (every prompt is padded to the same length
# and every image is the same fixed number of decoded tokens), so an honest system runs both at one speed up to
# run-to-run noise; FAIL past 10 % faster, as TEST04 allowed, which is above the noise of the short runs here
# (docs/load-scenarios.md#compliance-audits) and far below what a cache gives (no decoding at all: many times faster).
CACHING_THRESHOLD = 1.10
CACHING_SCENARIOS = ("Offline", "SingleStream")  # one figure each that the sample choice alone could change


def apply_same_sample(settings) -> None:
    """The caching audit's second test: every query is the same sample (LoadGen's performance_issue_same)."""
    settings.performance_issue_same = True
    settings.performance_issue_same_index = 0


def caching_speedup(scenario: str, distinct: float, same: float) -> float:
    """How much faster the same-sample test ran than the distinct-sample one, from LoadGen's figures:
    Offline's samples/s (higher is faster), SingleStream's latency (lower is faster)."""
    if not (distinct > 0 and same > 0):
        raise ValueError(f"LoadGen's figures must be > 0, got distinct {distinct} and same {same}")
    return same / distinct if scenario == "Offline" else distinct / same


def judge_caching(scenario: str, distinct_runs: list, same: float | None,
                  threshold: float = CACHING_THRESHOLD) -> AuditResult:
    """PASS when the same-sample test is at most `threshold` times as fast as the fastest distinct-sample test."""
    unit = "samples/s" if scenario == "Offline" else "s"
    usable = [value for value in distinct_runs if value is not None and value > 0]
    distinct = None if len(usable) != len(distinct_runs) or not usable else (
        max(usable) if scenario == "Offline" else min(usable))
    if distinct is None or same is None or not (distinct > 0 and same > 0):
        return AuditResult("caching", scenario, "FAIL", 0, 0, f"no figure to compare (distinct {distinct}, "
                           f"same {same})")
    speedup = caching_speedup(scenario, distinct, same)
    figures = {"metric": "samples_per_s" if scenario == "Offline" else "latency_s", "distinct": distinct,
               "distinct_runs": list(distinct_runs), "same": same, "speedup": speedup, "threshold": threshold}
    said = f"one sample {same:.4g} {unit} vs distinct samples {distinct:.4g} {unit} (best of {len(usable)}): " \
           f"{speedup:.3f}x"
    if speedup > threshold:
        return AuditResult("caching", scenario, "FAIL", len(usable) + 1, 1,
                           f"{said}, faster than the {threshold:g}x allowed (results cached?)", figures)
    return AuditResult("caching", scenario, "PASS", len(usable) + 1, 0, f"{said}, within {threshold:g}x", figures)
