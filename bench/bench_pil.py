"""Prompt2NeRF-PIL's costs. Image → `.glb` with a trained model: the whole call a user makes (load and
embed the image, greedy decoding of 14 latents, the VAE decoder, surface level, coarse-to-fine marching
cubes, vertex colours, write the file), split into its parts; and text → `.glb` through the nearest
training scene. And the dataset's fitting step: many MLP NeRFs forward and backward at once.

`python -m bench.bench_pil [--model toy] [--resolutions 128 256]`
`python -m bench.bench_pil --supervision-steps 400 --dataset data/pil-nerfs`: the dataset's two ways to
fit a NeRF (3D points of the exact field, or rays of multi-view renders), same objects, same start.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from bench.common import print_table, seconds
from nerf.cameras import turntable
from nerf.mlp_nerf import MLPNeRF, MLPNeRFConfig
from nerf.render import RenderConfig, render
from nerf.saving import config_from
from pil.build import fit_objects, render_psnr
from pil.dataset import CONFIG_FILE, INIT_FILE, DatasetConfig
from pil.generate import PILPipeline
from toyworld.categories import pil_object
from webui.image_to_3d import EXAMPLE_OBJECTS, example_images


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


def supervision_rows(dataset: Path, steps: int, device: str) -> list[list[object]]:
    """Seconds per object and PSNR (pixel-centre and 2×2 anti-aliased) of fitting chair 3 and mug 3
    from the dataset's shared start with each supervision."""
    config = config_from(DatasetConfig, json.loads((dataset / CONFIG_FILE).read_text()))
    start = load_file(dataset / INIT_FILE)["params"]
    fields = [pil_object(category, 3).field() for category in ("chair", "mug")]
    rows = []
    for supervision in ("points", "views"):
        began = time.perf_counter()
        fitted = fit_objects(start, fields, replace(config, supervision=supervision, steps=steps), device, False)
        seconds = (time.perf_counter() - began) / len(fields)
        sharp, smooth = render_psnr(fitted, fields, config), render_psnr(fitted, fields, config, supersample=2)
        rows.append([supervision, steps, seconds, " / ".join(f"{v:.1f}" for v in sharp.tolist()),
                     " / ".join(f"{v:.1f}" for v in smooth.tolist())])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--supervision-steps", type=int, default=None, help="only compare the fitting supervisions")
    parser.add_argument("--dataset", type=Path, default=Path("data/pil-nerfs"), help="for its settings and start")
    args = parser.parse_args()
    if args.supervision_steps is not None:
        print_table("Fitting one NeRF: 3D points vs multi-view renders (chair 3 / mug 3)",
                    ["supervision", "steps", "s per object", "PSNR dB", "anti-aliased PSNR dB"],
                    supervision_rows(args.dataset, args.supervision_steps, args.device))  # fmt: skip
        return
    pipe = PILPipeline.from_pretrained(args.model, args.device)
    rows, text_rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.glb"
        for (category, seed), image in zip(EXAMPLE_OBJECTS, example_images(), strict=True):  # the app's examples
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
