"""ATT3D's two costs. Text → `.glb` with a trained model: the whole call a user makes (encode the
prompt, one forward pass, surface level, coarse-to-fine marching cubes, vertex colours, write the
file), split into its parts; the prompts' text embeddings are cached after the first call, as in the
app. And training: rendering a batch of 8 prompts' objects (1 view, 32², 64 samples) forward and
backward with each backbone the mapping network can write.

`python -m bench.bench_att3d [--model toy] [--resolutions 128 256] [--prompts "a red cube" ...]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from att3d.generate import ATT3DPipeline, export_generation
from bench.common import print_table, seconds
from nerf.cameras import sample_cameras
from nerf.encoding import HashGridConfig
from nerf.field import HashGridField, HashGridFieldConfig, VoxelGridField, VoxelGridFieldConfig
from nerf.render import RenderConfig, render

PROMPTS = ("a red cube", "a green torus", "a blue cone")


BACKBONES = {
    "voxel grid 32³": VoxelGridField(VoxelGridFieldConfig(resolution=32), num_objects=None),
    "hash grid, 4 levels 8-64, T = 2^12, MLP 32": HashGridField(HashGridFieldConfig(
        grid=HashGridConfig(num_levels=4, base_resolution=8, finest_resolution=64), hidden_dim=32), num_objects=None),
    "hash grid, default (8 levels 16-256, T = 2^12, MLP 64)": HashGridField(HashGridFieldConfig(), num_objects=None),
}  # fmt: skip


def training_rows(device: str) -> list[list[object]]:
    """Seconds to render 8 objects (grids as a mapping network would write them) forward and backward."""
    torch.manual_seed(0)
    cameras = sample_cameras(8, 32, 32, generator=torch.Generator().manual_seed(0)).reshape(8, 1).to(device)
    config = RenderConfig(num_samples=64, stratified=True, detach_normals=True)
    rows = []
    for name, field in BACKBONES.items():
        field = field.to(device)
        params = (0.1 * torch.randn(8, field.config.n_params, device=device)).requires_grad_()

        def step(shading: str, field=field, params=params) -> None:
            render(field.bind(params), cameras, config, shading).rgb.mean().backward()

        rows.append([name, seconds(lambda: step("albedo"), repeat=3), seconds(lambda: step("lambertian"), repeat=3)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--prompts", nargs="+", default=list(PROMPTS), help="prompts to time (default: three toy64)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    pipe = ATT3DPipeline.from_pretrained(args.model, args.device)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.glb"
        for prompt in args.prompts:
            forward = seconds(lambda prompt=prompt: pipe(prompt), repeat=5)
            generation = pipe(prompt)
            for resolution in args.resolutions:
                export = seconds(lambda r=resolution, g=generation: export_generation(g, path, r), repeat=3)
                total = seconds(lambda r=resolution, p=prompt: pipe.export(p, path, r), repeat=3)
                rows.append([prompt, f"{resolution}³", forward, export, total])
    print_table("Text → .glb (ATT3D)", ["prompt", "grid", "forward s", "export s", "text → .glb s"], rows)
    print_table("A training batch: 8 objects rendered forward and backward", ["backbone", "albedo s", "lambertian s"],
                training_rows(args.device))  # fmt: skip


if __name__ == "__main__":
    main()
