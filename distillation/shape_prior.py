"""LATTE3D's shape regularization, with a prior for the inside: score distillation pulled towards a
retrieved asset's geometry, for amortized (`train.att3d`) and per-prompt (`dreamfusion`) runs alike.

Two terms, both against the asset that `toyworld/assets.py::AssetLibrary.retrieve` pairs with the prompt:
- silhouette (LATTE3D's `‖O(model, cam) − O(asset, cam)‖²`): `α · Σ_pixels (O − M)²` per image, averaged
  over images, O the rendered opacity and M the asset's silhouette at the same camera;
- occupancy: `1000 · β · mean_x ((1 − e^(−0.05 σ(x))) − inside(x))²` over points drawn uniformly in the
  box ±`box`, σ the model's density. The silhouette pins the outline, not which surface is opaque: with
  it alone the guide empties a cube's face centres into a frame (docs/ATT3D.md); the occupancy term
  keeps the inside inside;
- albedo (optional, `albedo_weight` γ): `γ · mean over the asset's inside of ‖a(x) − a_asset(x)‖²` at the
  same points, a the model's albedo: a colour prior against score distillation's colour speckle.

The score-distillation loss is kept whole beside them (LATTE3D writes `(1 − α)·L_SDS + α·L_shape`;
at the toy scale the additive form with α up to 5 is what was measured). α can be annealed linearly
from `weight` to `weight_end` over `anneal_steps`. An interpolant `(1 − a)·c1 + a·c2` is pulled towards
the same blend of its two assets' targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from nerf.cameras import Cameras
from nerf.field import RadianceField
from nerf.random import Generators, rand
from toyworld.assets import AssetLibrary

OCCUPANCY_SCALE = 0.05  # density → occupancy 1 − e^(−0.05 σ): σ = 14 is half occupied
OCCUPANCY_NORM = 1000.0  # so that β = 1 weighs the inside about as much as α = 1 weighs a 32² silhouette


@dataclass(frozen=True)
class ShapePrior:
    """Settings of the shape regularization (off by default: the paper-reproduction recipes stay pure SDS)."""

    weight: float = 0.0  # α, on each image's summed squared silhouette error
    weight_end: float | None = None  # α after `anneal_steps` (linear from `weight`); None: constant
    anneal_steps: int = 1000
    occupancy_weight: float = 0.0  # β, on the inside's squared occupancy error
    occupancy_points: int = 2048  # per object and step
    box: float = 0.65  # the points are drawn in [−box, box]³
    albedo_weight: float = 0.0  # γ, on the squared albedo error at those points inside the asset

    def __post_init__(self) -> None:
        weights = (self.weight, self.occupancy_weight, self.albedo_weight, self.weight_end or 0.0)
        if not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError("shape weights (weight, weight_end, occupancy_weight, albedo_weight) must be finite, >= 0")
        counts = (self.anneal_steps, self.occupancy_points)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in counts):
            raise ValueError(f"anneal_steps and occupancy_points must be whole numbers >= 1, got {counts}")
        if not 0 < self.box <= 1:
            raise ValueError(f"box must be in (0, 1] (the scene box's half-size is 1), got {self.box}")

    @property
    def enabled(self) -> bool:
        return self.weight > 0 or self.occupancy_weight > 0 or self.albedo_weight > 0 or bool(self.weight_end)

    def alpha(self, step: int) -> float:
        """α at step number `step`."""
        if self.weight_end is None:
            return self.weight
        done = min(step / self.anneal_steps, 1.0)
        return self.weight + (self.weight_end - self.weight) * done


@dataclass
class AssetPairs:
    """Each row's assets: `first [B]`, `second [B]` (library indices) and the blend weight `a [B]`."""

    first: np.ndarray
    second: np.ndarray
    blend: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.first) == len(self.second) == len(self.blend):
            raise ValueError("first, second and blend must have one entry per row")

    def targets(self, lookup) -> Tensor:
        """`(1 − a)·lookup(first) + a·lookup(second)`, looking the second up only where it counts."""
        first = lookup(self.first)
        mixed = (self.blend > 0) & (self.first != self.second)
        if not mixed.any():
            return first
        blend = torch.as_tensor(self.blend, dtype=first.dtype, device=first.device).view(-1, *[1] * (first.ndim - 1))
        return (1 - blend) * first + blend * lookup(self.second)


def silhouette_loss(opacity: Tensor, masks: Tensor) -> Tensor:
    """Each image's summed squared difference between opacity and target `[..., H, W]`, averaged over images."""
    return (opacity.float() - masks).square().flatten(0, -3).sum((-1, -2)).mean()


def occupancy_loss(density: Tensor, inside: Tensor) -> Tensor:
    """`OCCUPANCY_NORM · mean((1 − e^(−0.05 σ)) − inside)²` over densities σ `[B, N]` and targets `[B, N]`."""
    occupancy = 1 - torch.exp(-OCCUPANCY_SCALE * density.float())
    return OCCUPANCY_NORM * (occupancy - inside).square().mean()


def albedo_loss(
    albedo: Tensor, target: Tensor, inside: Tensor, mean: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """Mean squared albedo error `[B, N, 3]` over the points inside the asset (`inside [B, N]` weights).
    A step split over processes (whose gradients are averaged), each holding some of the rows, passes
    `mean`, a count's mean over the processes: dividing by the mean count per process makes the averaged
    gradient the one a single process would take over every row."""
    error = (albedo.float() - target).square().sum(-1)
    count = inside.sum() if mean is None else mean(inside.sum().detach())
    return (error * inside).sum() / count.clamp(min=1.0)  # under one inside point per process: counted as one


def shape_prior_loss(
    prior: ShapePrior,
    step: int,
    field: RadianceField,
    opacity: Tensor,
    cameras: Cameras,
    library: AssetLibrary,
    pairs: AssetPairs,
    generator: Generators = None,
    mean: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """The shape terms for B objects rendered at cameras `[B, V]` with opacity `[B, V, H, W]`: the loss
    and its parts (`silhouette`, `occupancy`, unweighted, for the log). `generator`: one, or one per
    object (row b's points from generator b, as a training step split over processes needs); `mean`:
    a step split over processes (`albedo_loss`)."""
    loss, parts = opacity.new_zeros(()), {}
    alpha = prior.alpha(step)
    if alpha > 0:
        masks = pairs.targets(lambda index: library.silhouettes(index, cameras))
        silhouette = silhouette_loss(opacity, masks)
        loss, parts["silhouette"] = loss + alpha * silhouette, silhouette.item()
    if prior.occupancy_weight > 0 or prior.albedo_weight > 0:
        rows = len(pairs.first)
        points = (rand(rows, prior.occupancy_points, 3, generator=generator) * 2 - 1) * prior.box
        points = points.to(opacity.device)
        inside = pairs.targets(lambda index: library.occupancy(index, points))
        output = field(points)
        if prior.occupancy_weight > 0:
            occupancy = occupancy_loss(output.density, inside)
            loss, parts["occupancy"] = loss + prior.occupancy_weight * occupancy, occupancy.item()
        if prior.albedo_weight > 0:
            colours = pairs.targets(lambda index: library.albedo(index, points))
            albedo = albedo_loss(output.albedo, colours, inside, mean)
            loss, parts["albedo"] = loss + prior.albedo_weight * albedo, albedo.item()
    return loss, parts
