#!/bin/bash
# The A/B recipe of docs/compare.md run N times back to back, as its error rates were measured.
#   bash docs/measure_ab_pairs.sh OUT same N    # the same code on both sides
#   bash docs/measure_ab_pairs.sh OUT slow N    # the candidate a copy whose pipeline decodes a GxG grid more
# Each pair: OUT/baseI and OUT/candI (sweep --repeat R --interleave), compared with
# results/baselines/tiny-ab-thresholds.toml; one line per pair in OUT/summary.txt.
# Environment: REPEAT (default 10, the recipe's) processes a side; SLOW_GRID (default 9: a 9x9 token grid
# decoded more, meant as +30 % work a call on the tiny preset, measured +17-21 % idle; 12 measured +50-58 %); PYTHON (default the checkout's
# .venv/bin/python) runs `python -m bench` from the checkout, so a git worktree of a fixed commit can be
# measured while its source tree is being edited elsewhere.
set -u
out=$(realpath -m "$1"); kind=$2; n=$3
main=$(cd "$(dirname "$0")/.." && pwd)
repeat=${REPEAT:-10}; grid=${SLOW_GRID:-9}
py=${PYTHON:-$main/.venv/bin/python}
mkdir -p "$out"
cand_dir=$main
if [ "$kind" = slow ]; then
  cand_dir=$out/slow-copy
  if [ ! -d "$cand_dir" ]; then
    mkdir -p "$cand_dir"
    (cd "$main" && git ls-files -z | xargs -0 -I{} cp --parents {} "$cand_dir/")
    python3 - "$cand_dir/bench/pipeline.py" "$grid" <<'PY'
import sys
from pathlib import Path
p = Path(sys.argv[1])
grid = int(sys.argv[2])
s = p.read_text()
old = "        images = stages.decode(params, tokens)\n        out = {"
new = ("        images = stages.decode(params, tokens)\n"
       f"        extra = stages.decode(params, tokens[:, :{grid * grid}])  # the slowed copy: a {grid}x{grid} decode more\n"
       "        images = jnp.where(extra.mean() > 2.0, 0.0, images)\n"
       "        out = {")
assert old in s, "bench/core/pipeline.py changed: update this script"
p.write_text(s.replace(old, new))
PY
  fi
fi
SWEEP="--sweep results/baselines/tiny.toml --no-stages -n 2 --iters 12 --no-report --no-progress --repeat $repeat"
for i in $(seq 1 "$n"); do
  s=$(date +%s)
  (cd "$main" && "$py" -m bench sweep $SWEEP --out "$out" --run-id base$i --interleave "$out/turns$i.json" \
     > "$out/base$i.log" 2>&1) &
  (cd "$cand_dir" && "$py" -m bench sweep $SWEEP --out "$out" --run-id cand$i \
     --interleave "$out/turns$i.json" > "$out/cand$i.log" 2>&1)
  wait
  e=$(date +%s)
  (cd "$main" && "$py" -m bench compare "$out/base$i" "$out/cand$i" \
     --thresholds results/baselines/tiny-ab-thresholds.toml --require-decided > "$out/compare$i.md" 2>&1
   echo "pair $i $kind: exit $? in $((e - s)) s: $(head -1 "$out/compare$i.md")" >> "$out/summary.txt")
done
