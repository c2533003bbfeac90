"""Checks of two runs' `run.json`. Pure.

Two runs of different models cannot be compared: the definition's model
fields must be equal. Runs from different machines or library versions can
be, but their timings say as much about the machine as about the change, so
the comparison carries a warning (as pytest-benchmark warns)."""

from __future__ import annotations

from bench.base.errors import BenchError

# What a definition records of the models a run used.
MODEL_FIELDS = ("preset", "weights", "model", "vqgan", "clip")
# Where a run's environment is recorded, and the entries that change timings.
MACHINE_FIELDS = (("devices", "platform"), ("devices", "device_kind"), ("host", "cpu"), ("host", "cpu_count"),
                  ("versions", "jax"), ("versions", "jaxlib"))


def check_same_models(baseline_run: dict, candidate_run: dict) -> None:
    """A one-line error when the runs' definitions name different models."""
    base, cand = baseline_run.get("definition", {}), candidate_run.get("definition", {})
    differences = [f"{name} {base.get(name)!r} vs {cand.get(name)!r}" for name in MODEL_FIELDS
                   if base.get(name) != cand.get(name)]
    if differences:
        raise BenchError(f"the runs used different models ({'; '.join(differences)}): "
                         f"compare runs of the same model")


def machine_warnings(baseline_run: dict, candidate_run: dict) -> tuple[str, ...]:
    """One line per environment entry that differs between the runs."""
    warnings = []
    for section, name in MACHINE_FIELDS:
        base = baseline_run.get("environment", {}).get(section, {}).get(name)
        cand = candidate_run.get("environment", {}).get(section, {}).get(name)
        if base != cand:
            warnings.append(f"different {section} {name}: {base} (baseline) vs {cand} (candidate); "
                            f"timings compare machines as much as changes")
    return tuple(warnings)


def took_turns_side_by_side(baseline_run: dict, candidate_run: dict) -> bool:
    """Whether two `sweep --repeat R --interleave FILE` runs formed one ring ordered by repeat
    number (bench/interleave.ring_order), so that repeat k of each measured every point back to
    back: the same R >= 2, one session each (a resume re-forms the ring), the same turn file on
    the same host, and the ring order recorded."""
    if (baseline_run.get("repeats") or 1) < 2 or baseline_run.get("repeats") != candidate_run.get("repeats"):
        return False
    sessions = [run.get("sessions") or [] for run in (baseline_run, candidate_run)]
    if any(len(s) != 1 for s in sessions):
        return False
    (base,), (cand,) = sessions
    if base.get("turn_order") != "by repeat" or cand.get("turn_order") != "by repeat":
        return False
    if not base.get("interleave") or base.get("interleave") != cand.get("interleave"):
        return False
    hosts = [s.get("environment", {}).get("host", {}).get("hostname") for s in (base, cand)]
    return hosts[0] == hosts[1]
