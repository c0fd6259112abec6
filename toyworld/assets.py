"""The toy world's 3D asset library: objects with captions and exact geometry, as Objaverse is for LATTE3D.

LATTE3D (Xie et al., ECCV 2024) regularizes amortized score distillation with 3D assets: each training
prompt is paired with the asset whose caption is nearest to it, by the text encoder the model is
conditioned on, and the model's renders are pulled towards the asset's silhouettes (and here also its
inside towards the asset's occupancy: `distillation/shape_prior.py`). The toy world has such a library
exactly: every toy64 object, every stack and category instances, each with its caption and its signed
distance, so a silhouette at any camera and the inside at any point cost a sphere trace and an SDF call.

    library = AssetLibrary.build(text_encoder, exclude=held_out_prompts)
    index, similarity = library.retrieve(["a red cube"])
    masks = library.silhouettes(index, cameras)     # [B, V, H, W] in {0, 1}
    inside = library.occupancy(index, points)        # [B, N] in {0, 1}

A run's held-out prompts are passed as `exclude`: their own objects never enter the library it trains
with, so "unseen" stays unseen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.analytic import SDFField
from nerf.cameras import Cameras
from toyworld.categories import CATEGORY_NAMES, sample_object
from toyworld.prompts import CATEGORY_OBJECTS, prompt_key, prompt_set
from toyworld.render_gt import render_ground_truth

LIBRARY_SETS = ("toy64", "stacks", "categories")
TRACE_STEPS = 64  # sphere-tracing steps of a silhouette (the regularizer's masks, not a picture)


class _Source(Protocol):
    def field(self) -> SDFField: ...


@dataclass(frozen=True)
class Asset:
    """A caption and what builds its exact object (a toy-world `Prompt` or `CategoryObject`)."""

    caption: str
    source: _Source


def toy_assets(sets: Iterable[str] = LIBRARY_SETS, category_objects: int = CATEGORY_OBJECTS) -> list[Asset]:
    """The toy world's objects with their captions: prompt sets by name ("toy64", "stacks") and
    "categories" (`category_objects` instances of each category, colours drawn from their seeds)."""
    assets: list[Asset] = []
    for name in sets:
        if name == "categories":
            objects = (sample_object(c, seed) for c in CATEGORY_NAMES for seed in range(category_objects))
            assets += [Asset(o.caption, o) for o in objects]
        else:
            assets += [Asset(p.text, p) for p in prompt_set(name).prompts]
    return assets


def caption_vectors(encoder, texts: list[str], chunk: int = 256) -> Tensor:
    """Unit vectors `[N, E]` to compare captions by: the encoder's pooled embedding (the toy CLIP's), or
    the mean of its token states where it has none (Stable Diffusion's and IF's encoders; padding
    included). Encoded `chunk` captions at a time: a whole library's token states at once would not fit
    a GPU with T5's."""
    vectors = []
    for start in range(0, len(texts), chunk):
        embedding = encoder.encode(texts[start : start + chunk])
        pooled = embedding.pooled if embedding.pooled is not None else embedding.states.mean(1)
        vectors.append(pooled.float().cpu())
    return F.normalize(torch.cat(vectors), dim=-1)


class AssetLibrary:
    """Assets, their caption embeddings (for retrieval) and their fields (built when first asked for)."""

    def __init__(self, assets: list[Asset], encoder) -> None:
        if not assets:
            raise ValueError("an asset library needs at least one asset")
        self.assets, self.encoder = assets, encoder
        self.captions = [a.caption for a in assets]
        self.vectors = caption_vectors(encoder, self.captions)  # [A, E]
        self._fields: dict[int, SDFField] = {}

    @classmethod
    def build(cls, encoder, exclude: Iterable[str] = (), sets: Iterable[str] = LIBRARY_SETS) -> AssetLibrary:
        """The toy world's library without the objects captioned by `exclude` (a run's held-out prompts;
        compared ignoring case and spacing)."""
        excluded = {prompt_key(text) for text in exclude}
        return cls([a for a in toy_assets(sets) if prompt_key(a.caption) not in excluded], encoder)

    def __len__(self) -> int:
        return len(self.assets)

    def retrieve(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """For each text, the index of the asset with the most similar caption and that cosine similarity."""
        similarity = caption_vectors(self.encoder, texts) @ self.vectors.T  # [T, A]
        best = similarity.max(dim=1)
        return best.indices.numpy(), best.values.numpy()

    def field(self, index: int) -> SDFField:
        """Asset `index`'s exact radiance field."""
        if index not in self._fields:
            self._fields[index] = self.assets[index].source.field()
        return self._fields[index]

    @torch.no_grad()
    def silhouettes(self, index: Iterable[int], cameras: Cameras) -> Tensor:
        """The assets' silhouettes at cameras `[B, V]`, one asset per row: `[B, V, H, W]`, 1 where the
        pixel's central ray hits the object."""
        index = list(index)
        if len(cameras.shape) != 2 or cameras.shape[0] != len(index):
            raise ValueError(f"cameras must be [{len(index)}, V], one row per asset, got {tuple(cameras.shape)}")
        device = cameras.c2w.device
        masks = []
        for row, i in enumerate(index):
            row_cameras = Cameras(cameras.c2w[row].cpu(), cameras.fov_y[row].cpu(), cameras.width, cameras.height)
            masks.append(render_ground_truth(self.field(int(i)), row_cameras, "albedo", max_steps=TRACE_STEPS).mask)
        return torch.stack(masks).float().to(device)

    @torch.no_grad()
    def occupancy(self, index: Iterable[int], points: Tensor) -> Tensor:
        """1 where points `[B, N, 3]` lie inside asset `index[b]`, else 0: `[B, N]`."""
        return self._per_asset(index, points, lambda field, p: (field.union_sdf(p) < 0).float())

    @torch.no_grad()
    def albedo(self, index: Iterable[int], points: Tensor) -> Tensor:
        """Asset `index[b]`'s colour at points `[B, N, 3]` (its nearest part's): `[B, N, 3]`."""
        return self._per_asset(index, points, lambda field, p: field(p.unsqueeze(0)).albedo[0])

    def _per_asset(self, index: Iterable[int], points: Tensor, query) -> Tensor:
        """`query(field, points [N, 3])` for each row's asset, stacked, on the points' device."""
        index = list(index)
        if points.ndim != 3 or points.shape[0] != len(index) or points.shape[-1] != 3:
            raise ValueError(f"points must be [{len(index)}, N, 3], got {tuple(points.shape)}")
        rows = [query(self.field(int(i)), p.cpu().float()) for i, p in zip(index, points, strict=True)]
        return torch.stack(rows).to(points.device)
