#!/usr/bin/env bash
# The guide's experiments of docs/TOYWORLD.md (issue "A guide that draws the truth"), each by name, on this CPU.
# Run state lives in RUNS (default ~/runs), outside the checkout; a training stops at the first checkpoint after
# 110 minutes and resumes exactly where it stopped when the same line is run again. One heavy job at a time:
# OMP_NUM_THREADS=2 for a training alone.
#
#   bash train/guide_experiments.sh pool      # the render pool, once (~20 min with two processes; 131 MB)
#   bash train/guide_experiments.sh scratch   # from new weights with the whole recipe, 4,000 steps of 64 (one sitting of ~110 min)
#
# Each prints the command that judges it when it is done. On a GPU, train/gpu_toy_diffusion.sh does both in ten minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-$HOME/runs}
POOL=$RUNS/guide-pool
WORKERS=${WORKERS:-2}

case ${1:-} in
    pool)
        python -m toyworld.dataset --set toy64 --views 320 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/toy64"
        python -m toyworld.dataset --set stacks --views 1 --size 32 --seed 1 --workers "$WORKERS" --out "$POOL/stacks"
        python -m toyworld.dataset --set categories --objects-per-category 200 --views 2 --size 32 --seed 1 \
            --workers "$WORKERS" --out "$POOL/categories"
        ;;
    scratch)
        # new weights, so no caption-only path learned earlier: cosine schedule, v-prediction, min-SNR-5, the whole
        # view as camera input and the view suffix dropped from most captions (the camera must carry the view)
        python -m train.toy_diffusion --data "$POOL/toy64" "$POOL/stacks" "$POOL/categories" --data-weights 2 1 1 \
            --out "$RUNS/guide-scratch" --steps 4000 --batch 64 --lr 1e-3 --schedule cosine --prediction v_prediction \
            --snr-gamma 5 --camera view --drop-view 0.8 --checkpoint-every 100 --minutes 110
        echo "judge: python -m evaluation.guide --model $RUNS/guide-scratch/model --out $RUNS/judge-scratch --samples 2 --stacks 16"
        ;;
    *)
        echo "usage: bash train/guide_experiments.sh {pool|scratch}" >&2
        exit 2
        ;;
esac
