"""`dalle-bench generate`: its options checked into one GenerateRequest, then load, generate, write."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from bench.base.errors import BenchError
from bench.base.torch_free import transformers_without_torch
from bench.core.batching import padded_rows
from bench.core.devices import check_emulated_count, emulate_host_devices
from bench.core.distributed import DistributedConfig
from bench.core.models.spec import ModelSpec, check_spec
from bench.core.sampling.config import SamplingConfig

if TYPE_CHECKING:  # bench.core.parallel imports JAX: only once the options are known to be usable
    from bench.core.parallel import ParallelConfig


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
        try:  # bytes that are not UTF-8 reach Python as lone surrogates, which no tokenizer takes
            prompt.encode("utf-8")
        except UnicodeEncodeError:
            raise BenchError(f"prompt {i + 1} is not valid utf-8 text: "
                             f"{prompt.encode('utf-8', 'surrogateescape')[:60]!r}") from None
    return list(prompts)


@dataclass(frozen=True)
class GenerateRequest:
    """`generate`'s options, checked: everything below takes this or its parts."""

    prompts: tuple[str, ...]
    num_images: int
    seed: int
    sampling: SamplingConfig
    model: ModelSpec
    parallel: ParallelConfig
    distributed: DistributedConfig
    host_devices: int | None
    out: Path
    no_progress: bool

    @classmethod
    def from_options(cls, prompts, num_images, seed, temperature, top_k, top_p, cond_scale, preset, weights, model,
                     vqgan, clip_source, dtype, parallel, devices, host_devices, batch_per_device, out, no_progress,
                     coordinator=None, num_processes=None, process_id=None,
                     distributed_timeout=300.0) -> GenerateRequest:
        """The request, or a one-line BenchError for the first unusable option (in the order the checks
        have always run, so a command line with two mistakes names the same one)."""
        prompts = _checked_inputs(prompts, num_images, seed, devices, out)
        sampling = validated(SamplingConfig, temperature=temperature, top_k=top_k, top_p=top_p, cond_scale=cond_scale)
        from bench.core.parallel import ParallelConfig  # imports JAX, starts nothing: XLA_FLAGS can still change

        distributed = DistributedConfig(coordinator, num_processes, process_id, distributed_timeout)
        mode = parallel or ("single" if devices == 1 else "sharded")
        parallel_config = validated(ParallelConfig, mode=mode, devices=devices, batch_per_device=batch_per_device)
        spec = ModelSpec(preset=preset, weights=weights, model=model, vqgan=vqgan, clip=clip_source, dtype=dtype)
        check_spec(spec)
        if host_devices is not None:
            check_emulated_count(host_devices)
        return cls(prompts=tuple(prompts), num_images=num_images, seed=seed, sampling=sampling, model=spec,
                   parallel=parallel_config, distributed=distributed, host_devices=host_devices, out=Path(out),
                   no_progress=no_progress)


def run(request: GenerateRequest) -> None:
    transformers_without_torch()  # it runs no metric (its CLIP ranking is Flax)
    if request.host_devices is not None:
        emulate_host_devices(request.host_devices)

    # JAX starts here, after XLA_FLAGS is final.
    from bench.core.distributed import start
    from bench.core.models.loading import load_models

    cluster = start(request.distributed)
    from bench.core.devices import select_devices
    from bench.core.generate import generate
    from bench.results.outputs import RANDOM_WEIGHTS_NOTE, write_generation

    chosen = select_devices(request.parallel.devices)
    loading_began = time.perf_counter()
    models = load_models(request.model)
    load_seconds = time.perf_counter() - loading_began
    if models.random_weights and cluster.is_main:
        click.echo(f"Note: {RANDOM_WEIGHTS_NOTE}.", err=True)

    prompts = list(request.prompts)
    result = generate(models, prompts, request.num_images, request.seed, request.sampling, request.parallel, chosen,
                      progress=not request.no_progress and cluster.is_main)
    cluster.goodbye()
    if not cluster.is_main:  # every process holds every image; process 0 alone writes them
        return
    for i in result.truncated_prompts:
        click.echo(f"Warning: prompt {i + 1} is longer than {models.dalle.config.max_text_length} text tokens "
                   "and was truncated", err=True)
    metadata = generation_record(request, models, chosen, result, load_seconds)
    write_generation(request.out, prompts, result, metadata)
    _print_summary(metadata, result, chosen, request.out)


def _checked_inputs(prompts, num_images: int, seed: int, devices: int, out) -> list[str]:
    """The prompts, once every option that needs no JAX is known to be usable."""
    prompts = check_prompts(prompts)
    if num_images < 1:
        raise BenchError(f"-n/--num-images must be >= 1, got {num_images}")
    if not 0 <= seed < 2**31:
        raise BenchError(f"--seed must be in [0, 2^31), got {seed}")
    if devices < 1:
        raise BenchError(f"--devices must be >= 1, got {devices}")
    from bench.results.runlock import check_output_folder

    check_output_folder(Path(out), "--out")  # a file, inside a run, or not writable: one line
    return prompts


def generation_record(request: GenerateRequest, models, chosen: list, result, load_seconds: float) -> dict:
    """generate.json: every setting, the models and weights, the machine, each image's score, the timings."""
    from bench.base.environment import device_info, git_commit, package_versions
    from bench.results.outputs import RANDOM_WEIGHTS_NOTE, image_name

    prompts, num_images, sampling = list(request.prompts), request.num_images, request.sampling
    spec, parallel_config = request.model, request.parallel
    images_total = len(prompts) * num_images
    run_seconds = sum(result.batch_seconds)
    record = {
        "prompts": prompts,
        "num_images": num_images,
        "seed": request.seed,
        "sampling": {"temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
                     "cond_scale": sampling.cond_scale},
        "model": {"preset": spec.preset, "weights": spec.resolved_weights(), "dtype": spec.dtype,
                  "sources": models.sources, "revisions": models.revisions, "random_weights": models.random_weights},
        "parallel": {"mode": parallel_config.mode, "devices": parallel_config.devices,
                     "batch_per_device": parallel_config.batch_per_device,
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
                    "throughput_definition": GENERATE_THROUGHPUT,
                    "padded_rows": padded_rows(len(prompts), num_images, parallel_config.global_batch)},
        "truncated_prompts": result.truncated_prompts,
    }
    if models.random_weights:
        record["warning"] = RANDOM_WEIGHTS_NOTE
    return record


def _print_summary(record: dict, result, chosen: list, out) -> None:
    timings, parallel = record["timings"], record["parallel"]
    images_total = len(record["images"])
    run_seconds = sum(timings["batch_seconds"])
    click.echo(f"{images_total} images in {run_seconds:.2f} s ({run_seconds / images_total:.3f} s/image, "
               f"compile {result.compile_seconds:.1f} s) on {parallel['devices']} {chosen[0].platform} device(s), "
               f"mode {parallel['mode']}; best CLIP score {float(np.max(result.clip_scores)):.2f}; written to {out}")
    padding = timings["padded_rows"]
    click.echo(f"Throughput: {GENERATE_THROUGHPUT}" + (f"; {padding} padding row(s) in the last batch" if padding
                                                       else "") + ".", err=True)
