#!/usr/bin/env bash
# The guide's recipe (docs/TOYWORLD.md, "The guide") on one GPU in about 10 minutes: the render pool made by
# one process per CPU core, then `train.toy_diffusion` in bf16 with a larger batch. What comes back under
# $OUT: the model folder in diffusers' layout (fp16 safetensors), its card, metrics and samples. Judge it
# here afterwards with `python -m evaluation.guide --model <that folder>/model`.
#
# For the device tool (its machines have PyTorch but not diffusers, open_clip, pydantic or trimesh; nothing
# can be downloaded there):
#   1. once, here: pip download --no-deps --only-binary=:all: --python-version 3.12 \
#        --platform manylinux2014_x86_64 -d .wheels diffusers==0.42.1 open-clip-torch==3.3.0 ftfy==6.3.1 \
#        wcwidth==0.9.4 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 \
#        typing-inspection==0.4.5 trimesh==5.2.0
#      and `echo /.wheels/ >> .git/info/exclude`;
#   2. the working tree travels whole and is limited to 64 MiB, which the bundled checkpoints nearly fill:
#      move checkpoints/toy-pil and checkpoints/toy-att3d out of the checkout for the call (they are not
#      needed) and back afterwards;
#   3. run: `bash train/gpu_toy_diffusion.sh` with carry [".wheels"] and timeout_s 600.
# STEPS and BATCH override the recipe's (defaults sized for about 6 minutes of an H100 or H200).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-toy-diffusion}
POOL=${POOL:-/tmp/guide-pool}
STEPS=${STEPS:-12000}
BATCH=${BATCH:-512}
WORKERS=$(( $(nproc) - 1 ))
if [ -d .wheels ]; then
    python3 -m pip install --quiet --no-index --find-links .wheels --no-deps .wheels/*.whl
fi
export OMP_NUM_THREADS=1
start=$(date +%s)
python3 -m toyworld.dataset --set toy64 --views 320 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/toy64"
python3 -m toyworld.dataset --set stacks --views 2 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/stacks"
python3 -m toyworld.dataset --set categories --objects-per-category 400 --views 2 --size 32 --seed 1 \
    --workers "$WORKERS" --out "$POOL/categories"
echo "pool: $(( $(date +%s) - start )) s"
export OMP_NUM_THREADS=8
python3 -m train.toy_diffusion --data "$POOL/toy64" "$POOL/stacks" "$POOL/categories" --data-weights 2 1 1 \
    --out "$OUT" --steps "$STEPS" --batch "$BATCH" --lr 2e-3 --schedule cosine --prediction v_prediction \
    --snr-gamma 5 --camera view --checkpoint-every 2000 --bf16
echo "pool and training: $(( $(date +%s) - start )) s"
rm -rf "$OUT/checkpoint"  # the optimizer state stays on the machine: only the model comes back
