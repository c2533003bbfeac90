"""The headline figures of an accelerator run, from its blocks' result rows:
per sweep block the best batch (images/s per device, roofline fractions
against the published and the measured peak, memory), compile times, the
first out-of-memory batch, scaling across devices; per LoadGen block its
verdict and rate. Pure: rows in, a dict and Markdown out."""

from __future__ import annotations

import math

import pandas as pd


def _number(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) if isinstance(value, float) else value


def sweep_headline(rows: pd.DataFrame) -> dict:
    """One sweep block's figures (`rows`: its points.parquet)."""
    ok = rows[rows.status == "ok"]
    oom = rows[rows.status == "oom"]
    skipped = rows[rows.status == "skipped"]
    headline = {"points": len(rows), "ok": len(ok), "oom": len(oom), "skipped": len(skipped),
                "failed": int(rows.status.isin(["failed", "invalid", "lost"]).sum()),
                "skip_reasons": sorted(set(skipped.error.dropna()))[:3]}
    compiled = ok[ok.compiled.fillna(False).astype(bool) & ok.compile_s.notna()]
    headline["compile_s"] = ({"median": float(compiled.compile_s.median()), "min": float(compiled.compile_s.min()),
                              "max": float(compiled.compile_s.max()), "programs": len(compiled)}
                             if len(compiled) else None)
    headline["first_oom_batch_per_device"] = int(oom.batch_per_device.min()) if len(oom) else None
    headline["largest_ok_batch_per_device"] = int(ok.batch_per_device.max()) if len(ok) else None
    if not len(ok):
        headline["best"] = None
        headline["scaling"] = None
        return headline
    best = ok.loc[ok.images_per_s_per_device.idxmax()]
    headline["best"] = {name: _number(best.get(name)) for name in (
        "point_id", "devices", "batch_per_device", "top_k", "images_per_s", "images_per_s_per_device",
        "latency_p50_s", "roofline_fraction", "roofline_fraction_measured", "peak_flops", "measured_peak_flops",
        "peak_bandwidth", "measured_peak_bandwidth", "peak_source", "peak_device_memory_bytes", "iterations")}
    per_devices = ok.groupby("devices").images_per_s.max()
    if len(per_devices) < 2 or 1 not in per_devices.index:
        headline["scaling"] = {"note": (f"one device count measured ({', '.join(map(str, per_devices.index))}): "
                                        "scaling across devices not measured")}
    else:
        single = per_devices.loc[1]
        headline["scaling"] = {str(d): {"images_per_s": float(v), "efficiency": float(v / (d * single))}
                               for d, v in per_devices.items()}
    return headline


def loadgen_headline(rows: pd.DataFrame) -> dict:
    """One LoadGen block's figures (`rows`: its scenarios.parquet)."""
    return {"scenarios": [{name: _number(row.get(name)) for name in (
        "scenario", "mode", "status", "error", "validity", "invalid_reason", "result_metric", "result_value",
        "achieved_qps", "query_count", "min_duration_s", "batch_per_device", "compile_s")}
        for row in rows.to_dict("records")]}


def _percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def markdown(record: dict) -> str:
    """summary.md: what ran, where, and the headline figures of each block."""
    probe = record.get("probe") or {}
    devices = probe.get("devices") or {}
    runtime = devices.get("runtime") or {}
    driver = (runtime.get("driver") or {}).get("driver_version")
    lines = [f"# Accelerator run {record['run_id']}", "",
             f"- Device: {devices.get('device_kind', '?')} x {devices.get('device_count', '?')} "
             f"({devices.get('platform', '?')}); backend {runtime.get('backend_version')!r}"
             + (f"; driver {driver}" if driver else ""),
             f"- Command: `{record['command']}`",
             f"- Budget {record['budget_s']:.0f} s; wall {record.get('wall_s', 0):.0f} s"
             + (" (smoke: tiny preset, emulated devices; figures mean nothing)" if record.get("smoke") else ""),
             "- Weights: random at the published architectures (throughput is real; quality columns mean nothing).",
             ""]
    lines += ["| block | status | best batch/device | images/s per device | roofline (published peak) | "
              "roofline (measured peak) | compile s (median) | first OOM batch | notes |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for block in record["blocks"]:
        h = block.get("headline") or {}
        if block["kind"] == "sweep" and h.get("best"):
            best = h["best"]
            compile_s = h.get("compile_s") or {}
            notes = f"{h['ok']} ok, {h['skipped']} skipped, {h['oom']} oom"
            scaling = h.get("scaling") or {}
            if "note" not in scaling:
                notes += "; scaling " + ", ".join(f"{d} devices {_percent(v['efficiency'])}" for d, v in scaling.items())
            lines.append(f"| {block['name']} | {block['status']} | {best['batch_per_device']:.0f} | "
                         f"{best['images_per_s_per_device']:.3f} | {_percent(best['roofline_fraction'])} | "
                         f"{_percent(best['roofline_fraction_measured'])} | "
                         f"{compile_s.get('median', float('nan')):.1f} | {h.get('first_oom_batch_per_device') or 'none'} | "
                         f"{notes} |")
        elif block["kind"] == "loadgen" and h.get("scenarios"):
            for s in h["scenarios"]:
                value = s.get("result_value")
                shown = f"{s.get('result_metric')} {value:.4g}" if value is not None else (s.get("error") or "")
                lines.append(f"| {block['name']} | {block['status']} | {s.get('batch_per_device')} | | | | "
                             f"{s.get('compile_s') or float('nan'):.1f} | | {s.get('scenario')}: {s.get('validity')}, "
                             f"{shown}" + (f" ({s['invalid_reason'].split(';')[0]})" if s.get("invalid_reason") else "")
                             + " |")
        else:
            lines.append(f"| {block['name']} | {block['status']} | | | | | | | {block.get('note', '')} |")
    lines += ["", "Roofline: the analytic FLOPs and bytes of every stage at the device's peak (docs/sweeps.md); "
              "published peaks from the data-sheet table, measured ones from a large matrix product and "
              "reduction in the same process. Each block's own run folder holds its rows, report and HTML page."]
    return "\n".join(lines) + "\n"
