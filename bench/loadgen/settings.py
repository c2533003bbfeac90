"""A LoadGen test's settings: the user's options, validated (pure), and
turned into LoadGen's TestSettings. A --user-conf file is read by LoadGen
itself (its mlperf.conf defaults, then the file, keyed `dalle-mini.<Scenario>.*`
or `*.<Scenario>.*`); options given on the command line override it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import BenchError, did_you_mean

SCENARIOS = {"offline": "Offline", "server": "Server", "singlestream": "SingleStream", "multistream": "MultiStream"}
MODES = ("performance", "accuracy", "both")
MODEL_NAME = "dalle-mini"  # the model key of user.conf lines
MLPERF_REFERENCE_MODEL = "stable-diffusion-xl"  # MLPerf's text-to-image benchmark: its minimums are the yardstick
DEFAULT_PERCENTILE = {"Server": 0.99, "SingleStream": 0.9, "MultiStream": 0.99, "Offline": 0.99}


@dataclass(frozen=True)
class ScenarioOptions:
    scenario: str  # LoadGen's name: Offline, Server, SingleStream, MultiStream
    mode: str = "performance"
    find_peak: bool = False
    target_qps: float | None = None
    target_latency_ms: float | None = None
    target_latency_percentile: float | None = None
    min_duration_s: float = 10.0
    min_queries: int = 100
    max_batch_wait_ms: float = 0.0
    samples_per_query: int | None = None
    user_conf: Path | None = None
    explicit: frozenset = frozenset()  # option names given on the command line (they override --user-conf)

    @classmethod
    def parse(cls, scenario: str, **options) -> "ScenarioOptions":
        """Validated options; a BenchError naming the first bad one."""
        key = scenario.lower().replace("-", "").replace("_", "")
        if key not in SCENARIOS:
            raise BenchError(f"--scenario: unknown scenario '{scenario}' (known: {', '.join(SCENARIOS)})"
                             f"{did_you_mean(key, SCENARIOS)}")
        made = cls(scenario=SCENARIOS[key], **options)
        made.check()
        return made

    def check(self) -> None:
        if self.mode not in MODES:
            raise BenchError(f"--mode must be one of {', '.join(MODES)}, got '{self.mode}'")
        for name, value in (("--target-qps", self.target_qps), ("--target-latency-ms", self.target_latency_ms)):
            if value is not None and not value > 0:
                raise BenchError(f"{name} must be > 0, got {value:g}")
        if self.target_latency_percentile is not None and not 0 < self.target_latency_percentile < 1:
            raise BenchError(f"--target-latency-percentile must be in (0, 1), got {self.target_latency_percentile:g}")
        if self.max_batch_wait_ms < 0:
            raise BenchError(f"--max-batch-wait-ms must be >= 0, got {self.max_batch_wait_ms:g}")
        if self.min_duration_s < 0:
            raise BenchError(f"--min-duration must be >= 0, got {self.min_duration_s:g}")
        if self.min_queries < 1:
            raise BenchError(f"--min-queries must be >= 1, got {self.min_queries}")
        if self.samples_per_query is not None and self.samples_per_query < 1:
            raise BenchError(f"--samples-per-query must be >= 1, got {self.samples_per_query}")
        if self.find_peak and (self.scenario != "Server" or self.mode == "accuracy"):
            raise BenchError("--find-peak is LoadGen's FindPeakPerformance mode: only with --scenario server and "
                             "a performance test")
        if self.user_conf is not None:
            read_user_conf(self.user_conf, self.scenario)

    def tests(self) -> list[str]:
        """The LoadGen tests to run, in order: accuracy first (as MLPerf's SubmissionRun does)."""
        performance = "find-peak" if self.find_peak else "performance"
        return {"performance": [performance], "accuracy": ["accuracy"],
                "both": ["accuracy", performance]}[self.mode]


def read_user_conf(path: Path, scenario: str):
    """LoadGen's TestSettings from its mlperf.conf defaults and the file; a
    BenchError when LoadGen cannot read it."""
    import mlperf_loadgen as lg

    if not Path(path).is_file():
        raise BenchError(f"--user-conf: file not found: {path}")
    settings = lg.TestSettings()
    status = settings.FromConfig(str(path), MODEL_NAME, scenario, 1)
    if status != 0:
        raise BenchError(f"--user-conf: LoadGen could not read {path} (its error code {status}; lines look like "
                         f"'{MODEL_NAME}.{scenario}.target_qps = 2' or '*.{scenario}.min_duration = 60000')")
    return settings


@dataclass(frozen=True)
class Capacity:
    """What the system did in its warm-up call: the defaults that LoadGen's
    schedule needs (expected rate and latency) come from it."""

    batch_seconds: float
    global_batch: int

    @property
    def samples_per_s(self) -> float:
        return self.global_batch / self.batch_seconds


def test_settings(options: ScenarioOptions, test: str, capacity: Capacity):
    """LoadGen's TestSettings for one test ("performance", "find-peak" or "accuracy")."""
    import mlperf_loadgen as lg

    if options.user_conf is not None:
        settings = read_user_conf(options.user_conf, options.scenario)
        given = options.explicit
    else:
        settings = lg.TestSettings()
        given = None  # no file: every option applies, defaults included
    settings.scenario = getattr(lg.TestScenario, options.scenario)
    settings.mode = {"performance": lg.TestMode.PerformanceOnly, "find-peak": lg.TestMode.FindPeakPerformance,
                     "accuracy": lg.TestMode.AccuracyOnly}[test]

    def use(name: str) -> bool:
        return given is None or name in given

    if use("min_duration_s"):
        settings.min_duration_ms = int(round(options.min_duration_s * 1000))
    if use("min_queries"):
        settings.min_query_count = options.min_queries
    qps = options.target_qps
    latency_ns = None if options.target_latency_ms is None else int(options.target_latency_ms * 1e6)
    scenario = options.scenario
    if scenario == "Offline":
        if qps is not None or given is None:
            settings.offline_expected_qps = qps or capacity.samples_per_s
    elif scenario == "Server":
        if qps is not None or given is None:
            # Half the warm-up rate by default: a load the system should meet, not its peak (--find-peak finds that).
            settings.server_target_qps = qps or capacity.samples_per_s / 2
        if latency_ns is not None or given is None:
            # By default the bound allows a few batches of queueing: 5 warm-up batch latencies.
            settings.server_target_latency_ns = latency_ns or int(5 * capacity.batch_seconds * 1e9)
        if options.target_latency_percentile is not None:
            settings.server_target_latency_percentile = options.target_latency_percentile
    elif scenario == "SingleStream":
        if latency_ns is not None or given is None:
            settings.single_stream_expected_latency_ns = latency_ns or int(capacity.batch_seconds * 1e9)
        if options.target_latency_percentile is not None:
            settings.single_stream_target_latency_percentile = options.target_latency_percentile
    else:
        if latency_ns is not None or given is None:
            settings.multi_stream_expected_latency_ns = latency_ns or int(capacity.batch_seconds * 1e9)
        if options.samples_per_query is not None:
            settings.multi_stream_samples_per_query = options.samples_per_query
        if options.target_latency_percentile is not None:
            settings.multi_stream_target_latency_percentile = options.target_latency_percentile
    return settings


# A rate past capacity must overshoot the latency bound by this much to fail for certain.
FIND_PEAK_MARGIN = 1.5


def queries_to_break_bound(bound_s: float, percentile: float, batch_seconds: float, global_batch: int) -> int:
    """The fewest queries with which a test at a rate past capacity fails the latency bound.
    Past capacity every query arrives at once and waits for the batches before it: the
    query at the percentile finishes after ceil(ceil(percentile * Q) / B) batches. Fewer
    queries than this fit within the bound at any rate, so FindPeakPerformance, which
    doubles the rate until a test fails, never stops (measured: 8 queries of tiny on 1
    CPU device under a 2.7 s bound, rates doubled past 1e68 samples/s)."""
    batches = math.ceil(FIND_PEAK_MARGIN * bound_s / batch_seconds - 1e-9)
    # ceil(ceil(p Q) / B) >= batches  <=>  p Q > (batches - 1) B
    return math.floor((batches - 1) * global_batch / percentile + 1e-9) + 1


def check_find_peak_can_fail(settings, capacity: "Capacity") -> None:
    """A BenchError before LoadGen starts when FindPeakPerformance could not stop."""
    bound_s = settings.server_target_latency_ns / 1e9
    needed = queries_to_break_bound(bound_s, settings.server_target_latency_percentile, capacity.batch_seconds,
                                    capacity.global_batch)
    if settings.min_query_count < needed:
        raise BenchError(
            f"--find-peak: {settings.min_query_count} queries arriving at once finish within {FIND_PEAK_MARGIN:g} x "
            f"the {bound_s:.2f} s latency bound ({capacity.batch_seconds:.3f} s a batch of {capacity.global_batch}), "
            f"so no rate can fail and LoadGen would double it without end: use --min-queries {needed} or more, "
            f"or a tighter --target-latency-ms")


def mlperf_minimums(scenario: str) -> tuple[float, int]:
    """(min duration s, min query count) of MLPerf's own rules for its
    text-to-image benchmark, from the mlperf.conf built into LoadGen."""
    import mlperf_loadgen as lg

    reference = lg.TestSettings()
    reference.FromConfig("", MLPERF_REFERENCE_MODEL, scenario, 0)
    return reference.min_duration_ms / 1000, reference.min_query_count


def shortness_note(settings, scenario: str) -> str | None:
    """A plain sentence when the settings are below MLPerf's minimums: LoadGen
    judges VALID against the settings it was given, not against MLPerf's."""
    duration, queries = mlperf_minimums(scenario)
    short = []
    if settings.min_duration_ms / 1000 < duration:
        short.append(f"min duration {settings.min_duration_ms / 1000:g} s < {duration:g} s")
    if settings.min_query_count < queries:
        short.append(f"min queries {settings.min_query_count} < {queries}")
    if not short:
        return None
    return (f"this run is too short to be VALID by MLPerf's rules for {scenario} ({', '.join(short)}): "
            f"LoadGen's VALID below means valid for these settings only (MLPerf's: --min-duration {duration:g} "
            f"--min-queries {queries}, or a user.conf)")
