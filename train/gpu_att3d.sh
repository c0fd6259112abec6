#!/usr/bin/env bash
# ATT3D over the whole world (issue 31: toy64, stacks and categories in one model, with the shape regularizer)
# on one GPU in about 10 minutes. A short probe measures this GPU's step time first, so the run's planned
# steps (and so its learning-rate schedule) fit the minutes it has; the run itself is a sitting that ends by
# the clock in any case. What comes back under $OUT: model/ (fp32 safetensors, its card with the steps done and
# the training time) and log.jsonl. Bundle and judge it here afterwards:
#   python -m evaluation.att3d --att3d <that folder> --out runs/eval-world --bundle checkpoints/toy-att3d
#
# With the device tool (nothing can be downloaded there): here `bash bench/gpu_check.sh wheels`, move
# checkpoints/toy-pil out of the checkout for the call (the tree travels whole, at most 64 MiB), then
#   run(command="bash train/gpu_att3d.sh", carry=["gpu-wheels"], timeout_s=600)
# MINUTES (training time, default 6: the call also sets up packages and builds the asset library twice),
# BATCH (prompts per step, default 64) and PROMPTS / SPLIT override.
# Prepared and run here on the CPU at toy sizes only: no GPU has been lent to this project's issues so far.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-att3d}
MINUTES=${MINUTES:-6}
BATCH=${BATCH:-64}
PROMPTS=${PROMPTS:-world}
SPLIT=${SPLIT:-seen}
DEVICE=${DEVICE:-cuda}
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
recipe=(--prompts "$PROMPTS" --split "$SPLIT" --batch "$BATCH" --device "$DEVICE" --interpolants dirichlet
        --concentration 0.5)
shape=(shape.weight=5 shape.occupancy_weight=1 shape.albedo_weight=100)  # the bundled toy64 model's terms
start=$(date +%s)
# the probe: 30 steps after the library and the first step's compilation, timed from the run's own log
python -m train.att3d "${recipe[@]}" --steps 40 --out "$OUT-probe" --set "${shape[@]}" render_every=0 log_every=1
steps=$(python - "$OUT-probe/log.jsonl" "$MINUTES" <<'PY'
import json, sys
log = [json.loads(line) for line in open(sys.argv[1])]
per_step = (log[-1]["seconds"] - log[9]["seconds"]) / (log[-1]["step"] - log[9]["step"])
print(max(50, int(float(sys.argv[2]) * 60 / per_step * 0.9)))  # 10 % kept for checkpoints and renders
PY
)
echo "probe: $(( $(date +%s) - start )) s; planning $steps steps for $MINUTES minutes"
rm -rf "$OUT-probe"
python -m train.att3d "${recipe[@]}" --steps "$steps" --out "$OUT" --minutes "$MINUTES" \
    --set "${shape[@]}" checkpoint_every=50 render_every=1000
echo "probe and training: $(( $(date +%s) - start )) s"
rm -rf "$OUT/checkpoint" "$OUT/snapshots"  # the optimizer state stays on the machine: only the model comes back
