"""ATT3D from the command line: train one mapping network over a prompt set by score distillation (the
run itself is `att3d/training.py::train_att3d`).

    python -m train.att3d --prompts toy64 --split seen --out runs/att3d/toy64
    accelerate launch --multi_gpu --num_processes 4 -m train.att3d ...      # the same update, split over GPUs
    torchrun --nproc_per_node 2 -m train.att3d --device cpu ...             # ... or over CPU processes (gloo)

Outputs in `--out`: `checkpoint/` (resumable), `snapshots/step_N/`, `model/` (the final one, with its card),
`renders/`, `log.jsonl` and the `config.json` that made them; the same command resumes a stopped run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from att3d import ATT3DConfig
from att3d.interpolation import InterpolantSampling
from att3d.model import BACKBONES
from att3d.training import ATT3DTrainConfig, train_att3d, training_prompts
from nerf.settings import with_overrides

SET_HELP = "any other ATT3DTrainConfig setting, e.g. tv_weight=0.05 model.hidden_dim=128 interpolants.kind=dirichlet"


def main(argv: list[str] | None = None) -> None:
    defaults = ATT3DTrainConfig()
    parser = argparse.ArgumentParser(description="Train an ATT3D mapping network over a prompt set with SDS.")
    parser.add_argument("--prompts", default=defaults.prompts,
                        help="toy-world prompt set (toy64, stacks, stacks_small, categories, world) or a .txt file, "
                             "one prompt a line")  # fmt: skip
    parser.add_argument("--split", default=defaults.split, help="e.g. seen (toy64), seen_50 or seen_12.5 (stacks)")
    parser.add_argument("--guidance", default="toy", help="'toy', or a Stable Diffusion or IF repo id or folder")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch", type=int, default=defaults.prompts_per_step, help="prompts per step (global)")
    parser.add_argument("--backbone", choices=BACKBONES, default=defaults.model.backbone)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--interpolants", choices=("binary", "dirichlet"), default=defaults.interpolants.kind)
    parser.add_argument("--concentration", type=float, default=defaults.interpolants.concentration,
                        help="Dirichlet concentration κ of the interpolation weight α ~ Beta(κ, κ)")  # fmt: skip
    parser.add_argument("--snapshots", type=int, nargs="*", default=[], help="steps at which to save the model")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--minutes", type=float, help="one sitting: stop at the first checkpoint after this long")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    try:
        config = ATT3DTrainConfig(
            prompts=args.prompts, split=args.split, steps=args.steps, prompts_per_step=args.batch, lr=args.lr,
            interpolants=InterpolantSampling(args.interpolants, args.concentration), seed=args.seed,
            model=ATT3DConfig(backbone=args.backbone), snapshot_steps=tuple(args.snapshots),
        )  # fmt: skip
        config = with_overrides(config, args.set)
        training_prompts(config.prompts, config.split)
        if args.minutes is not None and not args.minutes > 0:
            raise ValueError(f"--minutes must be positive, got {args.minutes}")
    except ValueError as error:
        parser.error(str(error))
    started = time.perf_counter()
    command = shlex.join(["python", "-m", "train.att3d", *(sys.argv[1:] if argv is None else argv)])
    train_att3d(config, args.guidance, args.out, args.device, command=command, minutes=args.minutes)
    print(json.dumps({"out": str(args.out), "steps": config.steps, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
