"""Does per-prompt DreamFusion make the right object in the toy world? Runs it on 16 toy64 prompts
(two per shape, every colour twice) for each seed and judges every result against ground truth:

- shape: the toy world's classifier (`toyworld.classify`), against the prompt's, on the density level
  set whose silhouettes match the rendered views (`nerf.iso_level`);
- colour: the nearest palette colour of the albedo the views show (composited along the rays, over
  the object's pixels). The classifier's own colour, the mean albedo at its iso-surface's vertices,
  is kept as `surface_colour`: in a soft field the albedo where the iso-level happens to cut can
  differ from what any view shows (a pink cone: pink renders, magenta at the iso-surface);
- R-precision: the toy CLIP's top-1 caption among all 64 toy64 prompts, over 4 views;
- mask IoU: rendered opacity > 0.5 against the ground-truth silhouette, same 4 views;
- iterations and wall time.

    python -m train.eval_dreamfusion --out runs/eval-dreamfusion --seeds 0 1

`--set NAME=VALUE ...` changes any DreamFusion setting (e.g. `guidance_scale=20 voxel.blob_radius=0.5`).
`--judge-at 300 1000` judges each run at 300 steps and again after resuming it to 1000 (the same run
as an uninterrupted 1000-step one): whether long runs degrade.

Writes `results.json`, `table.md` and `views.png` (the 4 views of every run, one row each) to `--out`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from guidance import load_guidance
from nerf.background import ConstantBackground
from nerf.cameras import turntable
from nerf.field import RadianceField
from nerf.iso_level import silhouette_iso_level
from nerf.render import RenderConfig, render
from nerf.video import save_image_grid
from toyworld.classify import classify
from toyworld.clip import load_clip
from toyworld.palette import nearest_colour
from toyworld.prompts import Prompt, toy64
from toyworld.render_gt import BACKGROUND, render_ground_truth
from train.dreamfusion import SET_HELP, DreamFusionConfig, dreamfusion, with_overrides
from train.toy_clip import retrieval_top1

VIEW_SIZE = 64  # the toy CLIP's input size


def evaluation_prompts() -> list[Prompt]:
    """16 toy64 prompts: shape i in colours 2i and 2i + 1 (mod 8), so every shape and colour appears twice."""
    prompts = toy64().prompts
    shapes = len({p.parts[0][1] for p in prompts})
    return [prompts[(2 * s + k) % 8 * shapes + s] for s in range(shapes) for k in (0, 1)]


@torch.no_grad()
def judge(field: RadianceField, prompt: Prompt, clip, tokenizer, candidates: list[str]) -> tuple[dict, torch.Tensor]:
    """(scores of one generated field against its prompt's ground truth, its 4 views `[4, H, W, 3]`)."""
    colour, shape = prompt.parts[0]
    cameras = turntable(4, 20.0, 3.0, 45.0, VIEW_SIZE, VIEW_SIZE)
    config = RenderConfig(num_samples=128)
    albedo = render(field, cameras, config, "albedo")  # its opacity is every shading's
    level = float(silhouette_iso_level(field, cameras, config, opacity=albedo.opacity)[0])  # the surface shown
    found = classify(field, "single", threshold=level)[0]
    out = render(field, cameras, config, "lambertian", background=ConstantBackground(BACKGROUND))
    truth = render_ground_truth(prompt.field(), cameras)
    mask = albedo.opacity[0] > 0.5
    iou = ((mask & truth.mask).sum() / (mask | truth.mask).sum().clamp(min=1)).item()
    # the colour the views show: albedo composited along the rays, over the object's pixels
    seen = nearest_colour(albedo.rgb[0][mask].mean(0, keepdim=True))[0] if mask.any() else "none"
    pixels = (out.rgb[0].clamp(0, 1) * 255).round().to(torch.uint8)
    r_precision = retrieval_top1(clip, tokenizer, pixels.permute(0, 3, 1, 2), [prompt.text] * 4, candidates)
    scores = {"shape": found.shapes[0], "colour": seen, "shape_ok": found.shapes[0] == shape,
              "colour_ok": seen == colour, "surface_colour": found.colours[0], "r_precision": r_precision,
              "iou": iou, "iso_level": level}  # fmt: skip
    return scores, out.rgb[0]


def markdown_table(results: list[dict]) -> str:
    lines = ["| seed | prompt | shape | colour | R-precision (4 views) | mask IoU | iterations | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in results:
        shape = r["shape"] if r["shape_ok"] else f"**{r['shape']}** ✗"
        colour = r["colour"] if r["colour_ok"] else f"**{r['colour']}** ✗"
        lines.append(f"| {r['seed']} | {r['prompt']} | {shape} | {colour} | {r['r_precision']:.2f} | {r['iou']:.2f} "
                     f"| {r['iterations']} | {r['seconds']:.0f} |")  # fmt: skip
    for seed, iterations in sorted({(r["seed"], r["iterations"]) for r in results}):
        rows = [r for r in results if r["seed"] == seed and r["iterations"] == iterations]
        lines.append(
            f"| {seed} | **all {len(rows)}** | {sum(r['shape_ok'] for r in rows)}/{len(rows)} "
            f"| {sum(r['colour_ok'] for r in rows)}/{len(rows)} | {np.mean([r['r_precision'] for r in rows]):.3f} "
            f"| {np.mean([r['iou'] for r in rows]):.3f} | {np.mean([r['iterations'] for r in rows]):.0f} "
            f"| {np.mean([r['seconds'] for r in rows]):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Per-prompt DreamFusion on 16 toy64 prompts, judged by ground truth.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--guidance", default="toy", help="the toy diffusion model: 'toy' (bundled) or a folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--judge-at",
        type=int,
        nargs="+",
        default=[DreamFusionConfig().steps],
        help="step counts at which to judge each run (it resumes from one to the next)",
    )
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    parser.add_argument("--offset", type=int, default=0, help="skip the first N prompts (to split the work)")
    parser.add_argument("--limit", type=int, default=None, help="only N prompts (a quick look)")
    args = parser.parse_args(argv)
    try:
        base = with_overrides(DreamFusionConfig(render_every=0, checkpoint_every=min(args.judge_at)), args.set)
    except ValueError as error:
        parser.error(str(error))
    guidance = load_guidance(args.guidance, device="cpu")
    clip, _, tokenizer = load_clip("toy")
    candidates = toy64().texts
    results, views_of_runs = [], []
    for seed in args.seeds:
        end = None if args.limit is None else args.offset + args.limit
        for prompt in evaluation_prompts()[args.offset : end]:
            run = args.out / f"seed{seed}" / prompt.text.replace(" ", "-")
            seconds = 0.0
            for steps in sorted(args.judge_at):
                config = replace(base, seed=seed, steps=steps)
                result = dreamfusion(prompt.text, guidance, run, config, progress=False, export=False, video=False)
                seconds += result.seconds
                scores, views = judge(result.field, prompt, clip, tokenizer, candidates)
                results.append({"seed": seed, "prompt": prompt.text, "iterations": result.steps, "seconds": seconds,
                                **scores})  # fmt: skip
                views_of_runs.append(views)
                print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    arguments = vars(args) | {"out": str(args.out), "guidance_scale": base.guidance_scale_for(guidance)}
    (args.out / "results.json").write_text(json.dumps({"arguments": arguments, "config": asdict(base),
                                                       "results": results}, indent=2, default=str))  # fmt: skip
    (args.out / "table.md").write_text(markdown_table(results))
    save_image_grid(torch.stack(views_of_runs), args.out / "views.png")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
