"""The toy world's shape vocabulary: eight upright primitives that look different from most views.

Each shape fits the cube `center ± size` and touches its bottom face (so shapes can be stacked).
Their pairwise volume IoU stays below 0.8 (tested), so a generated object's shape can be told by
the best match over the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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

# how far above its cube's centre each shape reaches, in units of `size`: where a shape stacked on it rests
SHAPE_TOPS: dict[str, float] = {
    "cube": 0.6,
    "sphere": 1.0,
    "cylinder": 0.8,
    "cone": 1.0,
    "torus": -0.3,
    "octahedron": 1.0,
    "star": 0.81,
    "cross": 1.0,
}


def shape_sdf(name: str, center: Sequence[float] = (0.0, 0.0, 0.0), size: float = 0.5) -> SDF:
    """The SDF of vocabulary shape `name` filling the cube `center ± size`."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown shape {name!r}; the shapes are {', '.join(SHAPE_NAMES)}")
    return _BUILDERS[name](center, size)
