"""The toy world's shape vocabulary: eight upright primitives that look different from most views.

Each shape fits the cube `center ± size` and touches its bottom face (so shapes can be stacked).
Their pairwise volume IoU stays below 0.8 (tested), so a generated object's shape can be told by
the best match over the vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache

import torch
from torch import Tensor

from toyworld.primitives import (
    SDF,
    box_sdf,
    cone_sdf,
    cross_sdf,
    cylinder_sdf,
    octahedron_sdf,
    rounded,
    sphere_sdf,
    star_sdf,
    torus_sdf,
)


def _shift(center: Sequence[float], dy: float) -> tuple[float, float, float]:
    return (center[0], center[1] + dy, center[2])


# name → builder(center, size); proportions chosen so every shape fills a similar share of its cube
_BUILDERS: dict[str, Callable[[Sequence[float], float], SDF]] = {
    "cube": lambda c, s: rounded(box_sdf(_shift(c, -0.2 * s), (0.75 * s, 0.75 * s, 0.75 * s)), 0.05 * s),
    "sphere": lambda c, s: sphere_sdf(c, s),
    "cylinder": lambda c, s: cylinder_sdf(_shift(c, -0.1 * s), 0.7 * s, 0.9 * s),
    "cone": lambda c, s: cone_sdf(c, s, s),
    "torus": lambda c, s: torus_sdf(_shift(c, -0.65 * s), 0.65 * s, 0.35 * s),
    "octahedron": lambda c, s: octahedron_sdf(c, s),
    "star": lambda c, s: star_sdf(_shift(c, -0.19 * s), s, 0.45 * s, 0.3 * s),
    "cross": lambda c, s: cross_sdf(c, s, 0.28 * s),
}
SHAPE_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def shape_sdf(name: str, center: Sequence[float] = (0.0, 0.0, 0.0), size: float = 0.5) -> SDF:
    """The SDF of vocabulary shape `name` filling the cube `center ± size`."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown shape {name!r}; the shapes are {', '.join(SHAPE_NAMES)}")
    return _BUILDERS[name](center, size)


@cache
def _height_maps(name: str) -> tuple[Tensor, Tensor]:
    """Highest and lowest point of a shape of size 1 in each of a grid of vertical columns, `[X, Z]` each
    (-inf and +inf where a column misses it)."""
    axis = torch.linspace(-1.0, 1.0, _COLUMNS)
    ys = torch.linspace(-1.0, 1.0, _HEIGHTS)
    inside = shape_sdf(name, size=1.0)(torch.stack(torch.meshgrid(axis, ys, axis, indexing="ij"), dim=-1)) < 0
    y = ys.view(1, -1, 1)
    highest = torch.where(inside, y, torch.tensor(-math.inf)).amax(dim=1)
    lowest = torch.where(inside, y, torch.tensor(math.inf)).amin(dim=1)
    return highest, lowest


_COLUMNS, _HEIGHTS = 64, 128  # resting heights come out within 2/127 of the size


def resting_height(bottom: str, top: str) -> float:
    """How far above the bottom shape's centre the top shape's centre is when it rests on it (units of size).

    In each vertical column where both shapes have material the top one must clear the bottom one;
    the highest such requirement is where it comes to rest (a torus on a sphere sinks until its ring
    touches, a cube on a cone balances on the apex).
    """
    clearance = _height_maps(bottom)[0] - _height_maps(top)[1]
    return float(clearance[torch.isfinite(clearance)].max()) + 2.0 / (_HEIGHTS - 1)
