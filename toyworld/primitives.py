"""Signed distance functions of the toy world's primitives and transforms, in the style of
`nerf.analytic`: each builder returns a function from points `[..., 3]` to signed distances `[...]`
(negative inside). Shapes are upright along +Y and axis-aligned; the exact formulas are the standard
ones (Inigo Quilez's distance-function notes); where a function is only a bound of the distance
away from the surface, its docstring says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from nerf.analytic import SDF, box_sdf, sphere_sdf

__all__ = [
    "SDF",
    "box_sdf",
    "cone_sdf",
    "cross_sdf",
    "cylinder_sdf",
    "octahedron_sdf",
    "rounded",
    "sphere_sdf",
    "star_sdf",
    "torus_sdf",
    "transformed",
    "union_sdf",
]


def _local(points: Tensor, center: Sequence[float]) -> Tensor:
    return points - points.new_tensor(center)


def cylinder_sdf(center: Sequence[float], radius: float, half_height: float) -> SDF:
    """A vertical cylinder (axis +Y)."""

    def sdf(points: Tensor) -> Tensor:
        p = _local(points, center)
        d = torch.stack((torch.linalg.norm(p[..., [0, 2]], dim=-1) - radius, p[..., 1].abs() - half_height), dim=-1)
        return d.clamp(min=0).norm(dim=-1) + d.max(dim=-1).values.clamp(max=0)

    return sdf


def cone_sdf(center: Sequence[float], radius: float, half_height: float) -> SDF:
    """A vertical cone, base of `radius` at y = -half_height, apex at y = +half_height (exact)."""
    height = 2 * half_height

    def sdf(points: Tensor) -> Tensor:
        p = _local(points, center)
        q = torch.stack((torch.linalg.norm(p[..., [0, 2]], dim=-1), p[..., 1] + half_height), dim=-1)
        # 2D: the triangle (0, 0)-(radius, 0)-(0, height) in (r, y), distance to its boundary with sign
        a, b = q.new_tensor((radius, 0.0)), q.new_tensor((0.0, height))
        edge = b - a
        t = (((q - a) * edge).sum(-1) / edge.square().sum()).clamp(0, 1)
        to_slant = (q - a - t.unsqueeze(-1) * edge).norm(dim=-1)
        to_base = torch.where(q[..., 0] <= radius, q[..., 1].abs(), (q - a).norm(dim=-1))
        inside = (q[..., 1] >= 0) & (q[..., 0] * height + q[..., 1] * radius <= radius * height)
        distance = torch.minimum(to_slant, to_base)
        return torch.where(inside, -distance, distance)

    return sdf


def torus_sdf(center: Sequence[float], major_radius: float, minor_radius: float) -> SDF:
    """A ring lying flat (in the XZ plane)."""

    def sdf(points: Tensor) -> Tensor:
        p = _local(points, center)
        q = torch.stack((torch.linalg.norm(p[..., [0, 2]], dim=-1) - major_radius, p[..., 1]), dim=-1)
        return q.norm(dim=-1) - minor_radius

    return sdf


def octahedron_sdf(center: Sequence[float], radius: float) -> SDF:
    """A regular octahedron standing on a vertex (vertices at `radius` along each axis).

    |x| + |y| + |z| - r scaled by 1/√3: exact on the surface and across faces, a lower bound of the
    distance outside near edges and vertices (enough for sphere tracing and for density).
    """

    def sdf(points: Tensor) -> Tensor:
        return (_local(points, center).abs().sum(-1) - radius) / math.sqrt(3.0)

    return sdf


def cross_sdf(center: Sequence[float], half_size: float, half_thickness: float) -> SDF:
    """Three orthogonal bars through the centre (a 3D plus sign)."""
    bars = [
        box_sdf(center, (half_size, half_thickness, half_thickness)),
        box_sdf(center, (half_thickness, half_size, half_thickness)),
        box_sdf(center, (half_thickness, half_thickness, half_size)),
    ]
    return union_sdf(bars)


def star_sdf(center: Sequence[float], outer_radius: float, inner_radius: float, half_depth: float) -> SDF:
    """A five-pointed star facing the front (+Z), extruded along Z, one point up."""
    angles = torch.arange(10, dtype=torch.float64) * math.pi / 5
    radii = torch.tensor([outer_radius, inner_radius] * 5, dtype=torch.float64)
    vertices = torch.stack((radii * torch.sin(angles), radii * torch.cos(angles)), dim=-1)  # (x, y), point up

    def sdf(points: Tensor) -> Tensor:
        p = _local(points, center)
        polygon = _polygon_distance(p[..., :2], vertices.to(p))
        d = torch.stack((polygon, p[..., 2].abs() - half_depth), dim=-1)
        return d.clamp(min=0).norm(dim=-1) + d.max(dim=-1).values.clamp(max=0)

    return sdf


def _polygon_distance(points: Tensor, vertices: Tensor) -> Tensor:
    """Signed distance from 2D points `[..., 2]` to a closed polygon `[K, 2]` (even-odd rule for the sign)."""
    start, end = vertices, vertices.roll(-1, dims=0)
    edge = end - start  # [K, 2]
    relative = points.unsqueeze(-2) - start  # [..., K, 2]
    t = ((relative * edge).sum(-1) / edge.square().sum(-1)).clamp(0, 1)
    distance = (relative - t.unsqueeze(-1) * edge).norm(dim=-1).min(dim=-1).values
    y = points[..., 1].unsqueeze(-1)
    crosses = (start[:, 1] > y) != (end[:, 1] > y)
    x_at_y = start[:, 0] + (y - start[:, 1]) * edge[:, 0] / torch.where(edge[:, 1] == 0, 1e-12, edge[:, 1])
    inside = (crosses & (points[..., 0].unsqueeze(-1) < x_at_y)).sum(-1) % 2 == 1
    return torch.where(inside, -distance, distance)


def union_sdf(sdfs: Sequence[SDF]) -> SDF:
    def sdf(points: Tensor) -> Tensor:
        return torch.stack([f(points) for f in sdfs], dim=-1).min(dim=-1).values

    return sdf


def rounded(sdf: SDF, radius: float) -> SDF:
    """Edges rounded by `radius` (the shape grows by it: shrink the inner shape to compensate)."""

    def rounded_sdf(points: Tensor) -> Tensor:
        return sdf(points) - radius

    return rounded_sdf


def transformed(sdf: SDF, center: Sequence[float] = (0.0, 0.0, 0.0), yaw_deg: float = 0.0, scale: float = 1.0) -> SDF:
    """`sdf` scaled uniformly, turned about +Y by `yaw_deg`, then moved to `center` (distances stay exact)."""
    angle = math.radians(yaw_deg)
    cos, sin = math.cos(angle), math.sin(angle)

    def moved(points: Tensor) -> Tensor:
        p = _local(points, center)
        x, y, z = p.unbind(-1)
        local = torch.stack((cos * x - sin * z, y, sin * x + cos * z), dim=-1) / scale
        return sdf(local) * scale

    return moved
