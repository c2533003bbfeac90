"""`dalle-bench compare BASELINE_RUN CANDIDATE_RUN`: a regression gate
between two sweep runs.

One job per module; everything but `load` and `command` is pure:

- `thresholds`: the gates' thresholds (a frozen dataclass with help text),
  parsing "5%" / "0.05" / "off", and thresholds files;
- `match`: which baseline point is which candidate point (by settings);
- `noise`: the rule that decides when a change is a regression;
- `gates`: the metrics compared, and the comparison of matched points;
- `runs`: checks of two runs' `run.json` (same models; same machine);
- `formats`: Markdown, JSON and JUnit XML renderings of a comparison;
- `load`: reading a run folder; `command`: the command's glue."""
