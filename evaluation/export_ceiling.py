"""The export's ceiling: the true objects themselves, exported as users' objects are, scored against
their own shapes.

Every generator's `.glb` comes from `nerf.export.rendered_surface_mesh` (the density level whose
silhouettes match the renders, a 128³ lattice, closed cavities filled). What a perfect model would get
from it is the score of a true object's own field (the toy world's analytic SDF turned into density,
`SDFField`) through that export: a generated object's mesh IoU can be read against this ceiling.

    python -m evaluation.export_ceiling --out runs/export-ceiling            # one prompt per shape
    python -m evaluation.export_ceiling --prompts "a red cube" "a pink cross" --resolution 64
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from nerf.export import check_export_resolution
from nerf.fidelity import EXPORT_RESOLUTION, TrueShape, export_scores
from toyworld.prompts import find_prompt, toy64

COLUMNS = ("mesh_iou", "chamfer", "convexity_gap", "colour_error")


def default_prompts() -> list[str]:
    """One toy64 prompt per shape (the first colour each shape comes in) and one stack."""
    first: dict[str, str] = {}
    for prompt in toy64().prompts:
        first.setdefault(prompt.parts[0][1], prompt.text)
    return [*first.values(), "a red cube on top of a blue sphere"]


def export_ceiling(texts: list[str], resolution: int = EXPORT_RESOLUTION) -> list[dict]:
    """Per prompt, the fidelity scores of its true object's export against its true shape."""
    rows = []
    for text in texts:
        prompt = find_prompt(text)
        if prompt is None:
            raise ValueError(f"{text!r} is no toy-world prompt (toy64 or stacks): the ceiling needs its true object")
        field = prompt.field()
        rows.append({"prompt": prompt.text, **export_scores(field, TrueShape.of_field(field), resolution)})
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = ["| prompt | mesh IoU | Chamfer | convexity gap | colour error |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['prompt']} | " + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |" for r in rows]
    means = [float(np.nanmean([r[c] for r in rows])) for c in COLUMNS]
    lines.append(f"| **mean of {len(rows)}** | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The export policy on the true objects: the mesh scores' ceiling.")
    parser.add_argument("--prompts", nargs="+", default=None, help="toy-world prompts (default: one per shape)")
    parser.add_argument("--resolution", type=int, default=EXPORT_RESOLUTION, help="export lattice (32..512)")
    parser.add_argument("--out", type=Path, default=None, help="folder for results.json and table.md")
    args = parser.parse_args(argv)
    try:
        check_export_resolution(args.resolution)
        rows = export_ceiling(args.prompts or default_prompts(), args.resolution)
    except ValueError as error:
        parser.error(str(error))
    table = markdown_table(rows)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(rows, indent=1))
        (args.out / "table.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
