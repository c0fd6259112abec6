"""Does PIL's output make per-prompt DreamFusion converge faster? The paper's warm-start experiment in
the toy world, on prompts outside PIL's dataset (its left-out categories, sofa and stool, and its
left-out colours, pink and cyan) that the toy diffusion model knows.

For each prompt, DreamFusion on PIL's MLP NeRF runs for `--max-steps` (or until the convergence
criterion, mean squared change of 4 fixed renders between 100-step epochs below `--converge-eps` for
3 epochs in a row), keeping its field every epoch, starting from:
- `scratch` (S): default random weights and DreamFusion's density blob;
- `scene` (P): the dataset's fitted NeRF of the training scene nearest to the prompt in CLIP space;
- `pil`: PIL's output for the prompt (text through the nearest scene);
- `att3d` (optional): ATT3D's output (a voxel grid: another backbone, so its iterations compare loosely).
Every kept field is judged like PIL's own outputs (`evaluation.pil.PILJudge`) against the object
whose caption is the prompt: toy-CLIP similarity, mask IoU and PSNR. (A caption fixes an object's
category, colour and features but not its exact proportions, so IoU and PSNR against that one object
understate any other valid answer alike for every start.)

Two measures of speed come out: the iterations each start needs to reach 95 % of the toy-CLIP
similarity that (S) ends with (where (S) did not collapse to an empty scene), and the criterion's
step for each ε of `--report-eps`, read from the recorded render changes (a step's randomness
depends on (seed, step) alone, so a run that stops there is this run cut short, and a run with a
longer budget is read up to `--max-steps`). Runs, kept fields and scores resume; `table.md`,
`results.json` and `curves.png` come last.

    python -m evaluation.warm_start --dataset data/pil-nerfs --out runs/warm-start --max-steps 400
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from dreamfusion import SET_HELP, DreamFusionConfig, dreamfusion
from dreamfusion.warm_start import TrainableField, load_trained_field, nearest_scene_field
from evaluation.pil import PILJudge
from evaluation.plots import save_figure, subplots
from guidance import load_guidance
from nerf.files import atomic_path
from nerf.settings import with_overrides
from pil.generate import PILPipeline
from toyworld.categories import CategoryObject, sample_object

INITS = ("scratch", "scene", "pil", "att3d")
# the quality target: this fraction of (S)'s final toy-CLIP similarity (epoch-to-epoch noise is ~0.03)
TARGET_FRACTION = 0.95
COLLAPSED_IOU = 0.05  # a run whose final silhouettes share less than this with the object's lost it
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


def calm_step(render_changes: list[tuple[int, float]], eps: float, patience: int) -> int | None:
    """The step at which the convergence criterion at `eps` would have stopped the run, if it did."""
    calm = 0
    for step, change in render_changes:
        calm = calm + 1 if change < eps else 0
        if calm >= patience:
            return step
    return None


def judge_kept_fields(run: Path, judge: PILJudge, truth: dict, caption: str, last: int) -> dict[int, dict]:
    """Scores of the fields the run kept (`fields/step_N`) up to step `last`, by step; cached in `scores.json`."""
    cache = run / "scores.json"
    scores = {int(k): v for k, v in json.loads(cache.read_text()).items()} if cache.exists() else {}
    for folder in sorted((run / "fields").glob("step_*")):
        step = int(folder.name.removeprefix("step_"))
        if step <= last and step not in scores:
            scores[step] = judge(load_trained_field(folder), truth, caption)[0]
            with atomic_path(cache) as partial:
                partial.write_text(json.dumps(scores, indent=1))
    return {step: scores[step] for step in sorted(scores) if step <= last}


def steps_to_reach(curve: dict[int, dict], target: float) -> int | None:
    """The first kept step whose toy-CLIP similarity reaches `target`."""
    return next((step for step, scores in curve.items() if scores["clip_similarity"] >= target), None)


def summarise(results: list[dict], report_eps: list[float], patience: int, fraction: float = TARGET_FRACTION) -> None:
    """Adds to each result whether it collapsed, the iterations to reach `fraction` of (S)'s final
    similarity (no target where (S) collapsed: an empty scene's similarity is no quality to reach) and
    the criterion's steps."""
    for r in results:
        r["collapsed"] = r["curve"][max(r["curve"])]["iou"] < COLLAPSED_IOU
    for r in results:
        scratch = next((s for s in results if s["prompt"] == r["prompt"] and s["init"] == "scratch"), None)
        valid = scratch is not None and not scratch["collapsed"]
        final = scratch["curve"][max(scratch["curve"])]["clip_similarity"] if valid else None
        r["target_clip"] = fraction * final if valid else None
        r["steps_to_target"] = steps_to_reach(r["curve"], r["target_clip"]) if valid else None
        r["calm_step"] = {str(eps): calm_step(r["render_changes"], eps, patience) for eps in report_eps}


def mean(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    missing = len(values) - len(known)
    return (f"{np.mean(known):.3g}" if known else "-") + (f" ({missing} never)" if missing else "")


def markdown_table(results: list[dict], inits: list[str], report_eps: list[float]) -> str:
    """Per prompt: each start's first and final scores and its iterations to the target; then means."""
    lines = ["| prompt | " + " | ".join(f"{i}: CLIP at start → end / IoU / mesh IoU / PSNR / iterations to target"
                                       for i in inits) + " |",
             "| --- |" + " --- |" * len(inits)]  # fmt: skip
    for prompt in dict.fromkeys(r["prompt"] for r in results):
        cells = []
        for init in inits:
            r = next(r for r in results if r["prompt"] == prompt and r["init"] == init)
            first, last = r["curve"][min(r["curve"])], r["curve"][max(r["curve"])]
            reached = r["steps_to_target"]
            reached = "n/a" if r["target_clip"] is None else "never" if reached is None else reached
            cells.append(f"{first['clip_similarity']:.3f} → {last['clip_similarity']:.3f} / {last['iou']:.2f} / "
                         f"{last.get('mesh_iou', float('nan')):.2f} / {last['psnr']:.1f} / {reached}")  # fmt: skip
        lines.append(f"| {prompt} | " + " | ".join(cells) + " |")
    lines += ["", "| start | collapsed | CLIP at start | final CLIP | final IoU | final mesh IoU | final PSNR | "
              f"iterations to {TARGET_FRACTION:.0%} of S's final CLIP (prompts where S did not collapse) | "
              + " | ".join(f"criterion's step at ε = {eps:g}" for eps in report_eps) + " |",
              "| --- |" + " --- |" * (7 + len(report_eps))]  # fmt: skip
    for init in inits:
        rows = [r for r in results if r["init"] == init]
        final = [r["curve"][max(r["curve"])] for r in rows]
        cells = [f"{sum(r['collapsed'] for r in rows)}/{len(rows)}",
                 mean([r["curve"][min(r["curve"])]["clip_similarity"] for r in rows]),
                 *(mean([f.get(k, float("nan")) for f in final])
                   for k in ("clip_similarity", "iou", "mesh_iou", "psnr")),
                 mean([r["steps_to_target"] for r in rows if r["target_clip"] is not None]),
                 *(mean([r["calm_step"][str(eps)] for r in rows]) for eps in report_eps)]  # fmt: skip
        lines.append(f"| {init} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_curves(results: list[dict], inits: list[str], path: Path) -> None:
    """Mean toy-CLIP similarity, mask IoU and render change against iterations, one line per start."""
    figure, axes = subplots(1, 3, figsize=(13.5, 3.8))
    for init in inits:
        rows = [r for r in results if r["init"] == init]
        steps = sorted(set.intersection(*(set(r["curve"]) for r in rows)))
        for axis, key in zip(axes[:2], ("clip_similarity", "iou"), strict=True):
            axis.plot(steps, [np.mean([r["curve"][s][key] for r in rows]) for s in steps], marker="o", label=init)
        changes = sorted(set.intersection(*({s for s, _ in r["render_changes"]} for r in rows)))
        by_step = [dict(r["render_changes"]) for r in rows]
        axes[2].plot(changes, [np.mean([b[s] for b in by_step]) for s in changes], marker="o", label=init)
    for axis, title in zip(axes, ("toy-CLIP similarity to the prompt", "mask IoU", "render change per epoch"),
                           strict=True):  # fmt: skip
        axis.set_title(f"{title} (mean of {len(results) // len(inits)} prompts)")
        axis.set_xlabel("iterations")
        axis.legend()
    axes[2].set_yscale("log")
    save_figure(figure, path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Iterations to converge from scratch, the nearest scene and PIL.")
    parser.add_argument("--dataset", type=Path, required=True, help="PIL's weight dataset (for the nearest scene)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--inits", nargs="+", choices=INITS, default=["scratch", "scene", "pil"])
    parser.add_argument("--guidance", default="toy")
    parser.add_argument("--pil-model", default="toy", help="the PIL model (trained on --dataset)")
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--converge-eps", type=float, default=0.0, help="stop at this ε (0: run every start on)")
    parser.add_argument("--report-eps", type=float, nargs="+", default=[2e-3, 5e-3], help="criterion steps to report")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first N prompts (to share runs out)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    try:
        base = DreamFusionConfig(backbone="mlp", steps=args.max_steps, converge_eps=args.converge_eps,
                                 render_every=0, checkpoint_every=100, field_every=100)  # fmt: skip
        base = with_overrides(base, args.set)
    except ValueError as error:
        parser.error(str(error))
    guidance = load_guidance(args.guidance, device="cpu")
    pipe = PILPipeline.from_pretrained(args.pil_model)
    judge = PILJudge(pipe, samples=64)
    results = []
    for obj in warm_start_prompts()[args.skip : args.limit]:
        truth = judge.truth(obj)
        for init in args.inits:
            run = args.out / init / obj.caption.replace(" ", "-")
            start = start_field(init, obj.caption, pipe, args.dataset)
            result = dreamfusion(obj.caption, guidance, run, base, init_from=start, progress=False, export=False,
                                 video=False)  # fmt: skip
            # a run that went further (an earlier, longer budget) is read up to --max-steps: its first
            # steps are those of a run with this budget
            stopped = result.converged_at if result.converged_at and result.converged_at <= args.max_steps else None
            results.append({"prompt": obj.caption, "init": init, "iterations": min(result.steps, args.max_steps),
                            "converged_at": stopped,
                            "render_changes": [(s, c) for s, c in result.render_changes if s <= args.max_steps],
                            "curve": judge_kept_fields(run, judge, truth, obj.caption, args.max_steps)})  # fmt: skip
            print(json.dumps({k: v for k, v in results[-1].items() if k != "render_changes"}), flush=True)
    summarise(results, args.report_eps, base.converge_patience)
    args.out.mkdir(parents=True, exist_ok=True)
    record = {"arguments": vars(args), "config": asdict(base), "results": results}
    (args.out / "results.json").write_text(json.dumps(record, indent=2, default=str))
    table = markdown_table(results, args.inits, args.report_eps)
    (args.out / "table.md").write_text(table)
    plot_curves(results, args.inits, args.out / "curves.png")
    print(table)


if __name__ == "__main__":
    main()
