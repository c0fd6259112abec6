"""Analytic radiance fields from signed distance functions: exact ground truth for tests, the demo and
benchmarks (and the toy world builds its objects on `SDFField`).

Density follows VolSDF: `σ(x) = Ψ_β(-d(x)) / β` with Ψ_β the Laplace CDF, so σ is 1/β deep inside,
0 far outside and exactly `surface_density = 1 / (2β)` on the surface d = 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from nerf.field import FieldOutput, RadianceField

SDF = Callable[[Tensor], Tensor]  # points [..., 3] -> signed distance [...], negative inside


def sphere_sdf(center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 0.5) -> SDF:
    def sdf(points: Tensor) -> Tensor:
        return (points - points.new_tensor(center)).norm(dim=-1) - radius

    return sdf


def box_sdf(center: Sequence[float] = (0.0, 0.0, 0.0), half_size: Sequence[float] = (0.5, 0.5, 0.5)) -> SDF:
    def sdf(points: Tensor) -> Tensor:
        q = (points - points.new_tensor(center)).abs() - points.new_tensor(half_size)
        return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)

    return sdf


def laplace_density(signed_distance: Tensor, beta: float) -> Tensor:
    """VolSDF density `Ψ_β(-d) / β` for signed distances `[...]`."""
    s = -signed_distance
    # 0.5 exp(-|s|/β), written so that the gradient at s = 0 is the one-sided one, not zero
    tail = 0.5 * torch.exp(torch.where(s <= 0, s, -s) / beta)
    return torch.where(s <= 0, tail, 1 - tail) / beta


class SDFField(RadianceField):
    """A union of coloured SDF parts as a radiance field; the same object for any batch size.

    Each point takes the colour of the part nearest to it, so colours are exact on each part's surface.
    """

    def __init__(self, parts: Sequence[tuple[SDF, Sequence[float]]], beta: float = 0.01, bound: float = 1.0) -> None:
        super().__init__()
        if not parts:
            raise ValueError("an SDFField needs at least one (sdf, rgb) part")
        self.sdfs = [sdf for sdf, _ in parts]
        self.register_buffer("colours", torch.tensor([list(rgb) for _, rgb in parts], dtype=torch.float32))
        self.beta = beta
        self.bound = bound

    @property
    def surface_density(self) -> float:
        """Density on the surface d = 0: the iso-level that recovers the exact surface."""
        return 0.5 / self.beta

    def signed_distance(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """points `[..., 3]` → (distance to the union `[...]`, index of the nearest part `[...]`)."""
        distances = torch.stack([sdf(points) for sdf in self.sdfs], dim=-1)
        return distances.min(dim=-1)

    def union_sdf(self, points: Tensor) -> Tensor:
        """The union's signed distance at points `[..., 3]` → `[...]`: the shape as an SDF of its own."""
        return self.signed_distance(points)[0]

    def forward(self, points: Tensor) -> FieldOutput:
        distance, part = self.signed_distance(self.check_points(points))
        albedo = self.colours.to(points.dtype)[part]
        return FieldOutput(density=laplace_density(distance, self.beta), albedo=albedo)


def demo_field() -> SDFField:
    """The built-in test object: a red ball resting on a blue box, on a yellow base (+Y up)."""
    return SDFField(
        [
            (sphere_sdf((0.0, 0.25, 0.0), 0.35), (0.85, 0.15, 0.1)),
            (box_sdf((0.0, -0.3, 0.0), (0.3, 0.2, 0.3)), (0.15, 0.3, 0.85)),
            (box_sdf((0.0, -0.55, 0.0), (0.5, 0.05, 0.5)), (0.9, 0.8, 0.2)),
        ]
    )
