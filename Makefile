# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-integration bench bench-mini bench-accelerator baseline baseline-shapes docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	python3 -m venv $(VENV)
	# constraints.txt pins torch/torchvision to the builds pip finds on this machine's disk.
	$(PIP) install --quiet --no-compile -c constraints.txt -e '.[test]'
	# dalle-mini 0.1.5 pins jax 0.3 / flax 0.6 / transformers 4.25, which cannot install on current
	# Python: install it alone; bench/base/compat.py makes it run on the current stack.
	$(PIP) install --quiet --no-compile --no-deps dalle-mini==0.1.5
	# The bytecode pip would write one file at a time, on every core at once (about 60 s -> 26 s here).
	# Where PYTHONDONTWRITEBYTECODE is set, nothing else writes it, and each process would compile
	# torch's and jax's modules again. A file that does not compile (Python 2 examples some packages
	# ship) is skipped, as pip skips it.
	$(PY) -m compileall -qq -j 0 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" || true
	touch $(STAMP)

# The HTML report's tests open it in a real headless Chromium: Debian's package (CI runs as root on
# Debian), never a downloaded browser build. Where it cannot be installed (no root, not Debian), those
# two tests are skipped with the reason and the rest of the suite runs.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "No Chromium could be installed: the HTML report's two browser tests will be skipped."

# The trained shapes preset (shipped checkpoints: nothing to build or download) over both
# parallel modes, 1 and 2 emulated devices, two condition scales and two temperatures (16 points),
# four held-out world prompts scored for adherence, then the report with the HTML page. No stage
# breakdown: its programs would double the compilation. 12 timed calls a point: the 8 programs'
# compilation (32-49 s on this 2-core machine, README "How long it takes") is fixed, and the timed
# calls were 35-49 % of the sweep.
demo: setup
	$(VENV)/bin/dalle-bench sweep --preset shapes --prompts shapes_demo -n 1 --iters 12 --eval adherence --no-stages \
		--parallel pmap,sharded --devices 1,2 --cond-scale 1,3 --temperature 0.7,1.0 --html --out results $(DEMO_ARGS)

# Two workers (pytest-xdist): much of the suite waits on subprocess start-up, single-threaded.
test: setup browser
	$(PY) -m pytest --benchmark-disable -n 2 --dist loadgroup $(PYTEST_ARGS)

# The long CLI suites (marked `integration`): the fuzz table, real OS faults, LoadGen scenarios,
# the feature-network metrics through the CLI, run locks and exit statuses. Not in `make test`.
test-integration: setup browser
	$(PY) -m pytest --benchmark-disable -n 2 --dist loadgroup -m integration $(PYTEST_ARGS)

# The documentation pages written from the code (docs/results-schema.md, docs/cli.md); tests/test_docs.py
# fails when a committed one differs.
docs: setup
	$(PY) -m bench.docs

bench: setup
	$(PY) -m pytest -m "benchmark or slow" --benchmark-only --benchmark-autosave $(PYTEST_ARGS)

# The performance-target sweep: mini architecture, random weights, float32, cond-scale 3, batch 1/4/16.
bench-mini: setup
	$(VENV)/bin/dalle-bench sweep --preset mini --weights random --dtype float32 --cond-scale 3 \
		--batch-per-device 1,4,16 -n 1 --warmup 1 --iters 2 --out results $(SWEEP_ARGS)

# The stored baseline the project's CI gates against (tests/test_compare.py runs the same sweep and
# `dalle-bench compare results/baselines/tiny NEW_RUN`). The PNGs are deleted to keep the repository
# small: compare reads run.json and points.parquet; tokens.npy stays for the test's determinism check.
BASELINE_SWEEP := --sweep results/baselines/tiny.toml --no-stages -n 2 --iters 12 --no-report --no-progress
baseline: setup
	rm -rf results/baselines/tiny
	$(VENV)/bin/dalle-bench sweep $(BASELINE_SWEEP) --out results/baselines --run-id tiny
	find results/baselines/tiny -name '*.png' -delete

# The stored shapes baseline: live quality gates on the trained shapes preset (adherence and the
# in-pipeline CLIP score; tests/test_quality_gate.py breaks the sampler on purpose and compare must
# fail on quality). One point at condition scale 3, where a broken super-conditioning shows. It ships
# in the package (the shapes benchmark's accuracy reference) and is written there: through the
# results/baselines/shapes link, `rm -rf` would delete the link and the sweep write a new folder in its place.
SHAPES_BASELINE_SWEEP := --preset shapes --prompts shapes --cond-scale 3 -n 1 --batch-per-device 8 --iters 4 \
	--warmup 0 --no-stages --eval adherence --no-report --no-progress
baseline-shapes: setup
	rm -rf bench/data/baselines/shapes
	$(VENV)/bin/dalle-bench sweep $(SHAPES_BASELINE_SWEEP) --out bench/data/baselines --run-id shapes
	find bench/data/baselines/shapes -name '*.png' -delete

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks

# The accelerator benchmark (bench/jobs/accelerator/matrix.toml) on whatever backend JAX finds, within a
# wall-clock budget (480 s); results in results/accelerators/<device-kind>/<run-id>/. The suite runs
# its CPU dry run (`--smoke`). ACCEL_ARGS: e.g. --budget-s 300.
bench-accelerator: setup
	$(VENV)/bin/dalle-bench accelerator $(ACCEL_ARGS)
