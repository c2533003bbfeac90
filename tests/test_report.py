"""Report tables on hand-made rows (pure pandas)."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.jobs.report.tables import scaling
from bench.results.points_schema import NAMES


def _rows(points):
    rows = []
    for parallel, devices, images_per_s in points:
        row = dict.fromkeys(NAMES)
        row.update(status="ok", parallel=parallel, devices=devices, batch_per_device=1, dtype="float32",
                   temperature=1.0, top_k=0, top_p=1.0, cond_scale=3.0, images_per_s=images_per_s)
        rows.append(row)
    return pd.DataFrame(rows)


def test_scaling_with_parallel_auto_uses_the_single_device_point():
    # --devices 1,2,4 with --parallel auto: single on one device, sharded on more.
    table = scaling(_rows([("single", 1, 2.0), ("sharded", 2, 3.0), ("sharded", 4, 6.0)]))
    sharded = table[table.parallel == "sharded"].set_index("devices")
    assert sharded.loc[2, "speedup"] == pytest.approx(1.5) and sharded.loc[4, "efficiency"] == pytest.approx(0.75)
    assert "single" not in set(table.parallel)


def test_scaling_prefers_the_same_modes_one_device_point():
    table = scaling(_rows([("single", 1, 2.0), ("pmap", 1, 1.0), ("pmap", 2, 2.0)]))
    assert table[(table.parallel == "pmap") & (table.devices == 2)].speedup.item() == pytest.approx(2.0)
