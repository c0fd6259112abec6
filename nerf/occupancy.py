"""Occupancy grid for empty-space skipping: a coarse per-object voxel mask of where density is.

The renderer evaluates the field only at samples inside occupied cells. It pays when objects fill a
small part of the scene box (most of it is empty air around a toy object); it is conservative
(maximum over jittered samples per cell, then dilated by one cell), so what it skips is empty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.checks import check_int_range
from nerf.field import RadianceField


class OccupancyGrid:
    """A `[B, R, R, R]` mask over [-bound, bound]^3 kept as an exponential moving maximum of density."""

    def __init__(
        self,
        num_objects: int,
        resolution: int = 64,
        bound: float = 1.0,
        threshold: float = 0.01,
        device: torch.device | str = "cpu",
    ) -> None:
        check_int_range(num_objects, "num_objects", 1, 1 << 16)
        check_int_range(resolution, "occupancy resolution", 4, 512)
        self.resolution = resolution
        self.bound = bound
        self.threshold = threshold
        self.density = torch.zeros(num_objects, resolution, resolution, resolution, device=device)  # [b, x, y, z]
        self.mask = torch.ones_like(self.density, dtype=torch.bool)

    @classmethod
    @torch.no_grad()
    def from_field(
        cls, field: RadianceField, num_objects: int | None = None, resolution: int = 64, passes: int = 2
    ) -> OccupancyGrid:
        """A grid built from scratch for a field that will not change (inference, export, benchmarks).

        `num_objects` defaults to the field's (1 for a field that is the same object for any batch).
        """
        grid = cls(num_objects or field.num_objects or 1, resolution, field.bound, device=field.device)
        for _ in range(passes):
            grid.update(field, decay=1.0)
        return grid

    def cell_centres(self, device: torch.device) -> Tensor:
        """Cell centres `[R^3, 3]`, x-major (matching `density.view(B, -1)`)."""
        axis = (torch.arange(self.resolution, device=device) + 0.5) / self.resolution * 2 * self.bound - self.bound
        return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(-1, 3)

    @torch.no_grad()
    def update(self, field: RadianceField, decay: float = 0.95, generator: torch.Generator | None = None) -> None:
        """Fold in the field's density at one jittered point per cell; a trained-away cell fades by `decay`."""
        device = self.density.device
        batch = self.density.shape[0]
        cell = 2 * self.bound / self.resolution
        jitter = (torch.rand(batch, self.resolution**3, 3, generator=generator) - 0.5).to(device) * cell
        points = self.cell_centres(device).unsqueeze(0) + jitter
        density = field.density(points).view_as(self.density).float()
        self.density = torch.maximum(self.density * decay, density)
        occupied = (self.density > self.threshold).float().unsqueeze(1)
        self.mask = F.max_pool3d(occupied, kernel_size=3, stride=1, padding=1).squeeze(1).bool()

    def occupied(self, points: Tensor) -> Tensor:
        """points `[B, N, 3]` → bool `[B, N]`: True where the point's cell may hold density."""
        index = ((points + self.bound) / (2 * self.bound) * self.resolution).long().clamp(0, self.resolution - 1)
        batch = torch.arange(points.shape[0], device=points.device).unsqueeze(-1)
        return self.mask[batch, index[..., 0], index[..., 1], index[..., 2]]
