"""PIL's image route from pictures taken the way users take them: does framing (`pil/framing.py`) make
the object come out the same whatever its size, place and backdrop in the picture?

    python -m evaluation.pil_framing --out docs/pil/framing [--model toy] [--seeds 9 19]

For each test object (every PIL category, the given seeds: seeds ending in 9 are the test split) it renders
one lit view as the app's examples are made (`toyworld.gallery.example_view`: 25° up, 30° round, the
object's size in the frame that of the training views), then makes three more pictures of it:
- `half size`: the view shrunk to half and set in the middle of a grey picture of the same size;
- `off-centre`: the view shrunk to three quarters and set in the top left corner of a grey picture;
- `white background`: the same view rendered on white instead of the toy world's grey.
Each picture goes through the pipeline framed and as it is (`frame=False`); the `.glb` it exports is
scored against the true object (`nerf.fidelity.export_scores`: volume IoU, and the colour error of the
surface). Writes `results.json`, `table.md` and `pictures.png` (per object: each picture, then what the
model saw after framing).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from nerf.fidelity import TrueShape, export_scores
from pil.framing import TRAINING_FILL, frame_image
from pil.generate import PILPipeline
from toyworld.categories import PIL_CATEGORIES, pil_object, pil_split
from toyworld.gallery import example_view
from toyworld.render_gt import BACKGROUND

SIZE = 128  # of the rendered pictures
CONDITIONS = ("view", "half size", "off-centre", "white background")


def pictures(category: str, seed: int, size: int = SIZE) -> dict[str, Image.Image]:
    """The object's four pictures (see the module's docstring)."""
    grey = (round(BACKGROUND * 255),) * 3
    view = Image.fromarray(example_view(category, seed, size))
    half = Image.new("RGB", (size, size), grey)
    half.paste(view.resize((size // 2, size // 2), Image.LANCZOS), (size // 4, size // 4))
    shifted = Image.new("RGB", (size, size), grey)  # three quarters the size, in the top left corner
    shifted.paste(view.resize((size * 3 // 4, size * 3 // 4), Image.LANCZOS), (0, 0))
    white = Image.fromarray(example_view(category, seed, size, background=1.0))
    return {"view": view, "half size": half, "off-centre": shifted, "white background": white}


def evaluate(
    pipe: PILPipeline, seeds: list[int], resolution: int, fill: float | tuple[float, float] = TRAINING_FILL
) -> tuple[list[dict], list[list[Image.Image]]]:
    """Per object and condition, framed and not: mesh IoU and colour error; and the pictures, per object."""
    rows, grid = [], []
    for seed in seeds:
        for category in PIL_CATEGORIES:
            truth = TrueShape.of_field(pil_object(category, seed).field())
            shown = pictures(category, seed)
            seen = []
            for condition, picture in shown.items():
                row = {"category": category, "seed": seed, "condition": condition}
                for framed in (True, False):
                    shown_to_model = frame_image(picture, fill).image if framed else picture
                    generation = pipe(image=shown_to_model, frame=False)
                    scores = export_scores(generation.field.select(slice(0, 1)), truth, resolution)
                    key = "framed" if framed else "as given"
                    row[f"{key} mesh_iou"] = round(scores["mesh_iou"], 4)
                    row[f"{key} colour_error"] = round(scores["colour_error"], 4)
                    if framed:
                        seen.append(shown_to_model.resize((SIZE, SIZE), Image.LANCZOS))
                rows.append(row)
                print(json.dumps(row), flush=True)
            grid.append(list(shown.values()) + seen)
    return rows, grid


def summary(rows: list[dict]) -> dict:
    """Mean mesh IoU and colour error per condition, framed and as given."""
    table = {}
    for condition in CONDITIONS:
        chosen = [r for r in rows if r["condition"] == condition]
        table[condition] = {key: round(float(np.nanmean([r[key] for r in chosen])), 3)
                            for key in chosen[0] if key.endswith(("mesh_iou", "colour_error"))}  # fmt: skip
    return table


def markdown_table(table: dict) -> str:
    lines = ["| picture | mesh IoU, framed | mesh IoU, as given | colour error, framed | colour error, as given |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for condition, values in table.items():
        lines.append(f"| {condition} | {values['framed mesh_iou']:.3f} | {values['as given mesh_iou']:.3f} | "
                     f"{values['framed colour_error']:.3f} | {values['as given colour_error']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PIL's image route from pictures of any size, place and backdrop.")
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--seeds", type=int, nargs="+", default=[9, 19], help="test objects' seeds (ending in 9)")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid of the scored meshes")
    parser.add_argument("--fill", type=float, nargs="+", default=[TRAINING_FILL],
                        help="the framed object's share of the frame: one number, or a range LOW HIGH")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if any(pil_split(seed) != "test" for seed in args.seeds):
        parser.error(f"--seeds must be test objects' (ending in 9), got {args.seeds}")
    pipe = PILPipeline.from_pretrained(args.model)
    if len(args.fill) not in (1, 2):
        parser.error(f"--fill takes one number or two (a range), got {args.fill}")
    fill = args.fill[0] if len(args.fill) == 1 else tuple(args.fill)
    rows, grid = evaluate(pipe, args.seeds, args.resolution, fill)
    table = summary(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python", "-m", "evaluation.pil_framing", *(sys.argv[1:] if argv is None else argv)])
    (args.out / "results.json").write_text(json.dumps({"command": command, "summary": table, "rows": rows}, indent=1))
    (args.out / "table.md").write_text(markdown_table(table) + "\n")
    tiles = np.concatenate([np.concatenate([np.asarray(p) for p in row], axis=1) for row in grid], axis=0)
    Image.fromarray(tiles).save(args.out / "pictures.png")
    print(markdown_table(table))


if __name__ == "__main__":
    main()
