#!/usr/bin/env bash
# The guide's recipe (docs/TOYWORLD.md, "The guide": from new weights, the whole view and each pixel's ray as the camera,
# the view suffix dropped half the time) on one GPU in about 10 minutes: the render pool made by
# one process per CPU core, then `train.toy_diffusion` in bf16 with a larger batch. What comes back under
# $OUT: the model folder in diffusers' layout (fp16 safetensors), its card, metrics and samples. Judge it
# here afterwards with `python -m evaluation.guide --model <that folder>/model`.
#
# For the device tool (its machines have PyTorch but not diffusers, open_clip, pydantic or trimesh; nothing
# can be downloaded there):
#   1. here: `bash bench/gpu_check.sh wheels` (the locked wheels the GPU machine lacks, into gpu-wheels/);
#   2. the working tree travels whole and is limited to 64 MiB, which the bundled checkpoints nearly fill
#      (gpu-wheels/ is about 12 MB): move checkpoints/toy-pil out of the checkout for the call (this script
#      does not need it) and back afterwards;
#   3. run(command="bash train/gpu_toy_diffusion.sh", carry=["gpu-wheels"], timeout_s=600).
# STEPS and BATCH override the recipe's (defaults sized for about 6 minutes of an H100 or H200).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-toy-diffusion}
POOL=${POOL:-/tmp/guide-pool}
STEPS=${STEPS:-12000}
BATCH=${BATCH:-512}
WORKERS=$(( $(nproc) - 1 ))
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
export OMP_NUM_THREADS=1
start=$(date +%s)
python -m toyworld.dataset --set toy64 --views 320 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/toy64"
python -m toyworld.dataset --set stacks --views 2 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/stacks"
python -m toyworld.dataset --set categories --objects-per-category 400 --views 2 --size 32 --seed 1 \
    --workers "$WORKERS" --out "$POOL/categories"
echo "pool: $(( $(date +%s) - start )) s"
export OMP_NUM_THREADS=8
python -m train.toy_diffusion --data "$POOL/toy64" "$POOL/stacks" "$POOL/categories" --data-weights 2 1 1 \
    --out "$OUT" --steps "$STEPS" --batch "$BATCH" --lr 2e-3 --schedule cosine --prediction v_prediction \
    --snr-gamma 5 --camera rays --drop-view 0.5 --checkpoint-every 2000 --bf16
echo "pool and training: $(( $(date +%s) - start )) s"
rm -rf "$OUT/checkpoint"  # the optimizer state stays on the machine: only the model comes back
