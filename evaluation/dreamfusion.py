"""Does per-prompt DreamFusion make the right object in the toy world? Runs it on 16 toy64 prompts
(two per shape, every colour twice), or 8 stacks prompts with `--prompts stacks`, for each seed and
judges every result against ground truth:

`evaluation.att3d.Judge`: shape and colour by the toy world's classifier (a single object's colour is
the albedo its views show; the classifier's own, the mean albedo at its iso-surface, is kept as
`surface_colour`: a pink cone renders pink and can be magenta where the iso-level happens to cut),
CLIP R-precision and R-probability among all 64 toy64 prompts over 4 views, mask IoU, the exported
mesh's volume IoU, Chamfer distance and convexity against the true shape; and iterations and wall time.

    python -m evaluation.dreamfusion --out runs/eval-dreamfusion --seeds 0 1

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

from dreamfusion import SET_HELP, DreamFusionConfig, dreamfusion
from evaluation.att3d import Judge, summarise
from guidance import load_guidance
from nerf.settings import with_overrides
from nerf.video import save_image_grid
from toyworld.prompts import Prompt, PromptSet, prompt_set, stacks, toy64

VIEW_SIZE = 64  # the toy CLIP's input size


def stack_evaluation_prompts(count: int = 8, prompts: PromptSet | None = None) -> list[Prompt]:
    """`count` fixed stacks prompts from the 12.5 % seen split (which the 50 % one contains) of `stacks` (or
    of `prompts`, e.g. `stacks_small`): per-prompt baselines for the amortized models trained on either."""
    prompts = prompts or stacks()
    order = np.random.default_rng(0).permutation(prompts.splits["seen_12.5"])[:count]
    return [prompts.prompts[i] for i in sorted(order.tolist())]


def evaluation_prompts() -> list[Prompt]:
    """16 toy64 prompts: shape i in colours 2i and 2i + 1 (mod 8), so every shape and colour appears twice."""
    prompts = toy64().prompts
    shapes = len({p.parts[0][1] for p in prompts})
    return [prompts[(2 * s + k) % 8 * shapes + s] for s in range(shapes) for k in (0, 1)]


def markdown_table(results: list[dict]) -> str:
    lines = ["| seed | prompt | shape | colour | R-precision | R-probability | mask IoU | mesh IoU | Chamfer "
             "| convexity (true) | iterations | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    nan = float("nan")
    for r in results:
        shape = r["shape"] if r["shape_ok"] else f"**{r['shape']}** ✗"
        colour = r["colour"] if r["colour_ok"] else f"**{r['colour']}** ✗"
        lines.append(f"| {r['seed']} | {r['prompt']} | {shape} | {colour} | {r['r_precision']:.2f} "
                     f"| {r.get('r_probability', nan):.2f} | {r['iou']:.2f} | {r.get('mesh_iou', nan):.2f} "
                     f"| {r.get('chamfer', nan):.3f} | {r.get('convexity', nan):.2f} "
                     f"({r.get('true_convexity', nan):.2f}) "
                     f"| {r['iterations']} | {r['seconds']:.0f} |")  # fmt: skip
    for seed, iterations in sorted({(r["seed"], r["iterations"]) for r in results}):
        rows = [r for r in results if r["seed"] == seed and r["iterations"] == iterations]

        means = summarise(rows)
        lines.append(
            f"| {seed} | **all {len(rows)}** | {sum(r['shape_ok'] for r in rows)}/{len(rows)} "
            f"| {sum(r['colour_ok'] for r in rows)}/{len(rows)} | {means['r_precision']:.3f} "
            f"| {means['r_probability']:.3f} | {means['iou']:.3f} "
            f"| {means['mesh_iou']:.3f} (min {means['min_mesh_iou']:.2f}) "
            f"| {means['chamfer']:.3f} | gap {means['convexity_gap']:.3f} "
            f"| {np.mean([r['iterations'] for r in rows]):.0f} | {np.mean([r['seconds'] for r in rows]):.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Per-prompt DreamFusion on 16 toy64 prompts, judged by ground truth.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--guidance", default="toy", help="the toy diffusion model: 'toy' (bundled) or a folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--prompts", choices=("toy64", "stacks", "stacks_small"), default="toy64",
                        help="toy64: 16 prompts, two per shape and colour; stacks, stacks_small: 8 from the seen "
                             "splits")  # fmt: skip
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
    parser.add_argument("--stride", type=int, default=1, help="every Nth prompt (2: one per shape for toy64)")
    args = parser.parse_args(argv)
    if args.stride < 1 or args.offset < 0 or (args.limit is not None and args.limit < 1):
        parser.error("--stride and --limit must be >= 1, --offset >= 0")
    try:
        base = with_overrides(DreamFusionConfig(render_every=0, checkpoint_every=min(args.judge_at)), args.set)
    except ValueError as error:
        parser.error(str(error))
    guidance = load_guidance(args.guidance, device="cpu")
    chosen_set = prompt_set(args.prompts)
    judge = Judge(chosen_set)
    prompts = evaluation_prompts() if args.prompts == "toy64" else stack_evaluation_prompts(prompts=chosen_set)
    results, views_of_runs = [], []
    for seed in args.seeds:
        for prompt in prompts[args.offset :: args.stride][: args.limit]:
            run = args.out / f"seed{seed}" / prompt.text.replace(" ", "-")
            seconds = 0.0
            for steps in sorted(args.judge_at):
                config = replace(base, seed=seed, steps=steps)
                result = dreamfusion(prompt.text, guidance, run, config, progress=False, export=False, video=False)
                seconds += result.seconds
                scores, views = judge(result.field, prompt)
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
