"""The scenarios table of a loadgen run (pure: rows in, table out), shared by
`loadgen`'s closing print and `dalle-bench report`."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"scenario_id": "test", "status": "status", "validity": "validity", "result_metric": "metric",
           "result_value": "value", "peak_qps": "peak samples/s", "target_qps": "target samples/s",
           "achieved_qps": "achieved samples/s", "target_latency_s": "latency bound s",
           "latency_p50_s": "p50 s", "latency_p90_s": "p90 s", "latency_p99_s": "p99 s",
           "query_count": "queries", "mean_batch_fill": "batch fill", "clip_score": "CLIP score", "fid": "FID",
           "invalid_reason": "why invalid"}


def scenario_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per LoadGen test; columns that are empty for every test are left out."""
    table = rows[[c for c in COLUMNS if c in rows]].rename(columns=COLUMNS)
    keep = [c for c in table.columns if table[c].notna().any() or c in ("test", "validity", "value")]
    return table[keep]
