"""Interpolation renders of ATT3D models: objects along `(1-α)c1 + αc2` for prompt pairs, side by side
for several models (e.g. trained with and without interpolants), and how smooth each chain is.

    python -m evaluation.interpolations --models runs/att3d/toy64/model runs/att3d/toy64-interp/model \\
        --pairs "a red cube|a blue sphere" "a green cone|a yellow torus" --out docs/att3d_interpolation.png

Smoothness of a chain: the mean squared change of its renders between neighbouring α, as the largest
step's share of the whole path (1/steps for a perfectly even morph, 1 for a single jump), and the
opacity of the middle object (an interpolant that renders empty has fallen between the prompts).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from att3d.generate import ATT3DPipeline
from nerf.cameras import turntable
from nerf.render import RenderConfig, render
from nerf.video import save_image_grid

ALPHAS = np.linspace(0.0, 1.0, 9)


@torch.no_grad()
def chain(pipe: ATT3DPipeline, first: str, second: str, size: int = 64) -> tuple[torch.Tensor, dict]:
    """Renders `[A, H, W, 3]` (one view, α = 0 … 1) of the chain and its smoothness scores."""
    generation = pipe.interpolate(first, second, ALPHAS)
    cameras = turntable(1, width=size, height=size).to(pipe.model.device)  # the same view of every object
    out = render(generation.field, cameras, RenderConfig(num_samples=128), "lambertian",
                 background=pipe.model.background)  # fmt: skip
    images = out.rgb[:, 0].cpu()
    steps = (images[1:] - images[:-1]).square().mean(dim=(1, 2, 3))
    total = steps.sum().item()
    share = steps.max().item() / total if total > 1e-8 else 1 / len(steps)  # a chain that does not change is even
    scores = {"largest_step_share": share, "even_share": 1 / len(steps),
              "middle_opacity": out.opacity[len(ALPHAS) // 2].mean().item()}  # fmt: skip
    return images, scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Interpolation chains of ATT3D models, rendered and scored.")
    parser.add_argument("--models", nargs="+", required=True, help="model folders or Hub repo ids")
    parser.add_argument("--pairs", nargs="+", required=True, help='prompt pairs "first|second"')
    parser.add_argument("--out", type=Path, required=True, help="the PNG (rows: pair × model, columns: α)")
    args = parser.parse_args(argv)
    pairs = [tuple(p.split("|")) for p in args.pairs]
    if any(len(p) != 2 or not all(s.strip() for s in p) for p in pairs):
        parser.error('--pairs must each be "first prompt|second prompt"')
    rows, scores = [], []
    pipes = [ATT3DPipeline.from_pretrained(m) for m in args.models]
    for first, second in pairs:
        for model, pipe in zip(args.models, pipes, strict=True):
            images, score = chain(pipe, first, second)
            rows.append(images)
            scores.append({"model": str(model), "first": first, "second": second, **score})
            print(json.dumps(scores[-1]), flush=True)
    save_image_grid(torch.stack(rows), args.out)
    args.out.with_suffix(".json").write_text(json.dumps({"alphas": ALPHAS.tolist(), "chains": scores}, indent=1))


if __name__ == "__main__":
    main()
