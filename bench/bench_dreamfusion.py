"""Per-prompt DreamFusion throughput: SDS iterations per second for each backbone, with the toy
guidance model (bundled, or `--guidance` folder), at its resolution, 4 views per step.

`python -m bench.bench_dreamfusion [--steps 20] [--guidance toy]`
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import torch

from bench.common import print_table
from dreamfusion import DreamFusionConfig, dreamfusion
from guidance import load_guidance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", default="toy")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    guidance = load_guidance(args.guidance, device=args.device)
    base = DreamFusionConfig(steps=args.steps, render_every=0, checkpoint_every=10**6)
    rows = []
    for backbone in ("voxel", "hashgrid"):
        lambertian = {"albedo_probability": 0.0, "textureless_probability": 0.0}
        for label, shading in (("albedo", {"albedo_probability": 1.0, "textureless_probability": 0.0}),
                               ("lambertian", lambertian),
                               ("lambertian, normals pass gradient", {**lambertian, "detach_normals": False}),
                               ("default mix", {})):  # fmt: skip
            config = replace(base, backbone=backbone, **shading)
            with tempfile.TemporaryDirectory() as out:
                dreamfusion(
                    "a red cube", guidance, out, replace(config, steps=2), progress=False, export=False, video=False
                )  # fmt: skip  (warm-up: allocations, caches)
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                dreamfusion("a red cube", guidance, out, config, progress=False, export=False, video=False)
                rate = args.steps / (time.perf_counter() - started)
            rows.append([backbone, label, rate, DreamFusionConfig().steps / rate])
    print_table(
        f"Per-prompt DreamFusion, {guidance.resolution}² renders × {base.views} views, {base.num_samples} samples/ray",
        ["backbone", "shading", "iterations/s", f"seconds for a default run ({DreamFusionConfig().steps} iterations)"],
        rows,
    )


if __name__ == "__main__":
    main()
