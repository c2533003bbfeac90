"""`dalle-bench loadgen check`: the rules a set of loadgen run folders must
meet to be submittable, read as MLPerf's submission checker reads a submission
(mlcommons/inference tools/submission/submission_checker.py). Pure: each rule
is a small function over parsed run data (run.json, the scenario rows and each
test's parsed detail log) that returns its failures; reading the folders is
the command's job (bench/commands/loadgen_check.py).

A run whose every test LoadGen called VALID but whose settings are below the
definition's official minimums (the short runs CI can afford) fails with
"valid but not submittable: <reason>": LoadGen judged it against the settings
it was given, not against MLPerf's."""

from __future__ import annotations

from dataclasses import dataclass, field

from .audit import AUDITS, PER_SCENARIO_AUDITS
from .band import check_bands, stored_figures, stored_verdict
from .logs import error_count

# mlperf.conf's seeds, as the detail log names them (only mlperf.conf sets them: settings.py).
SEED_KEYS = ("qsl_rng_seed", "sample_index_rng_seed", "schedule_rng_seed")
# What must be the same across the performance, accuracy and audit runs of one submission: run.json's
# `model` record (the model, its dtype, the sampling, the query sample library).
SHARED_SETTINGS = ("preset", "random_weights", "dtype", "sources", "revisions", "temperature", "top_k", "top_p",
                   "cond_scale", "seed", "prompts", "num_prompts", "num_images")
TIMED_MODES = ("performance", "find-peak")


@dataclass(frozen=True)
class LoadGenTest:
    """One LoadGen test of a run: its scenarios.parquet row and its parsed detail log (logs.read_detail)."""

    row: dict
    detail: dict

    @property
    def name(self) -> str:
        return str(self.row.get("scenario_id"))

    @property
    def audit(self) -> str | None:
        """The audit a timed test ran for, from what LoadGen ran with (its detail log): the caching
        audit's one-sample test (`effective_performance_issue_same`), TEST01's performance test (responses
        logged in performance mode: `effective_accuracy_log_probability` or `_sampling_target` > 0)."""
        if self.row.get("mode") not in TIMED_MODES:
            return None
        if self.detail.get("effective_performance_issue_same") is True:
            return "caching"
        if (self.detail.get("effective_accuracy_log_probability") or 0) > 0 or (
                self.detail.get("effective_accuracy_log_sampling_target") or 0) > 0:
            return "test01"
        return None

    @property
    def timed(self) -> bool:
        """A timed test whose figure is the submission's: performance or find-peak, not an audit's."""
        return self.row.get("mode") in TIMED_MODES and self.audit is None

    @property
    def logged(self) -> bool:
        """Whether LoadGen's detail log holds a record (an interrupted test may have none)."""
        return len(self.detail) > 2  # more than the empty "messages" and "errors"


@dataclass(frozen=True)
class Run:
    """A run folder as read: its name as given, run.json, its tests, and the benchmark definition
    its run.json names (benchmark.Benchmark; None with the reason when there is none or it cannot be read)."""

    path: str
    run: dict
    tests: tuple[LoadGenTest, ...]
    definition: object | None = None
    definition_problem: str | None = None
    bands: tuple | None = None  # the definition's accuracy band as it is now (band.Band each); None: no metric
    bands_problem: str | None = None  # why that band cannot be read (its reference run gone)


@dataclass(frozen=True)
class Failure:
    where: str  # the run folder, or "folder/test"
    rule: str
    message: str

    def line(self) -> str:
        return f"{self.where}: {self.rule}: {self.message}"


@dataclass
class _Failures:
    rule: str
    found: list = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.found.append(Failure(where, self.rule, message))


def _where(run: Run, test: LoadGenTest | None = None) -> str:
    return run.path if test is None else f"{run.path}/{test.name}"


def valid(run: Run) -> list[Failure]:
    """Every test finished, and every timed test (an audit's too) is LoadGen's VALID (that the folders
    given hold a performance test at all is checked in `check`: an accuracy-only folder is one part of a
    submission)."""
    out = _Failures("valid")
    for test in run.tests:
        status = test.row.get("status")
        if status != "ok":
            out.add(_where(run, test), f"test {status}: {test.row.get('error') or 'no reason recorded'}")
        elif test.row.get("mode") in TIMED_MODES and test.row.get("validity") != "VALID":
            out.add(_where(run, test), f"INVALID: {test.row.get('invalid_reason') or 'no reason logged'}")
    return out.found


def no_errors(run: Run) -> list[Failure]:
    """No error in any test's detail log (num_errors; MLPerf's checker rejects a log with errors)."""
    out = _Failures("no errors")
    for test in run.tests:
        count = error_count(test.detail)
        if count:
            logged = "; ".join(" ".join(str(e).split()) for e in test.detail.get("errors") or [])
            out.add(_where(run, test), f"LoadGen logged {count} error{'s' if count != 1 else ''}"
                                       + (f": {logged}" if logged else ""))
    return out.found


def mlperf_seeds(run: Run, seeds: dict) -> list[Failure]:
    """Every test ran with mlperf.conf's seeds (`seeds`: name -> value, from LoadGen's built-in mlperf.conf)."""
    out = _Failures("mlperf.conf seeds")
    for test in run.tests:
        if not test.logged:  # an interrupted test without a detail log: the valid rule says so
            continue
        wrong = [f"{name} {test.detail.get(f'effective_{name}')} (mlperf.conf: {seeds[name]})"
                 for name in SEED_KEYS if test.detail.get(f"effective_{name}") != seeds[name]]
        if wrong:
            out.add(_where(run, test), "not mlperf.conf's seeds: " + ", ".join(wrong))
    return out.found


def benchmark_run(run: Run) -> list[Failure]:
    """The run was made under a benchmark definition with every fixed field as defined."""
    out = _Failures("benchmark run")
    record = run.run.get("benchmark")
    if not record:
        out.add(_where(run), "not a benchmark run: no --benchmark definition")
    elif not record.get("benchmark_run") or record.get("overrides"):
        out.add(_where(run), f"not a benchmark run of `{record.get('name')}`: options changed fixed fields: "
                             f"{'; '.join(record.get('overrides') or []) or 'not recorded'}")
    if record and run.definition is None:
        out.add(_where(run), f"definition `{record.get('name')}` unreadable: {run.definition_problem}")
    return out.found


def _close(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))


def definition_in_force(run: Run) -> list[Failure]:
    """What LoadGen ran with (the detail log) is what the definition fixes: the scenario is one of its,
    the latency bound and percentile, the samples a query, the performance sample count. A user.conf
    may change these (allowed, for exploration); the run is then not submittable, and this says which."""
    out = _Failures("definition in force")
    definition = run.definition
    if definition is None:
        return out.found
    for test in run.tests:
        scenario, d = test.row.get("scenario"), test.detail
        if not test.logged:
            continue
        if scenario not in definition.scenarios:
            out.add(_where(run, test), f"{scenario} is not a scenario of `{definition.name}`")
            continue
        fixed = definition.scenarios[scenario]
        checks = []
        if "target_latency_ms" in fixed and scenario == "Server":
            checks.append(("latency bound ms", (d.get("effective_target_latency_ns") or 0) / 1e6,
                           fixed["target_latency_ms"]))
        if "target_latency_percentile" in fixed:
            checks.append(("latency percentile", d.get("effective_target_latency_percentile"),
                           fixed["target_latency_percentile"]))
        if "samples_per_query" in fixed and scenario == "MultiStream":
            checks.append(("samples per query", d.get("effective_samples_per_query"), fixed["samples_per_query"]))
        checks.append(("performance sample count", d.get("effective_performance_sample_count"),
                       definition.performance_sample_count))
        wrong = [f"{what} {got} (definition: {want})" for what, got, want in checks if not _close(got, want)]
        if wrong:
            out.add(_where(run, test), "LoadGen's settings differ from the definition: " + ", ".join(wrong))
    return out.found


def official_minimums(run: Run) -> list[Failure]:
    """Each timed test's (not an audit's) LoadGen settings at least the definition's official minimums,
    as MLPerf's checker requires of effective_min_duration_ms and effective_min_query_count (Offline: its samples,
    effective_min_sample_count); LoadGen's VALID then says the test ran that long and that many
    queries. A VALID test below them is "valid but not submittable"."""
    out = _Failures("official minimums")
    definition = run.definition
    if definition is None:
        return out.found
    for test in run.tests:
        if not test.timed or not test.logged or test.row.get("scenario") not in definition.scenarios:
            continue
        minimums = definition.official.get(test.row["scenario"], {})
        if set(minimums) != {"min_duration_ms", "min_query_count"}:
            out.add(_where(run, test), f"`{definition.name}` gives no official minimums for {test.row['scenario']} "
                                       f"(official_min_duration_ms, official_min_query_count)")
            continue
        # Offline's one query: LoadGen turns min_query_count into its samples (effective_min_sample_count).
        offline = test.row["scenario"] == "Offline"
        duration = test.detail.get("effective_min_duration_ms")
        queries = test.detail.get("effective_min_sample_count" if offline else "effective_min_query_count")
        short = []
        if duration is None or duration < minimums["min_duration_ms"]:
            short.append(f"min duration {_seconds(duration)} < the official {minimums['min_duration_ms'] / 1000:g} s")
        if queries is None or queries < minimums["min_query_count"]:
            short.append(f"min {'samples' if offline else 'queries'} {queries} < the official "
                         f"{minimums['min_query_count']}")
        if short:
            prefix = "valid but not submittable" if test.row.get("validity") == "VALID" else "below the minimums"
            out.add(_where(run, test), f"{prefix}: {', '.join(short)} (a short run)")
    return out.found


def _seconds(ms) -> str:
    return "unknown" if ms is None else f"{ms / 1000:g} s"


def accuracy_passed(runs: list[Run]) -> list[Failure]:
    """Each scenario with a timed test has an accuracy-mode test, in one of the folders given, whose
    verdict against the definition's band is PASS (the row's accuracy_verdict), and still PASS when its
    stored figures (accuracy_detail) are judged again against the definition's band as it is now
    (Run.bands): a definition whose band changed since the run does not keep an old PASS."""
    out = _Failures("accuracy")
    timed = {test.row.get("scenario") for run in runs for test in run.tests if test.timed}
    accuracy = {}
    for run in runs:
        for test in run.tests:
            if test.row.get("mode") == "accuracy":
                accuracy.setdefault(test.row.get("scenario"), []).append((run, test))
    for scenario in sorted(s for s in timed if s):
        tests = accuracy.get(scenario)
        if not tests:
            out.add(", ".join(run.path for run in runs), f"no accuracy test of {scenario} "
                                                          f"(loadgen --mode accuracy or both)")
            continue
        for run, test in tests:
            verdict = test.row.get("accuracy_verdict")
            if verdict is None or verdict != verdict:  # absent, None or NaN
                out.add(_where(run, test), "accuracy not checked (no PASS/FAIL verdict against the definition's band)")
            elif verdict != "PASS":
                out.add(_where(run, test), f"accuracy {verdict}" + _band_figures(test.row.get("accuracy_detail")))
            else:
                again = _judged_again(run, test)
                if again:
                    out.add(_where(run, test), again)
    return out.found


def _band_figures(detail) -> str:
    """': metric figure outside [low, high] (reference ...); ...' from a row's accuracy_detail, or ''."""
    verdict = stored_verdict(detail)  # None: no detail, or not the JSON accuracy_check writes
    return ": " + "; ".join(check.line() for check in verdict.checks) if verdict and verdict.checks else ""


def _judged_again(run: Run, test: LoadGenTest) -> str | None:
    """Why a stored PASS does not hold against the definition's band as it is now, or None when it does
    (or the run names no definition with an accuracy band: benchmark_run's rule)."""
    if run.bands_problem:
        return f"accuracy PASS cannot be judged again: the definition's band: {run.bands_problem}"
    if not run.bands:
        return None
    stored = stored_verdict(test.row.get("accuracy_detail"))
    if stored is None:
        return ("accuracy PASS without its figures (accuracy_detail missing or damaged): it cannot be judged "
                "against the definition's band")
    reasons = {check.metric: check.reason for check in stored.checks if check.reason}
    now = check_bands(stored_figures(test.row.get("accuracy_detail")), list(run.bands), reasons)
    if now.verdict == "PASS":
        return None
    return ("accuracy PASS as stored, but FAIL against the definition's band as it is now: "
            + "; ".join(check.line() for check in now.checks if not check.passed))


def audits_passed(runs: list[Run]) -> list[Failure]:
    """MLPerf's compliance audits, as recorded in run.json's `audits` by `loadgen --audit NAME`: TEST01
    (responses LoadGen logged in performance mode equal accuracy mode's) passed for each scenario with a
    timed test, and the caching audit passed, in one of the folders given (that they ran on the same
    commit and settings as the rest is same_code_and_settings's rule). A FAIL record fails with its reason."""
    out = _Failures("audits")
    everywhere = ", ".join(run.path for run in runs)
    records = [(run, record) for run in runs for record in run.run.get("audits") or [] if isinstance(record, dict)]
    timed = sorted({str(test.row.get("scenario")) for run in runs for test in run.tests if test.timed})
    for name, label in AUDITS.items():
        mine = [(run, record) for run, record in records if record.get("name") == name]
        for run, record in mine:
            if record.get("verdict") != "PASS":
                out.add(_where(run), f"{label} audit of {record.get('scenario')} {record.get('verdict')}: "
                                     f"{record.get('reason') or 'no reason recorded'}")
        passed = {record.get("scenario") for _, record in mine if record.get("verdict") == "PASS"}
        if name in PER_SCENARIO_AUDITS:
            for scenario in timed:
                if scenario not in passed and not any(r.get("scenario") == scenario for _, r in mine):
                    out.add(everywhere, f"no {label} audit of {scenario} among the folders given "
                                        f"(loadgen --audit {name})")
        elif not mine:
            out.add(everywhere, f"no {label} audit among the folders given (loadgen --audit {name})")
    return out.found


def same_code_and_settings(runs: list[Run]) -> list[Failure]:
    """One committed commit and the same settings (model, dtype, sampling, sample library, definition)
    across the folders given together."""
    out = _Failures("same code and settings")
    commits = {}  # the commits recorded (a folder without one is named once, for that)
    for run in runs:
        git = (run.run.get("environment") or {}).get("git") or {}
        if not git.get("commit"):
            out.add(_where(run), "no git commit recorded")
            continue
        if git.get("dirty"):
            out.add(_where(run), f"run from uncommitted changes on {git['commit'][:12]}")
        commits[run.path] = git.get("commit")
    if len(set(commits.values())) > 1:
        out.add(", ".join(commits), "different commits: " + ", ".join(f"{path} {str(c)[:12]}"
                                                                      for path, c in commits.items()))
    first = runs[0]
    for run in runs[1:]:
        differ = [key for key in SHARED_SETTINGS
                  if (first.run.get("model") or {}).get(key) != (run.run.get("model") or {}).get(key)]
        if (first.run.get("benchmark") or {}).get("name") != (run.run.get("benchmark") or {}).get("name"):
            differ.append("benchmark")
        if differ:
            out.add(f"{first.path}, {run.path}", "different settings: " + ", ".join(
                f"{key} {_setting(first, key)} vs {_setting(run, key)}" for key in differ))
    return out.found


def _setting(run: Run, key: str):
    return (run.run.get("benchmark") or {}).get("name") if key == "benchmark" else (run.run.get("model") or {}).get(key)


def check(runs: list[Run], seeds: dict) -> list[Failure]:
    """Every failed rule of the folders given together, in rule order."""
    failures = []
    for run in runs:
        failures += valid(run) + no_errors(run) + mlperf_seeds(run, seeds)
        failures += benchmark_run(run) + definition_in_force(run) + official_minimums(run)
    # An accuracy-only folder is half a submission; an audit's tests are not the submission's figures.
    if not any(test.timed for run in runs for test in run.tests):
        failures.append(Failure(", ".join(run.path for run in runs), "valid",
                                "no performance test in the folders given"))
    return failures + accuracy_passed(runs) + audits_passed(runs) + same_code_and_settings(runs)
