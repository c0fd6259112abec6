"""Renderer throughput: rays per second for a trained field, per shading mode, with and without the
occupancy grid, inference and training (with backward).

`python -m bench.bench_render [--size 64] [--views 4] [--samples 64]`
"""

from __future__ import annotations

import argparse

import torch

from bench.common import print_table, seconds, trained_field
from nerf.cameras import turntable
from nerf.occupancy import OccupancyGrid
from nerf.render import RenderConfig, render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    field = trained_field(args.device)
    cameras = turntable(args.views, width=args.size, height=args.size).to(args.device)
    config = RenderConfig(num_samples=args.samples)
    occupancy = OccupancyGrid.from_field(field, 1)
    rays = args.views * args.size * args.size
    rows = []
    for shading in ("albedo", "lambertian"):
        for grid in (None, occupancy):

            def inference(shading: str = shading, grid: OccupancyGrid | None = grid) -> None:
                with torch.no_grad():
                    render(field, cameras, config, shading=shading, occupancy=grid)

            def training(shading: str = shading, grid: OccupancyGrid | None = grid) -> None:
                render(field, cameras, config, shading=shading, occupancy=grid).rgb.mean().backward()

            skipping = "occupancy grid" if grid is not None else "all samples"
            rows.append([shading, skipping, rays / seconds(inference, 3) / 1e3, rays / seconds(training, 3) / 1e3])
    print_table(
        f"Renderer ({args.views} views of {args.size}x{args.size}, {args.samples} samples per ray)",
        ["shading", "sampling", "inference krays/s", "training (fwd+bwd) krays/s"],
        rows,
    )


if __name__ == "__main__":
    main()
