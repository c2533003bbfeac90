"""A LoadGen test's settings: the user's options, validated (pure), and
turned into LoadGen's TestSettings. Every test starts from LoadGen's
built-in mlperf.conf (its seeds and per-scenario rules, for our model name),
then a --user-conf file is layered on top (read by LoadGen itself, keyed
`dalle-mini.<Scenario>.*` or `*.<Scenario>.*`); options given on the command
line override both.

How LoadGen 6.0.17 reads conf files (loadgen/test_settings_internal.cc,
`TestSettings::FromConfig(path, model, scenario, conf_type)`): conf_type 0
reads the built-in mlperf.conf (compiled in as `mlperf_conf`, no file) and is
the only type that sets the seeds (qsl_rng_seed, sample_index_rng_seed,
schedule_rng_seed); conf_type 1, the references' user.conf call, loads
mlperf.conf first only on the process's first call (a function-`static`
counter) and on every later call loads nothing more and logs the error
"Multiple conf files are used"; any other conf_type reads the file with the
same parser and lookups, without that counter. So each test here calls type 0,
then the user's file with `USER_CONF` (2): what the references' single type-1
call gives, once per test and for every scenario of the run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bench.base.errors import BenchError, did_you_mean

SCENARIOS = {"offline": "Offline", "server": "Server", "singlestream": "SingleStream", "multistream": "MultiStream"}
MODES = ("performance", "accuracy", "both")
# The model name given to LoadGen: the key of user.conf lines and of mlperf.conf's lookups. mlperf.conf has
# no line of its own for it, so its `*` defaults apply (the seeds, each scenario's percentile and 600 s
# minimum duration, MultiStream's 8 samples a query and 662 queries): "stable-diffusion-xl" would add that
# benchmark's dataset (5000 samples a test, performance_sample_count_override = 5000) and its 20 s
# Server bound on other hardware, neither of which applies to this model or prompt set.
MODEL_NAME = "dalle-mini"
MLPERF_CONF, USER_CONF = 0, 2  # FromConfig's conf_type: the built-in mlperf.conf; a file, without the counter
MLPERF_REFERENCE_MODEL = "stable-diffusion-xl"  # MLPerf's text-to-image benchmark: its minimums are the yardstick


# Upper bounds of the options (a day of testing, MLPerf's largest query counts with room to spare).
MAX_TARGET_QPS = 1e6
MAX_LATENCY_MS = 86_400_000.0
MAX_BATCH_WAIT_MS = 60_000.0
MAX_DURATION_S = 86_400.0
MAX_QUERIES = 10_000_000
MAX_SAMPLES_PER_QUERY = 65_536


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
        # Each value finite and within a bound LoadGen and this process can honour: LoadGen allocates its
        # schedule up front (10^12 queries: bad_alloc, then a crash), an infinite rate never stops
        # generating arrivals, and an infinite batching window never launches a batch.
        bounded = (("--target-qps", self.target_qps, MAX_TARGET_QPS), ("--target-latency-ms", self.target_latency_ms,
                   MAX_LATENCY_MS), ("--max-batch-wait-ms", self.max_batch_wait_ms, MAX_BATCH_WAIT_MS),
                   ("--min-duration", self.min_duration_s, MAX_DURATION_S))
        for name, value, largest in bounded:
            if value is not None and not math.isfinite(value):
                raise BenchError(f"{name} must be a finite number, got {value:g}")
            if value is not None and value > largest:
                raise BenchError(f"{name} must be <= {largest:g}, got {value:g}")
        for name, value in (("--target-qps", self.target_qps), ("--target-latency-ms", self.target_latency_ms)):
            if value is not None and not value > 0:
                raise BenchError(f"{name} must be > 0, got {value:g}")
        if self.target_latency_percentile is not None and not 0 < self.target_latency_percentile < 1:
            raise BenchError(f"--target-latency-percentile must be in (0, 1), got {self.target_latency_percentile:g}")
        if self.max_batch_wait_ms < 0:
            raise BenchError(f"--max-batch-wait-ms must be >= 0, got {self.max_batch_wait_ms:g}")
        if self.min_duration_s < 0:
            raise BenchError(f"--min-duration must be >= 0, got {self.min_duration_s:g}")
        if not 1 <= self.min_queries <= MAX_QUERIES:
            raise BenchError(f"--min-queries must be in [1, {MAX_QUERIES:,}], got {self.min_queries}")
        if self.samples_per_query is not None and not 1 <= self.samples_per_query <= MAX_SAMPLES_PER_QUERY:
            raise BenchError(f"--samples-per-query must be in [1, {MAX_SAMPLES_PER_QUERY:,}], got "
                             f"{self.samples_per_query}")
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


_CHECK_CONF = """
import sys
import mlperf_loadgen as lg
print(lg.TestSettings().FromConfig(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def read_user_conf(path: Path, scenario: str) -> None:
    """A BenchError when LoadGen cannot read the file. LoadGen reads it in a
    child process: what its parser logs (a bad line is logged as an error) would
    otherwise wait in this process's LoadGen logger and land in the first test's
    detail log."""
    import subprocess
    import sys

    if not Path(path).is_file():
        raise BenchError(f"--user-conf: file not found: {path}")
    proc = subprocess.run([sys.executable, "-c", _CHECK_CONF, str(path), MODEL_NAME, scenario, str(USER_CONF)],
                          capture_output=True, text=True)
    status = proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None
    if status != "0":
        raise BenchError(f"--user-conf: LoadGen could not read {path} (its error code {status}; lines look like "
                         f"'{MODEL_NAME}.{scenario}.target_qps = 2' or '*.{scenario}.min_duration = 60000')")


def mlperf_conf_settings(scenario: str, user_conf: Path | None = None):
    """LoadGen's TestSettings from its built-in mlperf.conf for MODEL_NAME, with
    the user's file layered on top: what one FromConfig(user.conf) call of
    MLPerf's references gives, however many tests this process runs."""
    import mlperf_loadgen as lg

    settings = lg.TestSettings()
    settings.FromConfig("", MODEL_NAME, scenario, MLPERF_CONF)
    if user_conf is not None:
        status = settings.FromConfig(str(user_conf), MODEL_NAME, scenario, USER_CONF)
        if status != 0:  # checked before the run: the file changed since
            raise BenchError(f"--user-conf: LoadGen could not read {user_conf} (its error code {status})")
    return settings


def mlperf_conf_seeds() -> dict:
    """The seeds of LoadGen's built-in mlperf.conf (its `*.*` lines), keyed as the detail log's
    effective_* records name them: what every official test must run with."""
    settings = mlperf_conf_settings("Offline")
    return {name: getattr(settings, name) for name in ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")}


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

    settings = mlperf_conf_settings(options.scenario, options.user_conf)
    # With a file, only the options given on the command line override it; without, every option applies
    # (defaults included) over mlperf.conf's, which are MLPerf's 600 s rules.
    given = options.explicit if options.user_conf is not None else None
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
    reference.FromConfig("", MLPERF_REFERENCE_MODEL, scenario, MLPERF_CONF)
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
