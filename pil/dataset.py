"""PIL's weight dataset on disk: one small MLP NeRF fitted per toy-world category object (built by
`python -m train.pil_dataset`), read here by everything that uses it (PIL's trainer, the nearest-scene
warm start, the evaluations).

A dataset folder holds `config.json` (the `DatasetConfig` that built it), `shared_init.safetensors`
(the one initialization every fit started from), the shards `shard-00000.safetensors` ... (the fitted
weights, a shard of objects per file) and `index.json` (one record per object: category, seed, split,
caption, colour, shard, row, PSNR; and a summary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file
from torch import Tensor

from nerf.mlp_nerf import MLPNeRFConfig
from nerf.saving import config_from
from toyworld.categories import PIL_CATEGORIES, CategoryObject, pil_object

Supervision = Literal["points", "views"]
INDEX_FILE, CONFIG_FILE, INIT_FILE = "index.json", "config.json", "shared_init.safetensors"


@dataclass(frozen=True)
class DatasetConfig:
    """How the weight dataset is built. Defaults: 8 categories × 50 objects, 3D supervision."""

    mlp: MLPNeRFConfig = field(default_factory=MLPNeRFConfig)
    categories: tuple[str, ...] = PIL_CATEGORIES
    objects_per_category: int = 50  # seeds 0..n-1; those ending in 9 are the 10 % test split
    supervision: Supervision = "points"
    steps: int = 1500
    lr: float = 3e-3  # Adam, cosine-decayed to lr/20
    points_per_step: int = 2048  # "points": per object, half near the surface (4096 gave the same PSNR, 3× slower)
    pool_points: int = 65536  # "points": targets precomputed per object, sampled from each step
    rays_per_step: int = 1024  # "views": per object
    train_views: int = 32  # "views": random views rendered per object (DreamFusion's camera ranges)
    image_size: int = 64
    num_samples: int = 96  # samples per ray, "views" training and the PSNR renders
    eval_views: int = 8  # held-out orbit views for PSNR
    shard_size: int = (
        20  # objects fitted together and stored per file (batches past ~16 run slower per object on a CPU)
    )
    init_steps: int = 1500  # fitting the shared initialization to the ball
    shared_init: bool = True  # False: every object starts from its own random weights (the ablation)
    # an L2 pull of each fit towards its start, `anchor_weight · mean((w − w₀)²)` added to the loss: fits that
    # stay near the shared start make a weight space closer to linear, which the VAE can generalize over
    anchor_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(self.categories))
        unknown = [c for c in self.categories if c not in PIL_CATEGORIES]
        if unknown or not self.categories:
            raise ValueError(f"categories must be among {', '.join(PIL_CATEGORIES)}, got {list(self.categories)}")
        if self.supervision not in ("points", "views"):
            raise ValueError(f"supervision must be 'points' or 'views', got {self.supervision!r}")
        if self.anchor_weight < 0:
            raise ValueError(f"anchor_weight must be >= 0, got {self.anchor_weight}")
        if min(self.objects_per_category, self.steps, self.shard_size, self.eval_views, self.init_steps) < 1:
            raise ValueError("objects_per_category, steps, shard_size, eval_views and init_steps must be >= 1")

    def objects(self) -> list[CategoryObject]:
        """Every object of the dataset, category by category."""
        return [pil_object(c, seed) for c in self.categories for seed in range(self.objects_per_category)]


def shard_path(out: Path, shard: int) -> Path:
    return out / f"shard-{shard:05d}.safetensors"


def dataset_config(folder: str | Path) -> DatasetConfig:
    """The settings that built the dataset in `folder` (its config.json)."""
    return config_from(DatasetConfig, json.loads((Path(folder) / CONFIG_FILE).read_text()))


def load_weight_dataset(folder: str | Path, split: str | None = None) -> tuple[Tensor, list[dict], DatasetConfig]:
    """The fitted weights `[N, n_params]`, their records (`split`: "train", "test" or None for all)
    and the settings that built them."""
    folder = Path(folder)
    if not (folder / INDEX_FILE).exists():
        raise FileNotFoundError(f"{folder} holds no PIL weight dataset ({INDEX_FILE}); build it with "
                                f"python -m train.pil_dataset --out {folder}")  # fmt: skip
    records = json.loads((folder / INDEX_FILE).read_text())["objects"]
    config = dataset_config(folder)
    records = [r for r in records if split is None or r["split"] == split]
    shards = {n: load_file(shard_path(folder, n))["params"] for n in sorted({r["shard"] for r in records})}
    params = torch.stack([shards[r["shard"]][r["row"]] for r in records]) if records else torch.empty(0)
    return params, records, config
