"""The silhouette-matched iso-level against a Gaussian ball, whose answer is analytic."""

from __future__ import annotations

import math

import pytest
import torch

from nerf.cameras import turntable
from nerf.field import FieldOutput, RadianceField
from nerf.iso_level import opacity_crossing_level, silhouette_iso_level
from nerf.occupancy import OccupancyGrid
from nerf.render import RenderConfig, render

WIDTH = 0.25  # standard deviation of the balls' density (world units)


class GaussianBalls(RadianceField):
    """Objects of density peak·exp(−|x|² / 2s²), one per peak; a peak of 0 is an empty object."""

    def __init__(self, peaks: list[float]) -> None:
        super().__init__()
        self.peaks = torch.tensor(peaks)

    @property
    def num_objects(self) -> int:
        return len(self.peaks)

    def forward(self, points: torch.Tensor) -> FieldOutput:
        density = self.peaks.view(-1, 1) * torch.exp(-points.square().sum(-1) / (2 * WIDTH**2))
        return FieldOutput(density, torch.full((*points.shape[:-1], 3), 0.5))


def test_level_is_where_the_ray_integral_is_ln2_and_empty_objects_get_inf() -> None:
    # A ray passing the centre at distance b integrates peak·s·√(2π)·exp(−b²/2s²) and peaks at
    # peak·exp(−b²/2s²); opacity is 1/2 where the integral is ln 2, so the silhouette's level is
    # ln 2 / (s·√(2π)) whatever the peak (the cameras are far enough for rays to be nearly parallel).
    expected = math.log(2) / (WIDTH * math.sqrt(2 * math.pi))
    cameras = turntable(3, elevation_deg=20.0, distance=3.0, fov_y_deg=45.0, width=96, height=96)
    balls, config = GaussianBalls([20.0, 60.0, 0.0]), RenderConfig(num_samples=192)
    levels = silhouette_iso_level(balls, cameras, config)
    assert levels[:2] == pytest.approx([expected, expected], rel=0.1)
    assert levels[2] == math.inf
    shaded = render(balls, cameras, config, "lambertian")  # a caller's own render: any shading has this opacity
    assert torch.equal(silhouette_iso_level(balls, cameras, config, opacity=shaded.opacity), levels)
    # skipping empty space: what it skips holds density below the grid's threshold (0.01), whose faint
    # opacity can move a boundary pixel across the mask's cut, and with it the best level, a little
    occupancy = OccupancyGrid.from_field(balls, resolution=32)
    assert not occupancy.mask.all()
    skipping = silhouette_iso_level(balls, cameras, config, occupancy=occupancy)
    assert skipping[:2].tolist() == pytest.approx(levels[:2].tolist(), rel=0.03) and skipping[2] == math.inf
    assert skipping[:2].tolist() == pytest.approx([expected, expected], rel=0.1)


def test_rejects_per_object_cameras() -> None:
    cameras = turntable(2, width=8, height=8)
    batched = type(cameras)(cameras.c2w.unsqueeze(0), cameras.fov_y.unsqueeze(0), 8, 8)
    with pytest.raises(ValueError, match=r"shape \[V\]"):
        silhouette_iso_level(GaussianBalls([1.0]), batched)


class SolidBall(RadianceField):
    """A ball of radius 0.5 and constant density `density` (0: empty)."""

    def __init__(self, density: float) -> None:
        super().__init__()
        self.density = density

    def forward(self, points: torch.Tensor) -> FieldOutput:
        inside = points.square().sum(-1) < 0.25
        return FieldOutput(inside.float() * self.density, torch.full((*points.shape[:-1], 3), 0.5))


@pytest.mark.parametrize("quantile", [0.0, 0.25, 1.0])
def test_the_opacity_crossing_level_of_a_uniform_ball_is_its_density(quantile: float) -> None:
    # inside the ball every sample has the same density, so every ray that becomes half opaque does so at
    # that density, whichever quantile of them is taken; rays through its rim never get there
    cameras = turntable(2, elevation_deg=20.0, distance=3.0, fov_y_deg=45.0, width=32, height=32)
    assert opacity_crossing_level(SolidBall(12.0), cameras, quantile=quantile) == pytest.approx(12.0)
    assert opacity_crossing_level(SolidBall(0.0), cameras) == math.inf
    with pytest.raises(ValueError, match=r"quantile must lie in \[0, 1\]"):
        opacity_crossing_level(SolidBall(12.0), cameras, quantile=1.5)
