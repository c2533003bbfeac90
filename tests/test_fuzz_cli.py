"""Wrong invocations of every command, run as a user runs them: each must
exit with status 2 and one line on stderr naming the option or file at
fault, print no traceback, create nothing, and leave a finished run beside it
byte for byte as it was.

The table is the test: a new command or option is one more row. A row's
arguments may name these placeholders, filled in by the fixtures:

    {run}         a finished tiny run (two points: one ok, one invalid), hashed before and after
    {point}       the id of its finished point; {invalid} the id of its invalid point
    {images}      the finished point's images folder (read only)
    {noimages}    a copy of the run whose finished point lost its images folder
    {bad}         a folder of broken inputs (see BAD_FILES)
    {out}         a folder that must still not exist afterwards

Checks must run before JAX compiles anything: every row costs one Python
start-up and the parsing, no more (about a second each on 2 cores)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.png import huge_png

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("test_fuzz_cli")]

INVOCATION_TIMEOUT_S = 300  # generous: a loaded 2-core machine; a refusal takes seconds


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    names: str  # text the error line must contain: the option or the file at fault
    env: tuple[tuple[str, str], ...] = ()  # environment variables of the call (placeholders filled in)


def case(*args: str, names: str, env: dict[str, str] | None = None) -> Case:
    return Case(tuple(args), names, tuple((env or {}).items()))


# No Hugging Face Hub and an empty cache, whatever the machine: a Hub id must be refused in one line.
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": "{bad}/empty_folder"}


SWEEP = ("sweep", "--out", "{out}", "--no-progress")
EVAL = ("eval", "{run}")
COMPARE = ("compare", "{run}", "{run}")
CLIP_SCORE = ("metrics", "clip-score")
FID = ("metrics", "fid")
GENERATE = ("generate", "a cat", "--out", "{out}", "--no-progress")
LOADGEN = ("loadgen", "--out", "{out}")
CMMD = ("metrics", "cmmd")

CASES: dict[str, Case] = {
    # --- the command line itself
    "unknown command": case("sweeep", names="sweeep"),
    "unknown option": case("sweep", "--temprature", "1", names="--temprature"),
    "option without its value": case("sweep", "--iters", names="--iters"),
    "prompts list takes no argument": case("prompts", "list", "extra", names="extra"),
    "metrics without a subcommand name": case("metrics", "fidd", names="fidd"),
    # --- sweep: axes (every axis: a wrong type and an out-of-range value)
    "sweep temperature not a number": case(*SWEEP, "--temperature", "warm", names="--temperature"),
    "sweep temperature zero": case(*SWEEP, "--temperature", "0", names="--temperature"),
    "sweep temperature nan": case(*SWEEP, "--temperature", "nan", names="--temperature"),
    "sweep top-k float": case(*SWEEP, "--top-k", "1.5", names="--top-k"),
    "sweep top-k negative": case(*SWEEP, "--top-k", "-3", names="--top-k"),
    "sweep top-k with a line break": case(*SWEEP, "--top-k", "1\n2", names="--top-k"),
    "sweep dtype with a line break": case(*SWEEP, "--dtype", "float32\nfloat16", names="--dtype"),
    "sweep top-p above one": case(*SWEEP, "--top-p", "1.01", names="--top-p"),
    "sweep top-p text": case(*SWEEP, "--top-p", "high", names="--top-p"),
    "sweep cond-scale negative": case(*SWEEP, "--cond-scale", "-0.5", names="--cond-scale"),
    "sweep cond-scale inf": case(*SWEEP, "--cond-scale", "inf", names="--cond-scale"),
    "sweep batch zero": case(*SWEEP, "--batch-per-device", "0", names="--batch-per-device"),
    "sweep batch text": case(*SWEEP, "--batch-per-device", "two", names="--batch-per-device"),
    "sweep devices zero": case(*SWEEP, "--devices", "0", names="--devices"),
    "sweep devices 999": case(*SWEEP, "--devices", "999", names="--devices 999"),
    "sweep devices text": case(*SWEEP, "--devices", "all", names="--devices"),
    "sweep devices empty list": case(*SWEEP, "--devices", ",", names="--devices"),
    "sweep parallel unknown": case(*SWEEP, "--parallel", "shard", names="--parallel"),
    "sweep dtype unknown": case(*SWEEP, "--dtype", "fp8", names="--dtype"),
    "sweep seed negative": case(*SWEEP, "--seed", "-1", names="--seed"),
    "sweep seed too large": case(*SWEEP, "--seed", "2147483648", names="--seed"),
    "sweep seed text": case(*SWEEP, "--seed", "random", names="--seed"),
    # --- sweep: scalar options
    "sweep num-images zero": case(*SWEEP, "-n", "0", names="--num-images"),
    "sweep num-images text": case(*SWEEP, "-n", "many", names="--num-images"),
    "sweep warmup negative": case(*SWEEP, "--warmup", "-1", names="--warmup"),
    "sweep iters zero": case(*SWEEP, "--iters", "0", names="--iters"),
    "sweep iters float": case(*SWEEP, "--iters", "2.5", names="--iters"),
    "sweep min-seconds negative": case(*SWEEP, "--min-seconds", "-1", names="--min-seconds"),
    "sweep min-seconds nan": case(*SWEEP, "--min-seconds", "nan", names="--min-seconds"),
    "sweep host-devices zero": case(*SWEEP, "--host-devices", "0", names="--host-devices"),
    "sweep host-devices 100000": case(*SWEEP, "--host-devices", "100000", names="--host-devices"),
    "sweep preset unknown": case(*SWEEP, "--preset", "minni", names="--preset"),
    "sweep weights unknown": case(*SWEEP, "--weights", "trained", names="--weights"),
    "sweep tiny pretrained": case(*SWEEP, "--weights", "pretrained", names="--weights"),
    "sweep model missing": case(*SWEEP, "--model", "/no/such/model", names="--model"),
    "sweep vqgan missing": case(*SWEEP, "--vqgan", "./no/such/vqgan", names="--vqgan"),
    "sweep clip missing": case(*SWEEP, "--clip", "/no/such/clip", names="--clip"),
    "sweep compilation-cache is a file": case(*SWEEP, "--compilation-cache", "{bad}/empty.txt",
                                              names="--compilation-cache"),
    "sweep out is a file": case("sweep", "--out", "{bad}/empty.txt", names="--out"),
    "sweep run-id with a slash": case(*SWEEP, "--run-id", "a/b", names="--run-id"),
    "sweep run-id parent": case(*SWEEP, "--run-id", "..", names="--run-id"),
    # --- loadgen
    "loadgen unknown scenario": case(*LOADGEN, "--scenario", "burst", names="--scenario"),
    "loadgen target rate zero": case(*LOADGEN, "--scenario", "server", "--target-qps", "0", names="--target-qps"),
    "loadgen negative batch window": case(*LOADGEN, "--scenario", "offline", "--max-batch-wait-ms", "-1", names="--max-batch-wait-ms"),
    "loadgen missing user.conf": case(*LOADGEN, "--scenario", "offline", "--user-conf", "{bad}/none.conf", names="--user-conf"),
    "loadgen run-id with a slash": case(*LOADGEN, "--scenario", "offline", "--run-id", "a/b", names="--run-id"),
    # issue 29: every value finite and bounded before anything starts
    "loadgen min-duration nan": case(*LOADGEN, "--scenario", "offline", "--min-duration", "nan", names="--min-duration"),
    "loadgen min-duration inf": case(*LOADGEN, "--scenario", "offline", "--min-duration", "inf", names="--min-duration"),
    "loadgen latency bound inf": case(*LOADGEN, "--scenario", "server", "--target-latency-ms", "inf", names="--target-latency-ms"),
    "loadgen target rate inf": case(*LOADGEN, "--scenario", "server", "--target-qps", "inf", names="--target-qps"),
    "loadgen min-queries huge": case(*LOADGEN, "--scenario", "offline", "--min-queries", "1000000000000", names="--min-queries"),
    "loadgen samples a query huge": case(*LOADGEN, "--scenario", "multistream", "--samples-per-query", "100000000", names="--samples-per-query"),
    "loadgen images a prompt huge": case(*LOADGEN, "--scenario", "offline", "-n", "100000000", names="--num-images"),
    "loadgen batch window inf": case(*LOADGEN, "--scenario", "offline", "--max-batch-wait-ms", "inf", names="--max-batch-wait-ms"),
    "loadgen run-id too long": case(*LOADGEN, "--scenario", "offline", "--run-id", "a" * 300, names="--run-id"),
    "sweep run-id too long": case(*SWEEP, "--run-id", "r" * 300, names="--run-id"),
    "compare output into a run": case(*COMPARE, "--output", "{run}/run.json", names="--output"),
    "generate out into a run": case("generate", "a cat", "--out", "{run}/images/x", "--no-progress", names="--out"),
    "loadgen out under a file": case(*LOADGEN, "--scenario", "offline", "--out", "{bad}/empty.txt/sub", names="--out"),
    "sweep out under a file": case("sweep", "--out", "{bad}/empty.txt/sub", names="--out"),
    "generate out under a file": case("generate", "a cat", "--out", "{bad}/empty.txt/sub", "--no-progress", names="--out"),
    "train-shapes out under a file": case("train-shapes", "--stage", "clip", "--out", "{bad}/empty.txt/sub", names="--out"),
    "accelerator out under a file": case("accelerator", "--smoke", "--out", "{bad}/empty.txt/sub", names="--out"),
    "train-shapes assemble an empty folder": case("train-shapes", "--stage", "assemble", "--out", "{bad}/empty_folder",
                                                  names="--stage assemble"),
    "train-shapes assemble without the cell model": case("train-shapes", "--stage", "assemble", "--out",
                                                         "{bad}/half_trained", names=".dallebart-cells"),
    "generate prompt not utf-8": case("generate", "a \udcff cat", "--out", "{out}", "--no-progress", names="prompt 1"),
    "loadgen eval-clip missing": case(*LOADGEN, "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                                      "/no/such/clip", names="--eval-clip"),
    "loadgen eval-clip an empty folder": case(*LOADGEN, "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                                              "{bad}/empty_folder", names="--eval-clip"),
    "loadgen eval-clip corrupt config": case(*LOADGEN, "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                                             "{bad}/corrupt_clip", names="--eval-clip"),
    "loadgen eval-clip not a hub id": case(*LOADGEN, "--scenario", "offline", "--mode", "accuracy", "--eval-clip",
                                           "openai clip", names="--eval-clip"),
    "compare candidate latencies inf": case("compare", "{run}", "{bad}/inf_latencies", names="latencies.npy"),
    "compare baseline latencies inf": case("compare", "{bad}/inf_latencies", "{run}", names="latencies.npy"),
    "loadgen prompts not utf-8": case(*LOADGEN, "--scenario", "offline", "--prompts", "{bad}/binary.txt", names="--prompts"),
    "loadgen unknown benchmark": case(*LOADGEN, "--scenario", "offline", "--benchmark", "shape", names="--benchmark"),
    # --- metrics beyond FID
    "cmmd missing images folder": case(*CMMD, "{bad}/none", "{images}", names="none"),
    # issue 29, round two: an image too large to decode refused from its header (a 20000x20000 PNG of
    # 50 kB), a run without points, a Hub id neither cached nor reachable
    "cmmd image too large": case(*CMMD, "{bad}/huge", "{images}", names="huge.png"),
    "prdc image too large": case("metrics", "prdc", "{bad}/huge", "{images}", names="huge.png"),
    "fd-dinov2 image too large": case("metrics", "fd-dinov2", "{bad}/huge", "{images}", names="huge.png"),
    "fid image too large": case(*FID, "{bad}/huge", "{images}", names="huge.png"),
    "clip-score image too large": case(*CLIP_SCORE, "{bad}/huge", "--prompts", "{bad}/three.txt", "--clip", "shapes",
                                       names="huge.png"),
    "eval run without points": case("eval", "{bad}/no_points", "--clip", "shapes", names="points.parquet"),
    "clip-score hub id offline": case(*CLIP_SCORE, "{images}", "--prompts", "{bad}/two.txt", "--clip",
                                      "openai/clip-vit-base-patch32", names="--clip", env=OFFLINE),
    "cmmd hub id offline": case(*CMMD, "{images}", "{images}", names="--clip", env=OFFLINE),
    "prdc hub id offline": case("metrics", "prdc", "{images}", "{images}", names="--dinov2", env=OFFLINE),
    "eval clip hub id offline": case(*EVAL, "--metrics", "clip", names="--clip", env=OFFLINE),
    "eval cmmd-clip hub id offline": case(*EVAL, "--metrics", "cmmd", "--fid-ref", "{images}", names="--cmmd-clip",
                                          env=OFFLINE),
    "eval dinov2 hub id offline": case(*EVAL, "--metrics", "fd_dinov2", "--fid-ref", "{images}", names="--dinov2",
                                       env=OFFLINE),
    "sweep eval-clip hub id offline": case(*SWEEP, "--eval", "clip", names="--eval-clip", env=OFFLINE),
    # --- sweep: --prompts (a set name or a file of each format)
    "sweep prompts unknown set": case(*SWEEP, "--prompts", "dmeo", names="--prompts"),
    "sweep prompts missing file": case(*SWEEP, "--prompts", "{bad}/none.txt", names="--prompts"),
    "sweep prompts empty file": case(*SWEEP, "--prompts", "{bad}/empty.txt", names="--prompts"),
    "sweep prompts not utf-8": case(*SWEEP, "--prompts", "{bad}/binary.txt", names="--prompts"),
    "sweep prompts a folder": case(*SWEEP, "--prompts", "{bad}/folder.txt", names="--prompts"),
    "sweep prompts tsv without Prompt": case(*SWEEP, "--prompts", "{bad}/no_column.tsv", names="--prompts"),
    "sweep prompts csv without Prompts": case(*SWEEP, "--prompts", "{bad}/no_column.csv", names="--prompts"),
    "sweep prompts json not coco": case(*SWEEP, "--prompts", "{bad}/not_coco.json", names="--prompts"),
    "sweep prompts json corrupt": case(*SWEEP, "--prompts", "{bad}/corrupt.json", names="--prompts"),
    "sweep prompts dangling link": case(*SWEEP, "--prompts", "{bad}/dangling.txt", names="--prompts"),
    # --- sweep: --sweep files
    "sweep file missing": case(*SWEEP, "--sweep", "{bad}/none.toml", names="--sweep"),
    "sweep file is a folder": case(*SWEEP, "--sweep", "{bad}", names="--sweep"),
    "sweep file empty": case(*SWEEP, "--sweep", "{bad}/empty.toml", names="--sweep"),
    "sweep file corrupt toml": case(*SWEEP, "--sweep", "{bad}/corrupt.toml", names="--sweep"),
    "sweep file corrupt yaml": case(*SWEEP, "--sweep", "{bad}/corrupt.yaml", names="--sweep"),
    "sweep file yaml list": case(*SWEEP, "--sweep", "{bad}/list.yaml", names="--sweep"),
    "sweep file not utf-8": case(*SWEEP, "--sweep", "{bad}/binary.toml", names="--sweep"),
    "sweep file unknown section": case(*SWEEP, "--sweep", "{bad}/section.toml", names="--sweep"),
    "sweep file unknown axis": case(*SWEEP, "--sweep", "{bad}/axis.toml", names="--sweep"),
    "sweep file wrong type": case(*SWEEP, "--sweep", "{bad}/wrong_type.toml", names="--top-k"),
    "sweep file nested list": case(*SWEEP, "--sweep", "{bad}/nested.yaml", names="--temperature"),
    "sweep file unequal zip": case(*SWEEP, "--sweep", "{bad}/unequal.toml", names="--sweep"),
    "sweep file axis twice": case(*SWEEP, "--sweep", "{bad}/twice.yaml", names="--sweep"),
    "sweep file zipped axis also given": case(*SWEEP, "--sweep", "{bad}/zipped.toml", "--devices", "1",
                                              names="--devices"),
    "sweep file devices 999": case(*SWEEP, "--sweep", "{bad}/devices999.toml", names="--devices 999"),
    # --- sweep: --resume
    "sweep resume missing folder": case("sweep", "--resume", "{bad}/none", names="none"),
    "sweep resume a file": case("sweep", "--resume", "{bad}/empty.txt", names="empty.txt"),
    "sweep resume not a run": case("sweep", "--resume", "{bad}", names="not a dalle-bench run"),
    "sweep resume corrupt run.json": case("sweep", "--resume", "{bad}/corrupt_run", names="run.json"),
    "sweep resume corrupt points": case("sweep", "--resume", "{bad}/corrupt_points", names="points.parquet"),
    "sweep resume another definition": case("sweep", "--resume", "{run}", "--cond-scale", "1,2",
                                            names="--resume"),
    "sweep resume another num-images": case("sweep", "--resume", "{run}", "-n", "3", names="--resume"),
    # --- sweep: --eval and its options
    "sweep eval unknown metric": case(*SWEEP, "--eval", "clip,fidd", names="--metrics"),
    "sweep eval fid without reference": case(*SWEEP, "--eval", "fid", names="--fid-ref"),
    "sweep eval reference missing": case(*SWEEP, "--eval", "fid", "--fid-ref", "{bad}/none", names="--fid-ref"),
    "sweep eval reference not a point": case(*SWEEP, "--eval", "fid", "--fid-ref", "point:999-nothing",
                                             names="--fid-ref"),
    "sweep eval inception missing": case(*SWEEP, "--eval", "isc", "--inception-weights", "{bad}/none.pth",
                                         names="--inception-weights"),
    "sweep eval inception a folder": case(*SWEEP, "--eval", "isc", "--inception-weights", "{bad}",
                                          names="--inception-weights"),
    "sweep eval clip missing": case(*SWEEP, "--eval", "clip", "--eval-clip", "/no/such/clip", names="--eval-clip"),
    # --- sweep: joining a multi-process run
    "sweep coordinator malformed": case(*SWEEP, "--coordinator", "host", names="--coordinator"),
    "sweep num-processes text": case(*SWEEP, "--num-processes", "two", names="--num-processes"),
    "sweep process-id alone": case(*SWEEP, "--process-id", "1", names="--process-id"),
    "sweep process-id out of range": case(*SWEEP, "--coordinator", "localhost:1234", "--num-processes", "2",
                                          "--process-id", "2", names="--process-id"),
    "sweep distributed-timeout zero": case(*SWEEP, "--distributed-timeout", "0", names="--distributed-timeout"),
    "sweep min-seconds across processes": case(*SWEEP, "--coordinator", "localhost:1234", "--num-processes", "2",
                                               "--process-id", "0", "--min-seconds", "1", names="--min-seconds"),
    # --- report
    "report missing folder": case("report", "{bad}/none", names="none"),
    "report a file": case("report", "{bad}/empty.txt", names="empty.txt"),
    "report not a run": case("report", "{bad}", names="not a dalle-bench run"),
    "report corrupt run.json": case("report", "{bad}/corrupt_run", names="run.json"),
    "report corrupt points": case("report", "{bad}/corrupt_points", names="points.parquet"),
    "report html of not a run": case("report", "{bad}", "--html", names="not a dalle-bench run"),
    # --- compare: runs, every threshold, the thresholds file, format and output
    "compare baseline missing": case("compare", "{bad}/none", "{run}", names="none"),
    "compare candidate not a run": case("compare", "{run}", "{bad}", names="candidate"),
    "compare candidate corrupt points": case("compare", "{run}", "{bad}/corrupt_points", names="points.parquet"),
    "compare candidate without points": case("compare", "{run}", "{bad}/no_points", names="points.parquet"),
    "compare throughput drop text": case(*COMPARE, "--max-throughput-drop", "lots", names="--max-throughput-drop"),
    "compare throughput drop 100%": case(*COMPARE, "--max-throughput-drop", "100%", names="--max-throughput-drop"),
    "compare throughput drop 5 (not 5%)": case(*COMPARE, "--max-throughput-drop", "5",
                                               names="--max-throughput-drop"),
    "compare latency rise negative": case(*COMPARE, "--max-latency-rise", "-1%", names="--max-latency-rise"),
    "compare latency rise nan": case(*COMPARE, "--max-latency-rise", "nan", names="--max-latency-rise"),
    "compare compile rise inf": case(*COMPARE, "--max-compile-rise", "inf", names="--max-compile-rise"),
    "compare memory rise text": case(*COMPARE, "--max-memory-rise", "big", names="--max-memory-rise"),
    "compare clip drop percent": case(*COMPARE, "--max-clip-drop", "5%", names="--max-clip-drop"),
    "compare fid rise negative": case(*COMPARE, "--max-fid-rise", "-2", names="--max-fid-rise"),
    "compare thresholds missing": case(*COMPARE, "--thresholds", "{bad}/none.toml", names="--thresholds"),
    "compare thresholds a folder": case(*COMPARE, "--thresholds", "{bad}", names="--thresholds"),
    "compare thresholds corrupt": case(*COMPARE, "--thresholds", "{bad}/corrupt.toml", names="--thresholds"),
    "compare thresholds not utf-8": case(*COMPARE, "--thresholds", "{bad}/binary.toml", names="--thresholds"),
    "compare thresholds unknown key": case(*COMPARE, "--thresholds", "{bad}/thresholds_key.toml",
                                           names="--thresholds"),
    "compare thresholds bad value": case(*COMPARE, "--thresholds", "{bad}/thresholds_value.yaml",
                                         names="--thresholds"),
    "compare format unknown": case(*COMPARE, "--format", "xml", names="--format"),
    "compare output a folder": case(*COMPARE, "--output", "{bad}", names="--output"),
    "compare output under a file": case(*COMPARE, "--output", "{bad}/empty.txt/out.md", names="--output"),
    # --- eval
    "eval missing folder": case("eval", "{bad}/none", names="none"),
    "eval a file": case("eval", "{bad}/empty.txt", names="empty.txt"),
    "eval not a run": case("eval", "{bad}", names="not a dalle-bench run"),
    "eval corrupt points": case("eval", "{bad}/corrupt_points", names="points.parquet"),
    "eval unknown metric": case(*EVAL, "--metrics", "clip,fidd", names="--metrics"),
    "eval empty metrics": case(*EVAL, "--metrics", ",", names="--metrics"),
    "eval fid without reference": case(*EVAL, "--metrics", "fid", names="--fid-ref"),
    "eval reference point that does not exist": case(*EVAL, "--metrics", "fid", "--fid-ref", "point:999-nothing",
                                                     names="--fid-ref"),
    "eval reference point that did not finish": case(*EVAL, "--metrics", "fid", "--fid-ref", "point:{invalid}",
                                                     names="--fid-ref"),
    "eval reference point without images": case("eval", "{noimages}", "--metrics", "fid", "--fid-ref",
                                                "point:{point}", names="--fid-ref"),
    "eval reference missing path": case(*EVAL, "--metrics", "fid", "--fid-ref", "{bad}/none", names="--fid-ref"),
    "eval reference a text file": case(*EVAL, "--metrics", "kid", "--fid-ref", "{bad}/empty.txt",
                                       names="--fid-ref"),
    "eval inception missing": case(*EVAL, "--metrics", "isc", "--inception-weights", "{bad}/none.pth",
                                   names="--inception-weights"),
    "eval inception a folder": case(*EVAL, "--metrics", "isc", "--inception-weights", "{bad}",
                                    names="--inception-weights"),
    "eval inception corrupt": case(*EVAL, "--metrics", "isc", "--inception-weights", "{bad}/empty.txt",
                                   names="--inception-weights"),
    "eval clip missing": case(*EVAL, "--metrics", "clip", "--clip", "/no/such/clip", names="--clip"),
    "eval clip a file": case(*EVAL, "--metrics", "clip", "--clip", "{bad}/empty.txt", names="--clip"),
    "eval clip an empty folder": case(*EVAL, "--metrics", "clip", "--clip", "{bad}/empty_folder", names="--clip"),
    # --- metrics clip-score
    "clip-score folder missing": case(*CLIP_SCORE, "{bad}/none", "--prompts", "{bad}/prompts.txt", names="none"),
    "clip-score folder without images": case(*CLIP_SCORE, "{bad}/empty_folder", "--prompts", "{bad}/prompts.txt",
                                             names="empty_folder"),
    "clip-score corrupt image": case(*CLIP_SCORE, "{bad}/corrupt_images", "--prompts", "{bad}/prompts.txt",
                                     names="bad.png"),
    "clip-score images of two sizes": case(*CLIP_SCORE, "{bad}/mixed_sizes", "--prompts", "{bad}/prompts.txt",
                                           names="mixed_sizes"),
    "clip-score prompts missing": case(*CLIP_SCORE, "{images}", "--prompts", "{bad}/none.txt", names="--prompts"),
    "clip-score prompts empty": case(*CLIP_SCORE, "{images}", "--prompts", "{bad}/empty.txt", names="--prompts"),
    "clip-score prompts count": case(*CLIP_SCORE, "{images}", "--prompts", "{bad}/prompts.txt", names="--prompts"),
    "clip-score prompts not given": case(*CLIP_SCORE, "{images}", names="--prompts"),
    "clip-score clip missing": case(*CLIP_SCORE, "{images}", "--prompts", "{bad}/three.txt", "--clip",
                                    "/no/such/clip", names="--clip"),
    # --- metrics fid
    "fid folder missing": case(*FID, "{bad}/none", "{images}", names="none"),
    "fid folder without images": case(*FID, "{bad}/empty_folder", "{images}", names="empty_folder"),
    "fid reference missing": case(*FID, "{images}", "{bad}/none", names="none"),
    "fid reference a text file": case(*FID, "{images}", "{bad}/empty.txt", names="empty.txt"),
    "fid reference corrupt npz": case(*FID, "{images}", "{bad}/corrupt.npz", "--metrics", "fid",
                                      names="corrupt.npz"),
    "fid reference npz without mu": case(*FID, "{images}", "{bad}/no_mu.npz", "--metrics", "fid",
                                         names="no_mu.npz"),
    "fid unknown metric": case(*FID, "{images}", "{images}", "--metrics", "fid,is", names="--metrics"),
    "fid inception missing": case(*FID, "{images}", "{images}", "--inception-weights", "{bad}/none.pth",
                                  names="--inception-weights"),
    "fid cache a file": case(*FID, "{images}", "{images}", "--cache", "{bad}/empty.txt", names="--cache"),
    # --- prompts
    "prompts show unknown": case("prompts", "show", "parti", names="parti"),
    "prompts show missing file": case("prompts", "show", "{bad}/none.tsv", names="none.tsv"),
    "prompts show empty file": case("prompts", "show", "{bad}/empty.txt", names="empty.txt"),
    "prompts show corrupt json": case("prompts", "show", "{bad}/corrupt.json", names="corrupt.json"),
    # --- generate: every option
    "generate no prompt": case("generate", "--out", "{out}", names="prompts"),
    "generate blank prompt": case("generate", " ", "--out", "{out}", names="prompt 1"),
    "generate num-images zero": case(*GENERATE, "-n", "0", names="--num-images"),
    "generate num-images text": case(*GENERATE, "-n", "four", names="--num-images"),
    "generate seed text": case(*GENERATE, "--seed", "x", names="--seed"),
    "generate seed negative": case(*GENERATE, "--seed", "-1", names="--seed"),
    "generate seed too large": case(*GENERATE, "--seed", "2147483648", names="--seed"),
    "generate temperature negative": case(*GENERATE, "--temperature", "-1", names="--temperature"),
    "generate top-k text": case(*GENERATE, "--top-k", "many", names="--top-k"),
    "generate top-p zero": case(*GENERATE, "--top-p", "0", names="--top-p"),
    "generate cond-scale nan": case(*GENERATE, "--cond-scale", "nan", names="--cond-scale"),
    "generate preset unknown": case(*GENERATE, "--preset", "mgea", names="--preset"),
    "generate weights unknown": case(*GENERATE, "--weights", "none", names="--weights"),
    "generate model missing": case(*GENERATE, "--model", "/no/such/model", names="--model"),
    "generate vqgan missing": case(*GENERATE, "--vqgan", "./none", names="--vqgan"),
    "generate clip missing": case(*GENERATE, "--clip", "/no/such/clip", names="--clip"),
    "generate dtype unknown": case(*GENERATE, "--dtype", "int8", names="--dtype"),
    "generate parallel unknown": case(*GENERATE, "--parallel", "auto", names="--parallel"),
    "generate single on two devices": case(*GENERATE, "--parallel", "single", "--devices", "2",
                                           names="--parallel"),
    "generate devices zero": case(*GENERATE, "--devices", "0", names="--devices"),
    "generate devices more than there are": case(*GENERATE, "--devices", "3", names="--devices"),
    "generate host-devices zero": case(*GENERATE, "--host-devices", "0", names="--host-devices"),
    "generate host-devices 100000": case(*GENERATE, "--host-devices", "100000", names="--host-devices"),
    "generate batch zero": case(*GENERATE, "--batch-per-device", "0", names="--batch-per-device"),
    "generate out is a file": case("generate", "a cat", "--out", "{bad}/empty.txt", names="--out"),
    "generate coordinator malformed": case(*GENERATE, "--coordinator", "::", names="--coordinator"),
    "generate distributed-timeout negative": case(*GENERATE, "--distributed-timeout", "-5",
                                                  names="--distributed-timeout"),
}

# Broken inputs, written once per module. bytes are written as they are; None makes a folder.
BAD_FILES: dict[str, str | bytes | None] = {
    "empty.txt": "# only a comment\n\n",
    "empty.toml": "",
    "binary.txt": b"\xff\xfe\x00cat\x80\n",
    "binary.toml": b"[grid]\ntemperature = [\xff]\n",
    "folder.txt": None,
    "empty_folder": None,
    "no_column.tsv": "Text\tCategory\na cat\tAnimals\n",
    "no_column.csv": "Text,Category\na cat,Animals\n",
    "not_coco.json": '{"images": []}',
    "corrupt.json": '{"annotations": [',
    "corrupt.toml": "[grid\ntemperature = [1",
    "corrupt.yaml": "grid: [temperature: {",
    "list.yaml": "- grid\n- zip\n",
    "section.toml": "[grid]\ntemperature = [1.0]\n[points]\nx = 1\n",
    "axis.toml": "[grid]\ntemprature = [1.0]\n",
    "wrong_type.toml": "[grid]\ntop_k = [\"ten\"]\n",
    "nested.yaml": "grid:\n  temperature: [[1.0, 2.0]]\n",
    "unequal.toml": "[zip]\ndevices = [1, 2]\nparallel = ['single']\n",
    "twice.yaml": "grid:\n  seed: [0]\nzip:\n  seed: [1]\n",
    "zipped.toml": "[zip]\ndevices = [1, 2]\nbatch_per_device = [1, 2]\n",
    "devices999.toml": "[grid]\ndevices = [1, 999]\n",
    "prompts.txt": "one\ntwo\nthree\nfour\nfive\n",
    "thresholds_key.toml": "max_throughput_dorp = \"5%\"\n",
    "thresholds_value.yaml": "max_latency_rise: [1, 2]\n",
    "corrupt_clip": None,
    "corrupt_clip/config.json": "{",
    "corrupt_clip/flax_model.msgpack": b"",
    "half_trained": None,  # the vqgan stage's output, not the dallebart stage's
    "half_trained/vqgan": None,
    "half_trained/vqgan/config.json": "{}",
    "half_trained/vqgan/flax_model.msgpack": b"",
    "corrupt.npz": b"PK\x03\x04 not a zip",
    "corrupt_run": None,
    "corrupt_run/run.json": '{"definition": ',
    "corrupt_points": None,
    "no_points": None,
    "corrupt_images": None,
    "corrupt_images/bad.png": b"\x89PNG\r\n\x1a\n truncated",
    "mixed_sizes": None,
    "two.txt": "a red circle\na blue square\n",  # a prompt for each of {images}' two
    "huge": None,
    "huge/huge.png": huge_png(20000, 20000),
}


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


FUZZ_SWEEP = '[zip]\ndevices = [1, 2]\nparallel = ["single", "single"]\n'


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, run_cli) -> Path:
    """A tiny run of two points: the first measured (its images on disk), the
    second invalid (single mode on two devices): one compilation in all."""
    out = tmp_path_factory.mktemp("fuzz-run")
    (out / "sweep.toml").write_text(FUZZ_SWEEP)
    run_cli("sweep", "--sweep", out / "sweep.toml", "--cond-scale", "1", "--no-stages", "--iters", "1",
            "--warmup", "0", "-n", "1", "--out", out, "--run-id", "run", "--no-progress", "--no-report", check=True)
    return out / "run"


@pytest.fixture(scope="module")
def places(finished_run, tmp_path_factory) -> dict[str, str]:
    import numpy as np
    import pandas as pd
    from PIL import Image

    rows = pd.read_parquet(finished_run / "points.parquet")
    assert list(rows.status) == ["ok", "invalid"]
    point, invalid = rows.point_id
    bad = tmp_path_factory.mktemp("bad")
    for name, content in BAD_FILES.items():
        path = bad / name
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (bad / "dangling.txt").symlink_to(bad / "nowhere.txt")
    shutil.copy(finished_run / "run.json", bad / "corrupt_points" / "run.json")
    (bad / "corrupt_points" / "points.parquet").write_bytes((finished_run / "points.parquet").read_bytes()[:200])
    shutil.copy(finished_run / "run.json", bad / "no_points" / "run.json")
    (bad / "three.txt").write_text("a\nb\nc\n")
    for size in (8, 16):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(bad / "mixed_sizes" / f"{size}.png")
    np.savez(bad / "no_mu.npz", mean=np.zeros(3))
    shutil.copytree(finished_run, bad / "inf_latencies")  # a copy whose timed calls are all inf
    for path in (bad / "inf_latencies").glob("images/*/latencies.npy"):
        np.save(path, np.full_like(np.load(path), np.inf))
    noimages = tmp_path_factory.mktemp("noimages") / "run"
    shutil.copytree(finished_run, noimages)
    shutil.rmtree(noimages / "images" / point)
    return {"run": str(finished_run), "point": point, "invalid": invalid, "bad": str(bad),
            "images": str(finished_run / "images" / point), "noimages": str(noimages)}


@pytest.fixture(scope="module")
def run_digest(finished_run) -> dict[str, str]:
    return _digest(finished_run)


def _params():
    for name, c in CASES.items():
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_wrong_invocation(name, tiny_cache, places, run_digest, finished_run, tmp_path):
    c = CASES[name]
    out = tmp_path / "out"
    filled = {**places, "out": str(out)}
    args = [arg.format(**filled) for arg in c.args]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update(DALLE_BENCH_CACHE=str(tiny_cache), TRANSFORMERS_VERBOSITY="error")
    env.update({key: value.format(**filled) for key, value in c.env})
    try:  # a wrong invocation is refused in seconds: one that starts real work fails here
        proc = subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=INVOCATION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {INVOCATION_TIMEOUT_S} s: the input was not refused up front")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 2, f"exit {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert len(lines) == 1, proc.stderr[-3000:]
    assert c.names.format(**filled) in lines[0], lines[0]
    assert not out.exists(), f"{out} was created"
    assert _digest(finished_run) == run_digest, "the finished run changed"


def test_the_table_is_large_enough():
    assert len(CASES) >= 100
    commands = {c.args[0] if c.args[0] != "metrics" else " ".join(c.args[:2]) for c in CASES.values()}
    assert {"sweep", "report", "compare", "eval", "metrics clip-score", "metrics fid", "prompts",
            "generate"} <= commands
