"""Unseen quality against the fraction of prompts seen (ATT3D, issue 31 part 2 (b); the paper's Fig. 8 asks the
same of its compositional prompt sets): amortized runs on one prompt set that trained on different fractions
of it, with and without the shape regularizer, each judged by `evaluation.att3d` on the same held-out prompts.

    python -m evaluation.att3d --att3d ~/runs/ss12 --unseen unseen_50 --out docs/att3d-ss12 --limit 48
    python -m evaluation.att3d --att3d ~/runs/ss50 --out docs/att3d-ss50 --limit 48
    ...  (and the `-shape` runs alike; `bash train/att3d_experiments.sh NAME` trains each)
    python -m evaluation.att3d_fraction --judged docs/att3d-ss12 docs/att3d-ss50 docs/att3d-ss12-shape \\
        docs/att3d-ss50-shape --out docs/att3d-fraction

Reads each folder's `results.json` (nothing is rendered again) and compares the runs at every budget (frames
per training prompt) they all reached: a smaller seen split means more steps per seen prompt at equal frames,
so the comparison is at equal work per seen prompt, as the paper's. Unseen prompts must be the same for every
run (`--unseen unseen_50` for the runs that saw 12.5 %: its held-out prompts are inside theirs), or the
fractions would be judged on different prompts. Writes `results.json`, `table.md` and `fraction.png` to `--out`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evaluation.att3d import PLOTTED
from evaluation.plots import label_axis, save_figure, subplots
from toyworld.prompts import prompt_set

TABLED = ("r_probability", "all_ok", "colour_ok", "shape_ok", "mesh_iou")


def load_judged(folder: Path) -> dict:
    """The amortized run an `evaluation.att3d` folder judged, with its fraction seen and regularizer."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        raise ValueError(f"{folder} holds no results.json (judge the run with python -m evaluation.att3d first)")
    judged = json.loads(path.read_text()).get("amortized")
    if not judged or not judged["points"]:
        raise ValueError(f"{path} holds no judged snapshots (judge a run with python -m evaluation.att3d --att3d)")
    if judged["points"][0]["step"] == 0 and "unseen_split" not in judged:
        raise ValueError(f"{path} judged a saved model (--model); compare runs judged with --att3d")
    if "shape_prior" not in judged or "unseen_split" not in judged:
        raise ValueError(f"{path} was judged before evaluation.att3d recorded the regularizer and the unseen split; "
                         "judge the run again")  # fmt: skip
    total = len(prompt_set(judged["prompts"]).prompts)
    return judged | {"folder": str(folder), "fraction_seen": judged["trained_prompts"] / total}


def unseen_prompts(judged: dict) -> list[str]:
    return [row["prompt"] for row in judged["points"][-1]["unseen"]["rows"]]


def check_comparable(runs: list[dict]) -> None:
    """One prompt set, and the same held-out prompts judged for every run."""
    if len({run["prompts"] for run in runs}) != 1:
        raise ValueError(f"the runs trained on different prompt sets: {sorted({r['prompts'] for r in runs})}")
    first = unseen_prompts(runs[0])
    for run in runs[1:]:
        if unseen_prompts(run) != first:
            raise ValueError(
                f"{run['folder']} and {runs[0]['folder']} were judged on different unseen prompts: judge each with "
                "the same --unseen split and --limit (e.g. --unseen unseen_50 for every fraction below 50 %)"
            )


def budget(point: dict) -> float:
    """A judged point's frames per training prompt, rounded so that equal budgets of two runs compare equal."""
    return round(point["frames_per_prompt"], 3)


def shared_budgets(runs: list[dict]) -> list[float]:
    """Frames per training prompt that every run was judged at."""
    return sorted(set.intersection(*({budget(p) for p in run["points"]} for run in runs)))


def at_budget(run: dict, frames: float) -> dict:
    return next(p for p in run["points"] if budget(p) == frames)


def fraction_table(runs: list[dict], budgets: list[float]) -> str:
    names = {"r_probability": "R-probability", "all_ok": "both parts right", "colour_ok": "colours right",
             "shape_ok": "shapes right", "mesh_iou": "mesh IoU"}  # fmt: skip
    lines = ["| frames / prompt | seen | regularizer | steps | " + " | ".join(f"unseen {names[m]}" for m in TABLED)
             + " | seen R-probability | unseen − seen R-probability |",
             "| --- " * (len(TABLED) + 6) + "|"]  # fmt: skip
    order = sorted(runs, key=lambda r: (r["shape_prior"], r["fraction_seen"]))
    for frames in budgets:
        for run in order:
            point = at_budget(run, frames)
            unseen, seen = point["unseen"], point["seen"]
            gap = unseen["r_probability"] - seen["r_probability"]
            lines.append(f"| {frames:g} | {run['fraction_seen']:.1%} | {'shape' if run['shape_prior'] else 'none'} "
                         f"| {point['step']} | " + " | ".join(f"{unseen[m]:.3f}" for m in TABLED)
                         + f" | {seen['r_probability']:.3f} | {gap:+.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def plot_fraction(runs: list[dict], frames: float, path: Path, metrics: tuple[str, ...] = tuple(PLOTTED)) -> Path:
    """At one shared budget, each metric against the fraction seen: unseen solid, seen dashed, one colour per
    regularizer setting."""
    figure, axes = subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for metric, axis in zip(metrics, axes[0], strict=True):
        for prior, colour in ((False, "tab:blue"), (True, "tab:green")):
            chosen = sorted((r for r in runs if r["shape_prior"] == prior), key=lambda r: r["fraction_seen"])
            if not chosen:
                continue
            fractions = [100 * r["fraction_seen"] for r in chosen]
            name = "shape regularizer" if prior else "pure SDS"
            for split, style in (("unseen", "-"), ("seen", "--")):
                values = [at_budget(r, frames)[split][metric] for r in chosen]
                axis.plot(fractions, values, style, marker="o", color=colour, label=f"{name}, {split}")
        label_axis(axis, "prompts seen in training (%)", PLOTTED.get(metric, metric))
    figure.suptitle(f"{runs[0]['prompts']}, {frames:g} frames per seen prompt")
    return save_figure(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Unseen quality against the fraction of prompts seen.")
    parser.add_argument("--judged", type=Path, nargs="+", required=True,
                        help="evaluation.att3d output folders (results.json), one per run")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        runs = [load_judged(folder) for folder in args.judged]
        check_comparable(runs)
    except ValueError as error:
        parser.error(str(error))
    budgets = shared_budgets(runs)
    if not budgets:
        parser.error("the runs share no budget (frames per training prompt) to compare them at")
    args.out.mkdir(parents=True, exist_ok=True)
    table = fraction_table(runs, budgets)
    (args.out / "table.md").write_text(table)
    summary = [{key: run[key] for key in ("folder", "run", "prompts", "split", "trained_prompts", "fraction_seen",
                                          "shape_prior", "unseen_split")}
               | {"budgets": {str(frames): {split: {m: at_budget(run, frames)[split][m] for m in TABLED}
                                               for split in ("seen", "unseen")} for frames in budgets}}
               for run in runs]  # fmt: skip
    (args.out / "results.json").write_text(json.dumps({"budgets": budgets, "runs": summary}, indent=1))
    plot_fraction(runs, budgets[-1], args.out / "fraction.png")
    print(table)


if __name__ == "__main__":
    main()
