"""The line printed for each finished point (JAX-free: the parent of
`sweep --repeat` prints it for merged rows)."""

from __future__ import annotations


def summary_line(row: dict, finished: int, total: int) -> str:
    s = (f"[{finished}/{total}] {row['point_id']} {row['parallel']} devices={row['devices']} "
         f"batch/device={row['batch_per_device']} T={row['temperature']:g} top_k={row['top_k']} "
         f"top_p={row['top_p']:g} cond={row['cond_scale']:g} {row['dtype']}")
    if row.get("status") != "ok":
        return f"{s}: {row['status']}: {row.get('error')}"
    compiled = (f"compile {row['compile_s']:.1f} s" if row.get("compiled")
                else f"program reused ({row.get('structure')})")
    line = (f"{s}: {row['images_per_s']:.3f} images/s (full batches), p50 {row['latency_p50_s']:.3f} s/batch, "
            f"{compiled}, roofline {100 * row['roofline_fraction']:.1f} %")
    if (row.get("repeats") or 1) > 1:
        each = ", ".join(f"{v:.3f}" for v in row.get("repeat_latency_p50_s") or [])
        line += f"; {row['repeats']} repeats, p50 each {each} s"
    if row.get("padded_rows"):
        line += f"; warning: {padding_note(row)}"
    return line


def padding_note(row: dict) -> str:
    """Why a point's images/s is more than the images it made per second."""
    images = row["num_prompts"] * row["num_images"]
    return (f"{images} image(s) leave {row['padded_rows']} of {images + row['padded_rows']} batch rows as padding; "
            f"images/s counts full batches")
