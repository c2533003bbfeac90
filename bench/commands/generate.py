"""`dalle-bench generate`: validate, load, generate, write."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from ..batching import padded_rows
from ..devices import emulate_host_devices
from ..errors import BenchError
from ..sampling.config import SamplingConfig


# Unlike `sweep`'s images_per_s (full-batch capacity), what a user of `generate` waits for.
GENERATE_THROUGHPUT = ("images written / seconds of all program calls (a last, partly filled batch costs a full "
                       "call; compilation excluded)")


def validated(make, *args, **kwargs):
    """Build a self-validating config; its ValueError is the user's mistake."""
    try:
        return make(*args, **kwargs)
    except ValueError as e:
        raise BenchError(str(e)) from None


def check_prompts(prompts) -> list[str]:
    if not prompts:
        raise BenchError("no prompts given")
    for i, prompt in enumerate(prompts):
        if not prompt.strip():
            raise BenchError(f"prompt {i + 1} is empty")
    return list(prompts)


def run_generate(prompts, num_images, seed, temperature, top_k, top_p, cond_scale, preset, weights, model, vqgan,
                 clip_source, dtype, parallel, devices, host_devices, batch_per_device, out, no_progress,
                 coordinator=None, num_processes=None, process_id=None, distributed_timeout=300.0):
    prompts = check_prompts(prompts)
    if num_images < 1:
        raise BenchError(f"-n/--num-images must be >= 1, got {num_images}")
    if not 0 <= seed < 2**31:
        raise BenchError(f"--seed must be in [0, 2^31), got {seed}")
    if devices < 1:
        raise BenchError(f"--devices must be >= 1, got {devices}")
    if Path(out).exists() and not Path(out).is_dir():
        raise BenchError(f"--out: {out} is a file, not a folder")
    sampling = validated(SamplingConfig, temperature=temperature, top_k=top_k, top_p=top_p, cond_scale=cond_scale)
    from ..distributed import DistributedConfig, start
    from ..models.loading import ModelSpec, check_spec, load_models  # imports JAX, starts nothing
    from ..parallel import ParallelConfig

    config = DistributedConfig(coordinator, num_processes, process_id, distributed_timeout)
    mode = parallel or ("single" if devices == 1 else "sharded")
    parallel_config = validated(ParallelConfig, mode=mode, devices=devices, batch_per_device=batch_per_device)
    spec = ModelSpec(preset=preset, weights=weights, model=model, vqgan=vqgan, clip=clip_source, dtype=dtype)
    check_spec(spec)
    if host_devices is not None:
        emulate_host_devices(host_devices)

    # JAX starts here, after XLA_FLAGS is final.
    cluster = start(config)
    from ..devices import select_devices
    from ..environment import device_info, git_commit, package_versions
    from ..generate import generate
    from ..outputs import RANDOM_WEIGHTS_NOTE, image_name, write_generation

    chosen = select_devices(devices)

    start = time.perf_counter()
    models = load_models(spec)
    load_seconds = time.perf_counter() - start
    if models.random_weights and cluster.is_main:
        click.echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)

    result = generate(models, prompts, num_images, seed, sampling, parallel_config, chosen,
                      progress=not no_progress and cluster.is_main)
    cluster.goodbye()
    if not cluster.is_main:  # every process holds every image; process 0 alone writes them
        return
    for i in result.truncated_prompts:
        click.echo(f"Warning: prompt {i + 1} is longer than {models.dalle.config.max_text_length} text tokens "
                   "and was truncated", err=True)

    images_total = len(prompts) * num_images
    padding = padded_rows(len(prompts), num_images, parallel_config.global_batch)
    run_seconds = sum(result.batch_seconds)
    metadata = {
        "prompts": prompts,
        "num_images": num_images,
        "seed": seed,
        "sampling": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "cond_scale": cond_scale},
        "model": {"preset": preset, "weights": spec.resolved_weights(), "dtype": dtype, "sources": models.sources,
                  "revisions": models.revisions, "random_weights": models.random_weights},
        "parallel": {"mode": mode, "devices": devices, "batch_per_device": batch_per_device,
                     "global_batch": parallel_config.global_batch},
        "devices": device_info(chosen),
        "versions": package_versions(),
        "git": git_commit(),
        "images": [{"prompt_index": p, "sample_index": s, "file": image_name(p, s),
                    "clip_score": float(result.clip_scores[p, s])}
                   for p in range(len(prompts)) for s in range(num_images)],
        "timings": {"load_seconds": load_seconds, "compile_seconds": result.compile_seconds,
                    "batch_seconds": result.batch_seconds, "seconds_per_image": run_seconds / images_total,
                    "images_per_second": images_total / run_seconds,
                    "throughput_definition": GENERATE_THROUGHPUT, "padded_rows": padding},
        "truncated_prompts": result.truncated_prompts,
    }
    if models.random_weights:
        metadata["warning"] = RANDOM_WEIGHTS_NOTE
    write_generation(Path(out), prompts, result, metadata)
    click.echo(f"{images_total} images in {run_seconds:.2f} s ({run_seconds / images_total:.3f} s/image, "
               f"compile {result.compile_seconds:.1f} s) on {devices} {chosen[0].platform} device(s), "
               f"mode {mode}; best CLIP score {float(np.max(result.clip_scores)):.2f}; written to {out}")
    click.echo(f"Throughput: {GENERATE_THROUGHPUT}" + (f"; {padding} padding row(s) in the last batch" if padding
                                                       else "") + ".", err=True)
