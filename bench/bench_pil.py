"""Prompt2NeRF-PIL's costs. Image → `.glb` with a trained model: the whole call a user makes (load and
embed the image, greedy decoding of 14 latents, the VAE decoder, surface level, coarse-to-fine marching
cubes, vertex colours, write the file), split into its parts; and text → `.glb` through the nearest
training scene. And the dataset's fitting step: many MLP NeRFs forward and backward at once.

`python -m bench.bench_pil [--model toy] [--resolutions 128 256]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from PIL import Image

from bench.common import print_table, seconds
from nerf.cameras import turntable
from nerf.render import RenderConfig, render
from pil.generate import PILPipeline
from pil.mlp_nerf import MLPNeRF, MLPNeRFConfig
from toyworld.categories import pil_object
from toyworld.render_gt import render_ground_truth

OBJECTS = (("chair", 9), ("airplane", 19), ("lamp", 29))  # test-split objects (seeds ending in 9)


def prompt_image(category: str, seed: int, folder: Path) -> Path:
    """A lit 64×64 view of a test object, saved as the PNG a user would upload."""
    rgb = render_ground_truth(pil_object(category, seed).field(), turntable(1, 25.0, 3.0, 45.0, 64, 64)).rgb[0]
    path = folder / f"{category}-{seed}.png"
    Image.fromarray((rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(path)
    return path


def fitting_rows(device: str) -> list[list[object]]:
    """Seconds per fitting step (2048 points per object, forward and backward) for batches of objects."""
    rows = []
    points = 2048
    for batch in (1, 16, 64):
        field = MLPNeRF(MLPNeRFConfig(), num_objects=batch).to(device)
        x = torch.rand(batch, points, 3, device=device) * 2 - 1

        def step(field=field, x=x) -> None:
            out = field(x)
            (out.density.mean() + out.albedo.mean()).backward()

        time = seconds(step, repeat=3)
        rows.append([batch, time, time / batch])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    pipe = PILPipeline.from_pretrained(args.model, args.device)
    rows, text_rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.glb"
        for category, seed in OBJECTS:
            image = prompt_image(category, seed, Path(folder))
            forward = seconds(lambda image=image: pipe(image=image), repeat=5)
            generation = pipe(image=image)
            for resolution in args.resolutions:
                export = seconds(lambda r=resolution, g=generation: pipe.export(g, out, r), repeat=3)
                total = seconds(lambda r=resolution, i=image: pipe.export(pipe(image=i), out, r), repeat=3)
                rows.append([f"{category} {seed}", f"{resolution}³", forward, export, total])
            caption = pil_object(category, seed).caption
            text_rows.append([caption, seconds(lambda c=caption: pipe.export(pipe(text=c), out, 128), repeat=3)])
        frame = seconds(lambda: render(generation.field, turntable(1, 20.0, 3.0, 45.0, 256, 256).to(args.device),
                                       RenderConfig(num_samples=128), "lambertian"), repeat=3)  # fmt: skip
    print_table("Image → .glb (PIL)", ["object", "grid", "image → NeRF s", "export s", "image → .glb s"], rows)
    print_table("Text → .glb at 128³ (PIL, nearest training scene)", ["prompt", "text → .glb s"], text_rows)
    print_table("One 256² lambertian frame of a generated NeRF (128 samples per ray)", ["s"], [[frame]])
    print_table("Dataset fitting: MLP NeRFs forward and backward, 2048 points each", ["objects", "s per step",
                "s per object-step"], fitting_rows(args.device))  # fmt: skip


if __name__ == "__main__":
    main()
