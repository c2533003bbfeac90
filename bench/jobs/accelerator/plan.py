"""The accelerator benchmark's matrix (matrix.toml beside this file) and the
arithmetic of its plan: batch and device ladders, each block's share of the
budget left, and the command line each block runs. Pure: no JAX, no
processes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench.base.errors import BenchError

MATRIX_FILE = Path(__file__).with_name("matrix.toml")
KINDS = ("sweep", "loadgen")
STOP_GRACE_S = 5.0
"""A block is sent SIGTERM this long before its allotment ends, and killed at the end."""


@dataclass(frozen=True)
class RunSettings:
    budget_s: float
    prompts: str
    num_images: int
    warmup: int
    iters: int
    report_reserve_s: float
    min_block_s: float
    compilation_cache: bool = False
    host_devices: int | None = None


@dataclass(frozen=True)
class Block:
    name: str
    kind: str
    share: float
    preset: str
    dtype: str
    batch_per_device: object  # a list, {from, factor, to} or (loadgen) one number
    devices: object = "ladder"
    top_k: tuple = (0,)
    stages: bool = False
    scenario: str = ""
    num_images: int | None = None
    min_duration_s: float = 10.0
    min_queries: int = 100
    benchmark: str = ""  # loadgen: the benchmark definition its fixed settings come from


@dataclass(frozen=True)
class Matrix:
    run: RunSettings
    blocks: tuple[Block, ...]
    source: str = field(default=str(MATRIX_FILE))

    def only(self, names: list[str]) -> Matrix:
        """The blocks named, in the matrix's order."""
        known = [b.name for b in self.blocks]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise BenchError(f"--only: no block {', '.join(unknown) or '(none named)'} in {self.source} "
                             f"(blocks: {', '.join(known)})")
        return replace(self, blocks=tuple(b for b in self.blocks if b.name in names))


def load_matrix(path: Path = MATRIX_FILE, smoke: bool = False) -> Matrix:
    """The matrix, or its `[smoke]` variant (whose run settings override the main ones)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise BenchError(f"--matrix {path}: {e}") from None
    try:
        run = dict(data["run"])
        blocks = data["block"]
        if smoke:
            run.update({k: v for k, v in data["smoke"].items() if k != "block"})
            blocks = data["smoke"]["block"]
        settings = RunSettings(**run)
        parsed = tuple(Block(**{**b, "top_k": tuple(b.get("top_k", (0,)))}) for b in blocks)
    except (KeyError, TypeError) as e:
        raise BenchError(f"--matrix {path}: not a matrix file ({e})") from None
    for block in parsed:
        if block.kind not in KINDS:
            raise BenchError(f"--matrix {path}: block {block.name}: kind must be one of {', '.join(KINDS)}")
        if block.share <= 0:
            raise BenchError(f"--matrix {path}: block {block.name}: share must be > 0")
    return Matrix(settings, parsed, str(path))


def ladder(spec, largest: int | None = None) -> list[int]:
    """[from, from*factor, ... <= to] for a {from, factor, to} table, else the list as given;
    values above `largest` are dropped."""
    if isinstance(spec, dict):
        values, value = [], int(spec["from"])
        while value <= int(spec["to"]):
            values.append(value)
            value *= int(spec["factor"])
    elif isinstance(spec, (list, tuple)):
        values = [int(v) for v in spec]
    else:
        values = [int(spec)]
    return [v for v in values if largest is None or v <= largest]


def device_ladder(spec, available: int) -> list[int]:
    """"ladder": 1, 2, 4, ... and all the devices; else the list, within what is there."""
    if spec == "ladder":
        values, value = [], 1
        while value < available:
            values.append(value)
            value *= 2
        return [*values, available]
    return ladder(spec, largest=available) or [1]


def allotment(left_s: float, shares_left: list[float]) -> float:
    """The next block's seconds: its share of what is left among the blocks not yet run."""
    total = sum(shares_left)
    return left_s * shares_left[0] / total if total > 0 else 0.0


def sweep_command(block: Block, run: RunSettings, seconds: float, out: Path, run_id: str, available: int) -> list[str]:
    """`dalle-bench sweep` arguments for a sweep block with `seconds` to spend."""
    args = ["sweep", "--preset", block.preset, "--dtype", block.dtype,
            "--batch-per-device", ",".join(map(str, ladder(block.batch_per_device))),
            "--devices", ",".join(map(str, device_ladder(block.devices, available))),
            "--top-k", ",".join(map(str, block.top_k)),
            "--prompts", run.prompts, "-n", str(block.num_images or run.num_images),
            "--warmup", str(run.warmup), "--iters", str(run.iters), "--measure-peak",
            "--budget-s", f"{max(seconds - STOP_GRACE_S - run.report_reserve_s, 1.0):.1f}",
            "--html", "--no-progress", "--out", str(out), "--run-id", run_id]
    if block.preset != "tiny":
        args += ["--weights", "random"]
    if not block.stages:
        args.append("--no-stages")
    if not run.compilation_cache:
        args.append("--no-compilation-cache")
    if run.host_devices:
        args += ["--host-devices", str(run.host_devices)]
    return args


def loadgen_command(block: Block, run: RunSettings, out: Path, run_id: str) -> list[str]:
    """`dalle-bench loadgen` arguments for a loadgen block."""
    args = ["loadgen", "--scenario", block.scenario, "--preset", block.preset, "--dtype", block.dtype,
            "--batch-per-device", str(ladder(block.batch_per_device)[0]),
            "--prompts", run.prompts, "-n", str(block.num_images or run.num_images),
            "--min-duration", str(block.min_duration_s), "--min-queries", str(block.min_queries),
            "--out", str(out), "--run-id", run_id]
    if block.preset != "tiny":
        args += ["--weights", "random"]
    if block.benchmark:  # random weights and another prompt set: recorded as not a benchmark run
        args += ["--benchmark", block.benchmark]
    if run.host_devices:
        args += ["--host-devices", str(run.host_devices)]
    return args


def device_slug(device_kind: str, platform: str) -> str:
    """The folder name of a device kind: 'NVIDIA H200' -> 'nvidia-h200'; CPU devices -> 'cpu'."""
    if platform == "cpu":
        return "cpu"
    slug = "".join(c.lower() if c.isalnum() else "-" for c in device_kind)
    return "-".join(part for part in slug.split("-") if part) or platform
