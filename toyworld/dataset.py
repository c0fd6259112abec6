"""Writes ground-truth renders of the toy world with view-suffixed captions to disk.

`python -m toyworld.dataset --set toy64 --views 16 --size 64 --out data/toy64`

Each sample is one random view (DreamFusion's camera ranges, a random light near the camera) of one
object, as `images/NNNNNN.png` plus a line of `captions.jsonl`: the caption with its view suffix
("a red cube, front view"), the bare prompt, the view label and the camera. Sample i depends only on
(seed, i), so an interrupted run resumes where it stopped (`--resume` is the default) and gives the
same files as an uninterrupted one. The dataset is regenerable and stays out of git.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from tqdm.auto import tqdm

from nerf.analytic import SDFField
from nerf.cameras import CameraSampling, sample_cameras, view_prompt
from nerf.checks import check_int_range
from nerf.files import atomic_path
from nerf.random import derived_seed
from nerf.render import sample_light_directions
from toyworld.categories import CATEGORY_NAMES, sample_object
from toyworld.prompts import prompt_set
from toyworld.render_gt import render_ground_truth

# The pretrained stand-ins (toy CLIP, toy diffusion) see fresh category objects, with seeds far from
# the ones PIL's NeRF dataset uses, as internet-scale models know other chairs than a 3D dataset's.
CLIP_FIRST_SEED = 1_000_000


@dataclass(frozen=True)
class DatasetConfig:
    set: str = "toy64"  # a prompt set name, or "categories"
    views: int = 16  # views per object
    size: int = 64  # image side in pixels
    supersample: int = 2
    seed: int = 0
    objects_per_category: int = 100  # for "categories": objects with seeds first_seed, first_seed + 1, ...
    first_seed: int = CLIP_FIRST_SEED


@cache
def _items(config: DatasetConfig) -> list[tuple[str, Callable[[], SDFField]]]:
    """(caption, ground-truth field factory) for every object of the configured set."""
    if config.set != "categories":
        return [(p.text, p.field) for p in prompt_set(config.set).prompts]
    objects = [
        sample_object(category, config.first_seed + index)
        for category in CATEGORY_NAMES
        for index in range(config.objects_per_category)
    ]
    return [(o.caption, o.field) for o in objects]


def render_sample(caption: str, field: SDFField, index: int, config: DatasetConfig) -> tuple[np.ndarray, dict]:
    """One random view of an object: (image `[H, W, 3]` uint8, its caption record)."""
    generator = torch.Generator().manual_seed(derived_seed(config.seed, index))
    camera = sample_cameras(1, config.size, config.size, CameraSampling(), generator)
    light = sample_light_directions(camera, generator=generator)
    image = render_ground_truth(field, camera, light_directions=light, supersample=config.supersample).rgb[0]
    view = camera.view_labels()[0]
    azimuth, elevation = (float(v) for v in camera.azimuth_elevation())
    record = {
        "caption": view_prompt(caption, view),
        "prompt": caption,
        "view": view,
        "azimuth_deg": azimuth,
        "elevation_deg": elevation,
        "fov_y": float(camera.fov_y[0]),
        "c2w": camera.c2w[0].tolist(),
        "light": light[0].tolist(),
    }
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy(), record


def _render_index(config: DatasetConfig, index: int) -> tuple[np.ndarray, dict]:
    caption, field = _items(config)[index // config.views]
    return render_sample(caption, field(), index, config)


def _one_thread() -> None:
    torch.set_num_threads(1)  # a worker per core: threads within each would only contend


def _rendered(config: DatasetConfig, indices: list[int], workers: int) -> Iterator[tuple[np.ndarray, dict]]:
    """The samples of `indices`, in order, rendered here or by `workers` processes (the same pixels)."""
    if workers == 1:
        yield from (_render_index(config, index) for index in indices)
        return
    with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        yield from pool.map(_render_index, [config] * len(indices), indices, chunksize=32)


def build(out: Path, config: DatasetConfig, limit: int | None = None, progress: bool = True, workers: int = 1) -> int:
    """Render the dataset into `out` (resuming what is there); only its first `limit` samples if given.
    `workers` processes render in parallel (on a many-core machine); this process writes every file.

    Returns the number of samples now in `out`.
    """
    check_int_range(workers, "workers", 1, 256)
    check_int_range(config.views, "views", 1, 10_000)
    check_int_range(config.size, "size", 16, 1024)
    items = _items(config)
    total = len(items) * config.views if limit is None else min(limit, len(items) * config.views)
    (out / "images").mkdir(parents=True, exist_ok=True)
    settings = out / "config.json"
    if settings.exists() and json.loads(settings.read_text()) != asdict(config):
        raise ValueError(f"{out} holds a dataset made with other settings ({settings}); use another folder")
    settings.write_text(json.dumps(asdict(config), indent=2))
    captions = out / "captions.jsonl"
    done = {json.loads(line)["index"] for line in captions.read_text().splitlines()} if captions.exists() else set()
    todo = [index for index in range(total) if index not in done]
    with captions.open("a") as log:
        samples = _rendered(config, todo, workers)
        for index, (image, record) in zip(todo, tqdm(samples, total=len(todo), desc=f"rendering {config.set}",
                                                     disable=not progress), strict=True):  # fmt: skip
            name = f"{index:06d}.png"
            with atomic_path(out / "images" / name) as partial:  # a file in images/ is always whole
                Image.fromarray(image).save(partial, format="PNG")
            log.write(json.dumps({"index": index, "file": f"images/{name}", **record}) + "\n")
            log.flush()
    return len(done | set(range(total)))


def load_renders(folders: list[Path]) -> tuple[Tensor, list[str], list[str], list[dict]]:
    """Read dataset folders: images `[N, 3, H, W]` uint8, bare prompts, view-suffixed captions, records."""
    images, records = [], []
    for folder in folders:
        for line in (Path(folder) / "captions.jsonl").read_text().splitlines():
            record = json.loads(line)
            images.append(np.asarray(Image.open(Path(folder) / record["file"]).convert("RGB")))
            records.append(record)
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return pixels, [r["prompt"] for r in records], [r["caption"] for r in records], records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render toy-world objects with view-suffixed captions.")
    parser.add_argument("--set", default="toy64", help="toy64, stacks or categories")
    parser.add_argument("--objects-per-category", type=int, default=100, help="for --set categories")
    parser.add_argument("--views", type=int, default=16, help="random views per object")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--supersample", type=int, default=2, help="anti-aliasing rays per pixel side (1..4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumed if it exists)")
    parser.add_argument("--limit", type=int, default=None, help="render only the first N samples (a preview)")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes (one per core)")
    args = parser.parse_args(argv)
    config = DatasetConfig(args.set, args.views, args.size, args.supersample, args.seed, args.objects_per_category)
    try:
        total = build(args.out, config, args.limit, workers=args.workers)
    except ValueError as error:
        parser.error(str(error))
    print(f"{total} samples in {args.out}")


if __name__ == "__main__":
    main()
