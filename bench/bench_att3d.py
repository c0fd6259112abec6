"""Text → `.glb` with an ATT3D model: the whole call a user makes (encode the prompt, one forward pass,
surface level, coarse-to-fine marching cubes, vertex colours, write the file), split into its parts.
The prompts' text embeddings are cached after the first call, as in the app.

`python -m bench.bench_att3d [--model toy] [--resolutions 128 256]`
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from att3d.generate import ATT3DPipeline, export_generation
from bench.common import print_table, seconds

PROMPTS = ("a red cube", "a green torus", "a blue cone")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    pipe = ATT3DPipeline.from_pretrained(args.model, args.device)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.glb"
        for prompt in PROMPTS:
            forward = seconds(lambda prompt=prompt: pipe(prompt), repeat=5)
            generation = pipe(prompt)
            for resolution in args.resolutions:
                export = seconds(lambda r=resolution, g=generation: export_generation(g, path, r), repeat=3)
                total = seconds(lambda r=resolution, p=prompt: pipe.export(p, path, r), repeat=3)
                rows.append([prompt, f"{resolution}³", forward, export, total])
    print_table("Text → .glb (ATT3D)", ["prompt", "grid", "forward s", "export s", "text → .glb s"], rows)


if __name__ == "__main__":
    main()
