"""Does PIL's output make per-prompt DreamFusion converge faster? The paper's warm-start experiment in
the toy world, on prompts outside PIL's dataset (its left-out categories, sofa and stool, and its
left-out colours, pink and cyan) that the toy diffusion model knows.

For each prompt, DreamFusion on PIL's MLP NeRF runs until the convergence criterion (mean squared
change of 4 fixed renders between 100-step epochs below ε for 3 epochs in a row) or `--max-steps`,
starting from:
- `scratch` (S): default random weights and DreamFusion's density blob;
- `scene` (P): the dataset's fitted NeRF of the training scene nearest to the prompt in CLIP space;
- `pil`: PIL's output for the prompt (text through the nearest scene);
- `att3d` (optional): ATT3D's output (a voxel grid: another backbone, so its iterations compare loosely).
Each result is judged like PIL's own outputs (`train.evaluate_pil.PILJudge`) against the object whose
caption is the prompt: toy-CLIP similarity, mask IoU and PSNR. (A caption fixes an object's category,
colour and features but not its exact proportions, so IoU and PSNR against that one object understate
any other valid answer alike for every start.)

    python -m train.eval_warm_start --dataset data/pil-nerfs --out runs/warm-start --converge-eps 2e-4
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from guidance import load_guidance
from pil.generate import PILPipeline
from toyworld.categories import CategoryObject, sample_object
from train.dreamfusion import SET_HELP, DreamFusionConfig, dreamfusion, with_overrides
from train.evaluate_pil import PILJudge
from train.warm_start import TrainableField, nearest_scene_field

INITS = ("scratch", "scene", "pil", "att3d")
# (category, seed, colour): objects with a category or a colour that PIL's dataset leaves out, the two
# kinds alternating (so that `--limit N` takes both)
OUT_OF_DISTRIBUTION = (("sofa", 1001, "red"), ("chair", 1005, "pink"), ("stool", 1002, "blue"),
                       ("table", 1006, "cyan"), ("sofa", 1003, "green"), ("mug", 1007, "pink"),
                       ("stool", 1004, "yellow"), ("car", 1008, "cyan"))  # fmt: skip


def warm_start_prompts() -> list[CategoryObject]:
    return [sample_object(category, seed, colour) for category, seed, colour in OUT_OF_DISTRIBUTION]


def start_field(init: str, prompt: str, pipe: PILPipeline, dataset: Path) -> TrainableField | str | None:
    """What `dreamfusion(init_from=...)` takes for each start."""
    if init == "scene":
        return nearest_scene_field(prompt, dataset, pipe)
    if init == "pil":
        return pipe(text=prompt).field.owned()
    return {"scratch": None, "att3d": "att3d"}[init]


def markdown_table(results: list[dict], inits: list[str]) -> str:
    lines = ["| prompt | " + " | ".join(f"{i}: iterations / CLIP sim / IoU" for i in inits) + " |",
             "| --- |" + " --- |" * len(inits)]  # fmt: skip
    for prompt in dict.fromkeys(r["prompt"] for r in results):
        cells = []
        for init in inits:
            r = next(r for r in results if r["prompt"] == prompt and r["init"] == init)
            mark = "" if r["converged_at"] else " (not converged)"
            cells.append(f"{r['iterations']}{mark} / {r['clip_similarity']:.3f} / {r['iou']:.2f}")
        lines.append(f"| {prompt} | " + " | ".join(cells) + " |")
    means = []
    for init in inits:
        rows = [r for r in results if r["init"] == init]
        iterations, similarity, iou = (np.mean([r[k] for r in rows]) for k in ("iterations", "clip_similarity", "iou"))
        means.append(f"**{iterations:.0f}** / {similarity:.3f} / {iou:.2f}")
    lines.append("| **mean** | " + " | ".join(means) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Iterations to converge from scratch, the nearest scene and PIL.")
    parser.add_argument("--dataset", type=Path, required=True, help="PIL's weight dataset (for the nearest scene)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--inits", nargs="+", choices=INITS, default=["scratch", "scene", "pil"])
    parser.add_argument("--guidance", default="toy")
    parser.add_argument("--pil-model", default="toy", help="the PIL model (trained on --dataset)")
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--converge-eps", type=float, default=2e-4)
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    try:
        base = DreamFusionConfig(backbone="mlp", steps=args.max_steps, converge_eps=args.converge_eps,
                                 render_every=0, checkpoint_every=100)  # fmt: skip
        base = with_overrides(base, args.set)
    except ValueError as error:
        parser.error(str(error))
    guidance = load_guidance(args.guidance, device="cpu")
    pipe = PILPipeline.from_pretrained(args.pil_model)
    judge = PILJudge(pipe)
    results = []
    for obj in warm_start_prompts()[: args.limit]:
        truth = judge.truth(obj)
        for init in args.inits:
            run = args.out / init / obj.caption.replace(" ", "-")
            start = start_field(init, obj.caption, pipe, args.dataset)
            result = dreamfusion(obj.caption, guidance, run, base, init_from=start, progress=False, export=False,
                                 video=False)  # fmt: skip
            scores, _, _ = judge(result.field, truth, obj.caption)
            results.append({"prompt": obj.caption, "init": init, "iterations": result.steps,
                            "converged_at": result.converged_at, **scores})  # fmt: skip
            print(json.dumps(results[-1]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"arguments": vars(args), "config": asdict(base),
                                                       "results": results}, indent=2, default=str))  # fmt: skip
    (args.out / "table.md").write_text(markdown_table(results, args.inits))
    print(markdown_table(results, args.inits))


if __name__ == "__main__":
    main()
