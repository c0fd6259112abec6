"""Field → `.glb`: coarse-to-fine vs dense density evaluation, at 128³ and 256³, for a trained
toy-size hash-grid field. Times the whole export: density grid, marching cubes, floater removal,
vertex colours and writing the file.

`python -m bench.bench_export [--resolutions 128 256]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from bench.common import print_table, seconds, trained_field
from nerf.export import ExportConfig, export_mesh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    field = trained_field(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.glb"
        for resolution in args.resolutions:
            timings = {}
            for mode, coarse in (("coarse-to-fine", 32), ("dense", resolution)):
                config = ExportConfig(resolution=resolution, coarse_resolution=coarse)
                repeat = 3 if mode == "coarse-to-fine" or resolution <= 128 else 1
                timings[mode] = seconds(lambda config=config: export_mesh(field, path, config), repeat)
            faces = len(export_mesh(field, path, ExportConfig(resolution=resolution)).faces)
            rows.append([f"{resolution}³", faces, timings["coarse-to-fine"], timings["dense"],
                         timings["dense"] / timings["coarse-to-fine"]])  # fmt: skip
    print_table("Field → .glb", ["grid", "faces", "coarse-to-fine s", "dense s", "speed-up"], rows)


if __name__ == "__main__":
    main()
