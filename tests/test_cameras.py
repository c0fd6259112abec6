"""Cameras against geometry worked out by hand: poses, projection, rays, view labels, sampling."""

from __future__ import annotations

import math

import pytest
import torch

from nerf.cameras import (
    Cameras,
    CameraSampling,
    look_at,
    orbit_cameras,
    sample_cameras,
    spherical_position,
    turntable,
    view_label,
)


def random_cameras(num: int = 16, width: int = 64, height: int = 48, seed: int = 0) -> Cameras:
    generator = torch.Generator().manual_seed(seed)
    eye = torch.randn(num, 3, generator=generator, dtype=torch.float64) * 3
    target = torch.randn(num, 3, generator=generator, dtype=torch.float64) * 0.3
    fov = torch.empty(num, dtype=torch.float64).uniform_(0.3, 1.5, generator=generator)
    return Cameras(look_at(eye, target), fov, width, height), eye, target


def test_look_at_target_projects_to_image_centre_at_its_distance() -> None:
    cameras, eye, target = random_cameras()
    pixels, depth = cameras.project(target.unsqueeze(1))
    assert torch.allclose(pixels.squeeze(1), torch.tensor([32.0, 24.0], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(depth.squeeze(1), (eye - target).norm(dim=-1), atol=1e-9)


def test_pose_is_a_rotation_with_world_up_kept_upright() -> None:
    cameras, _, _ = random_cameras()
    rotation = cameras.c2w[:, :3, :3]
    assert torch.allclose(rotation.transpose(1, 2) @ rotation, torch.eye(3, dtype=torch.float64).expand(16, 3, 3))
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(16, dtype=torch.float64))
    assert (rotation[:, 1, 1] > 0).all(), "camera up must have a positive world-Y component"
    assert torch.allclose(rotation[:, 1, 0], torch.zeros(16, dtype=torch.float64), atol=1e-12), "no roll"


def test_rays_and_projection_round_trip() -> None:
    cameras, _, _ = random_cameras()
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(16, 50, 2, generator=generator, dtype=torch.float64) * torch.tensor([64.0, 48.0])
    directions = cameras.pixel_directions(pixels)
    distance = torch.rand(16, 50, 1, generator=generator, dtype=torch.float64) * 5 + 0.5
    points = cameras.position.unsqueeze(1) + distance * directions
    projected, depth = cameras.project(points)
    assert torch.allclose(projected, pixels, atol=1e-8)
    assert (depth > 0).all()


def test_projection_matches_the_intrinsics_matrix() -> None:
    cameras, _, _ = random_cameras()
    points = torch.randn(16, 10, 3, dtype=torch.float64)
    world_to_camera = torch.linalg.inv(cameras.c2w)
    local = (world_to_camera[:, None, :3, :3] @ points.unsqueeze(-1)).squeeze(-1) + world_to_camera[:, None, :3, 3]
    opencv = local * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)  # OpenGL → OpenCV camera axes
    homogeneous = (cameras.intrinsics()[:, None] @ opencv.unsqueeze(-1)).squeeze(-1)
    expected = homogeneous[..., :2] / homogeneous[..., 2:]
    projected, depth = cameras.project(points)
    assert torch.allclose(projected, expected, atol=1e-8)
    assert torch.allclose(depth, opencv[..., 2], atol=1e-10)


def test_rays_cover_pixel_centres_row_major() -> None:
    camera = orbit_cameras(torch.tensor([30.0]), 10.0, 3.0, 50.0, width=5, height=3)
    origins, directions = camera.rays()
    assert origins.shape == directions.shape == (1, 15, 3)
    assert torch.allclose(directions.norm(dim=-1), torch.ones(1, 15))
    projected, _ = camera.project(origins + 2 * directions)
    v, u = torch.meshgrid(torch.arange(3) + 0.5, torch.arange(5) + 0.5, indexing="ij")
    assert torch.allclose(projected[0], torch.stack((u, v), -1).reshape(-1, 2), atol=1e-4)


def test_spherical_conventions() -> None:
    points = spherical_position(torch.tensor([0.0, 90.0, 0.0]), torch.tensor([0.0, 0.0, 90.0]), torch.tensor(2.0))
    expected = torch.tensor([[0.0, 0.0, 2.0], [2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # front = +Z, azimuth → +X, up = +Y
    assert torch.allclose(points, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("azimuth", "elevation", "label"),
    [(0, 0, "front"), (44, 30, "front"), (-44, 0, "front"), (90, 0, "side"), (-100, 10, "side"), (180, 0, "back"),
     (-140, 0, "back"), (540, 0, "back"), (0, 61, "overhead"), (180, 89, "overhead")],
)  # fmt: skip
def test_view_labels(azimuth: float, elevation: float, label: str) -> None:
    assert view_label(azimuth, elevation) == label


def test_turntable_orbits_at_constant_distance_and_labels_views() -> None:
    cameras = turntable(num_frames=12, elevation_deg=20.0, distance=2.5, width=32, height=32)
    assert cameras.shape == (12,)
    assert torch.allclose(cameras.position.norm(dim=-1), torch.full((12,), 2.5))
    azimuth, elevation = cameras.azimuth_elevation()
    assert torch.allclose(elevation, torch.full((12,), 20.0), atol=1e-4)
    steps = torch.diff(azimuth) % 360
    assert torch.allclose(steps, torch.full((11,), 30.0), atol=1e-3)
    expected = ["front", "front"] + ["side"] * 3 + ["back"] * 3 + ["side"] * 3 + ["front"]
    assert cameras.view_labels() == expected


def test_sampled_cameras_stay_in_range_and_are_seeded() -> None:
    sampling = CameraSampling(elevation_deg=(0.0, 45.0), distance=(2.0, 2.5), fov_y_deg=(30.0, 40.0), target_jitter=0.0)
    cameras = sample_cameras(500, 16, 16, sampling, torch.Generator().manual_seed(3))
    azimuth, elevation = cameras.azimuth_elevation()
    distance = cameras.position.norm(dim=-1)
    assert elevation.min() >= -1e-4 and elevation.max() <= 45.0 + 1e-4
    assert distance.min() >= 2.0 - 1e-5 and distance.max() <= 2.5 + 1e-5
    assert math.radians(30.0) - 1e-6 <= cameras.fov_y.min() and cameras.fov_y.max() <= math.radians(40.0) + 1e-6
    assert azimuth.min() < -150 and azimuth.max() > 150, "azimuth covers the full circle"
    again = sample_cameras(500, 16, 16, sampling, torch.Generator().manual_seed(3))
    assert torch.equal(cameras.c2w, again.c2w)
    # with no jitter the origin projects to the image centre
    pixels, _ = cameras.project(torch.zeros(500, 1, 3))
    assert torch.allclose(pixels, torch.full_like(pixels, 8.0), atol=1e-3)


def test_look_at_straight_down_is_still_a_valid_pose() -> None:
    c2w = look_at(torch.tensor([[0.0, 3.0, 0.0]]), torch.zeros(1, 3))
    rotation = c2w[0, :3, :3]
    assert torch.isfinite(c2w).all()
    assert torch.allclose(rotation.T @ rotation, torch.eye(3), atol=1e-6)
    assert torch.allclose(-rotation[:, 2], torch.tensor([0.0, -1.0, 0.0]), atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"c2w": torch.eye(3), "fov_y": torch.tensor(1.0)}, r"\[..., 4, 4\]"),
        ({"c2w": torch.eye(4)[None], "fov_y": torch.tensor([4.0])}, r"\(0, π\)"),
        ({"c2w": torch.eye(4)[None], "fov_y": torch.tensor([1.0, 1.0])}, "fov_y must have shape"),
        ({"c2w": torch.full((1, 4, 4), float("nan")), "fov_y": torch.tensor([1.0])}, "NaN"),
        ({"c2w": torch.eye(4, dtype=torch.long)[None], "fov_y": torch.tensor([1.0])}, "floating-point"),
        ({"c2w": torch.eye(4)[None], "fov_y": torch.tensor([1.0]), "width": 0}, "width must be 1..8192"),
    ],
)
def test_bad_cameras_are_refused(kwargs: dict, message: str) -> None:
    arguments = {"width": 8, "height": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        Cameras(**arguments)


def test_bad_sampling_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        CameraSampling(distance=(3.0, 2.0))
    with pytest.raises(ValueError, match=r"\[-90, 90\]"):
        CameraSampling(elevation_deg=(-10.0, 120.0))
    with pytest.raises(ValueError, match="num cameras"):
        sample_cameras(0, 8, 8)
