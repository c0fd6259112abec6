"""What amortization costs as the prompt set grows (ATT3D, issue 31 part 3): does the cost per prompt keep
falling? ATT3D runs on stacks' nested training sets (`scale_64`, `scale_512`, `scale_2048`, `scale_3840`:
`toyworld.prompts.STACK_SCALES`), every snapshot judged on one fixed sample of the 256 stacks that none of
them trains on (`scale_held_out`); per run, the steps, frames per training prompt and wall time until the
held-out quality first reaches a fixed target, and that time divided by the run's prompts.

    for n in 64 512 2048 3840; do
        python -m train.att3d --prompts stacks --split scale_$n --out ~/runs/cost-$n --steps 2000 --batch 8 \\
            --interpolants dirichlet --concentration 0.5 --snapshots 125 250 500 750 1000 1500 2000 \\
            --set shape.weight=5 shape.occupancy_weight=1 shape.albedo_weight=100
    done
    python -m evaluation.att3d_cost --runs ~/runs/cost-* --out docs/att3d-cost --limit 48

Every run takes the same steps of the same batch, so a step costs the same whatever the prompt count: the
steps to the target are the cost, the wall time (from each run's log, sittings summed) says the same in
seconds where the runs shared a machine. Writes `results.json`, `table.md` and `cost.png` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from att3d.training import training_seconds
from evaluation.att3d import METRICS, PLOTTED, Judge, evaluate_run, load_run
from evaluation.plots import label_axis, save_figure, subplots
from toyworld.prompts import STACK_SCALES, prompt_set

HELD_OUT = "scale_held_out"
SCALES = [f"scale_{count}" for count in STACK_SCALES]  # the training sets, each disjoint from HELD_OUT


def time_to_target(judged: dict, run: Path, metric: str, target: float) -> dict:
    """The first snapshot whose held-out `metric` reaches `target`: its step, frames per training prompt,
    the run's wall seconds until then and those per training prompt (NaN each when no snapshot reaches it)."""
    reached = [p for p in judged["points"] if p["unseen"][metric] >= target]
    point = reached[0] if reached else None
    seconds = training_seconds(run, point["step"]) if point else float("nan")
    return {"prompts": judged["trained_prompts"], "step": point["step"] if point else float("nan"),
            "frames_per_prompt": point["frames_per_prompt"] if point else float("nan"), "seconds": seconds,
            "seconds_per_prompt": seconds / judged["trained_prompts"],
            "best": max(p["unseen"][metric] for p in judged["points"])}  # fmt: skip


def cost_table(costs: list[dict], metric: str, target: float) -> str:
    lines = [f"| training prompts | steps to held-out {metric} ≥ {target} | frames / prompt | wall time (min) "
             f"| seconds per prompt | best held-out {metric} |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for cost in sorted(costs, key=lambda c: c["prompts"]):
        if math.isnan(cost["step"]):
            lines.append(f"| {cost['prompts']} | not reached | — | — | — | {cost['best']:.2f} |")
            continue
        minutes, per_prompt = cost["seconds"] / 60, cost["seconds_per_prompt"]
        lines.append(f"| {cost['prompts']} | {cost['step']} | {cost['frames_per_prompt']:.1f} | {minutes:.1f} "
                     f"| {per_prompt:.2f} | {cost['best']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_cost(judged: list[dict], path: Path, metric: str, target: float) -> Path:
    """Held-out quality against training steps, one line per training-set size, the target dashed."""
    figure, axis = subplots(figsize=(5.5, 4))
    for run in sorted(judged, key=lambda r: r["trained_prompts"]):
        steps = [p["step"] for p in run["points"]]
        axis.plot(steps, [p["unseen"][metric] for p in run["points"]], "-o", label=f"{run['trained_prompts']} prompts")
    axis.axhline(target, color="grey", linestyle="--", linewidth=1)
    axis.set_xscale("log")
    label_axis(axis, "training steps (same batch for every run)", f"held-out {PLOTTED.get(metric, metric)}")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Cost of amortization as the prompt set grows (stacks' scale_N runs).")
    parser.add_argument("--runs", type=Path, nargs="+", required=True, help="ATT3D runs on stacks' scale_N splits")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=48, help="held-out (and seen) prompts judged per snapshot")
    parser.add_argument("--metric", default="all_ok", choices=METRICS, help="the held-out quality to reach")
    parser.add_argument("--target", type=float, default=0.8, help="the quality every run must reach")
    args = parser.parse_args(argv)
    for run in args.runs:
        if not (run / "snapshots").is_dir():
            parser.error(f"{run} holds no snapshots/ (train with --snapshots STEP ...)")
        config, _ = load_run(run)
        if config.prompts != "stacks" or config.split not in SCALES:
            parser.error(f"{run} trained on {config.prompts!r} {config.split!r}; the cost table takes runs on "
                         "stacks' scale_N splits")  # fmt: skip
    if args.limit < 1:
        parser.error("--limit must be >= 1")
    judge = Judge(prompt_set("stacks"))
    judged = [evaluate_run(run, args.limit, judge, unseen=HELD_OUT) for run in args.runs]
    costs = [time_to_target(j, run, args.metric, args.target) for j, run in zip(judged, args.runs, strict=True)]
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"metric": args.metric, "target": args.target, "held_out": HELD_OUT, "costs": costs, "runs": judged}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    table = cost_table(costs, args.metric, args.target)
    (args.out / "table.md").write_text(table)
    plot_cost(judged, args.out / "cost.png", args.metric, args.target)
    print(table)


if __name__ == "__main__":
    main()
