"""`python -m toyworld.gallery --out docs/toyworld.png`: a picture of the toy world's objects.

Rows: the eight toy64 shapes (in their eight colours), eight stacks, and one object of each
category, rendered by the ground-truth renderer from the same three-quarter view.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nerf.cameras import orbit_cameras
from toyworld.categories import CATEGORY_NAMES, sample_object
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/toyworld.png"))
    parser.add_argument("--size", type=int, default=96, help="pixels per object")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(gallery(args.size)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
