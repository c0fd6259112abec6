"""Pictures of the toy world, by its ground-truth renderer.

    python -m toyworld.gallery --out docs/toyworld.png      # the world: one row each of shapes, stacks, categories
    python -m toyworld.gallery --examples webui/examples    # re-render the app's image examples in that folder

The gallery's rows: the eight toy64 shapes (in their eight colours), eight stacks, and one object of
each category, from the same three-quarter view. An example image `{category}-{seed}.png` is that
category object seen as the world frames its objects (see `example_view`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nerf.cameras import VIEW_DISTANCE, orbit_cameras, turntable
from nerf.fidelity import sdf_mesh
from toyworld.categories import CATEGORY_NAMES, pil_object, sample_object
from toyworld.prompts import stacks, toy64
from toyworld.render_gt import BACKGROUND, render_ground_truth


def gallery(size: int = 96) -> np.ndarray:
    """The picture as a uint8 array `[rows * size, 10 * size, 3]`."""
    camera = orbit_cameras(torch.tensor([35.0]), 20.0, 2.8, 45.0, size, size)
    single = toy64().split("unseen")  # the diagonal: every shape once, every colour once
    stacked = stacks().prompts[5::509][:8]
    objects = [sample_object(category, seed=7) for category in CATEGORY_NAMES]
    rows = [[p.field() for p in single], [p.field() for p in stacked], [o.field() for o in objects]]
    width = max(len(row) for row in rows)
    blank = np.full((size, size, 3), round(BACKGROUND * 255), np.uint8)
    tiles = []
    for row in rows:
        images = [render_ground_truth(field, camera, supersample=2).rgb[0] for field in row]
        images = [(image.numpy() * 255).round().astype(np.uint8) for image in images]
        tiles.append(np.concatenate(images + [blank] * (width - len(images)), axis=1))
    return np.concatenate(tiles, axis=0)


def example_view(category: str, seed: int, size: int = 64, background: float = BACKGROUND) -> np.ndarray:
    """One category object as a user's photo of it `[size, size, 3]` uint8: lit from the camera's side,
    25° up, 30° round from the front, framed as the world frames an object of half-size 0.5 (farther off
    for a larger one, a car or a table), on the toy world's grey (or another `background`)."""
    field = pil_object(category, seed).field()
    half_extent = float(abs(sdf_mesh(field.union_sdf, resolution=64).bounds).max())
    camera = turntable(12, 25.0, VIEW_DISTANCE * max(1.0, half_extent / 0.5), width=size, height=size)[1:2]
    rgb = render_ground_truth(field, camera, background=background, supersample=2).rgb[0]
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def write_examples(folder: Path) -> list[Path]:
    """Re-render every example image `{category}-{seed}.png` in `folder`."""
    paths = sorted(Path(folder).glob("*-*.png"))
    for path in paths:
        category, _, seed = path.stem.rpartition("-")
        Image.fromarray(example_view(category, int(seed))).save(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/toyworld.png"))
    parser.add_argument("--size", type=int, default=96, help="pixels per object")
    parser.add_argument("--examples", type=Path, default=None, help="re-render the example images in this folder")
    args = parser.parse_args(argv)
    if args.examples is not None:
        print("\n".join(str(path) for path in write_examples(args.examples)))
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gallery(args.size)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
