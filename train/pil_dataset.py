"""Build PIL's weight dataset: one small MLP NeRF fitted per toy-world category object, every one from the
same initialization (`pil/build.py` says how; `pil/dataset.py` reads the result).

    python -m train.pil_dataset --out data/pil-nerfs

The folder holds `shard-00000.safetensors` ... with `index.json` (one record per object: category, seed,
split, caption, shard, row, PSNR) beside `config.json` and `shared_init.safetensors`; an interrupted build
resumes at the first missing shard. `--workers N` fits N shards at a time, a process each (one per core),
and makes the same shards.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from nerf.settings import with_overrides
from pil.build import build_dataset, measure_supersampled
from pil.dataset import DatasetConfig
from toyworld.categories import PIL_CATEGORIES

SET_HELP = "any other DatasetConfig setting, e.g. mlp.hidden_dim=32 pool_points=8192 image_size=32"


# --- command line -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    defaults = DatasetConfig()
    parser = argparse.ArgumentParser(description="Fit PIL's dataset of MLP NeRFs from one shared initialization.")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder (resumed if it holds shards)")
    parser.add_argument("--objects-per-category", type=int, default=defaults.objects_per_category)
    parser.add_argument("--categories", nargs="+", default=list(defaults.categories), choices=PIL_CATEGORIES)
    parser.add_argument("--supervision", choices=("points", "views"), default=defaults.supervision,
                        help="3D points of the exact field (fast) or multi-view renders (the paper's)")  # fmt: skip
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--shard-size", type=int, default=defaults.shard_size)
    parser.add_argument("--random-init", action="store_true",
                        help="start every object from its own random weights (the ablation)")  # fmt: skip
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes fitting shards side by side, one thread each (one per core)")  # fmt: skip
    parser.add_argument("--measure", choices=("train", "test"), default=None,
                        help="only measure the built dataset's anti-aliased PSNR on a split")  # fmt: skip
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure_supersampled(args.out, args.measure)))
        return
    try:
        config = DatasetConfig(
            categories=tuple(args.categories), objects_per_category=args.objects_per_category,
            supervision=args.supervision, steps=args.steps, shard_size=args.shard_size,
            shared_init=not args.random_init,
        )  # fmt: skip
        summary = build_dataset(with_overrides(config, args.set), args.out, args.device, workers=args.workers)
    except ValueError as error:
        parser.error(str(error))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
