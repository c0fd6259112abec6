"""The volume renderer against analytic results: a homogeneous medium's transmittance, a sphere's
silhouette and Lambert shading, and invariances (chunking, empty-space skipping, batching)."""

from __future__ import annotations

import math

import pytest
import torch

from nerf.analytic import SDFField, laplace_density, sphere_sdf
from nerf.background import ConstantBackground, MLPBackground
from nerf.cameras import Cameras, look_at, orbit_cameras, turntable
from nerf.field import (
    FieldOutput,
    HashGridField,
    HashGridFieldConfig,
    RadianceField,
    VoxelGridField,
    VoxelGridFieldConfig,
)
from nerf.occupancy import OccupancyGrid
from nerf.render import RenderConfig, composite_weights, render, sample_light_directions

SIGMA, COLOUR, BACKGROUND = 0.7, (0.2, 0.5, 0.9), (1.0, 0.9, 0.8)


class HomogeneousMedium(RadianceField):
    """Constant density and colour everywhere; the renderer clips it to the scene box."""

    def forward(self, points: torch.Tensor) -> FieldOutput:
        density = torch.full(points.shape[:-1], SIGMA, dtype=points.dtype)
        return FieldOutput(density, points.new_tensor(COLOUR).expand(*points.shape[:-1], 3))


def frontal_camera(size: int = 9, fov_deg: float = 20.0) -> Cameras:
    """A camera on +Z at distance 3 so narrow that every ray enters the box at z = 1 and leaves at z = -1."""
    eye = torch.tensor([[0.0, 0.0, 3.0]], dtype=torch.float64)
    return Cameras(look_at(eye, torch.zeros_like(eye)), torch.tensor([math.radians(fov_deg)], dtype=torch.float64),
                   size, size)  # fmt: skip


@pytest.mark.parametrize("num_samples", [1, 7, 64])
def test_homogeneous_medium_matches_analytic_transmittance(num_samples: int) -> None:
    camera = frontal_camera()
    _, directions = camera.rays()
    length = 2.0 / directions[0, :, 2].abs()  # chord between the planes z = 1 and z = -1
    transmittance = torch.exp(-SIGMA * length)
    out = render(HomogeneousMedium(), camera, RenderConfig(num_samples=num_samples),
                 background=ConstantBackground(BACKGROUND))  # fmt: skip
    assert torch.allclose(out.opacity.reshape(-1), 1 - transmittance, atol=1e-10)
    expected_rgb = (1 - transmittance)[:, None] * torch.tensor(COLOUR) + transmittance[:, None] * torch.tensor(
        BACKGROUND
    )
    assert torch.allclose(out.rgb.reshape(-1, 3), expected_rgb.to(out.rgb.dtype), atol=1e-6)


def test_homogeneous_medium_expected_depth() -> None:
    camera = frontal_camera()
    _, directions = camera.rays()
    dz = directions[0, :, 2].abs()
    near, length = 2.0 / dz, 2.0 / dz
    t = torch.exp(-SIGMA * length)
    # E[stopping distance | the ray stops] for an exponential distribution truncated to the chord
    expected = near + 1 / SIGMA - length * t / (1 - t)
    out = render(HomogeneousMedium(), camera, RenderConfig(num_samples=512))
    assert torch.allclose(out.depth.reshape(-1), expected, rtol=1e-5)


def test_composite_weights_follow_the_order_of_samples() -> None:
    weights = composite_weights(torch.tensor([[0.0, 5.0, 5.0, 0.0]]), torch.full((1, 4), 0.5))
    alpha = 1 - math.exp(-2.5)
    assert torch.allclose(weights, torch.tensor([[0.0, alpha, (1 - alpha) * alpha, 0.0]]))


def sphere_scene(radius: float = 0.6, beta: float = 0.002) -> SDFField:
    return SDFField([(sphere_sdf((0.0, 0.0, 0.0), radius), (0.5, 0.5, 0.5))], beta=beta)


def analytic_sphere_hits(camera: Cameras, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(hit mask `[P]`, outward normal at the first hit `[P, 3]`) of each pixel's ray with the sphere."""
    origins, directions = camera.rays()
    o, d = origins[0].double(), directions[0].double()
    b = (o * d).sum(-1)
    disc = b * b - (o * o).sum(-1) + radius**2
    hit = disc > 0
    t = -b - disc.clamp(min=0).sqrt()
    return hit, (o + t[:, None] * d) / radius


def test_sphere_silhouette_and_depth() -> None:
    radius, size = 0.6, 48
    camera = orbit_cameras(torch.tensor([0.0]), 0.0, 3.0, 30.0, size, size)
    hit, normal = analytic_sphere_hits(camera, radius)
    out = render(sphere_scene(radius), camera, RenderConfig(num_samples=256))
    predicted = out.opacity.reshape(-1) > 0.5
    assert (predicted & hit).sum() / (predicted | hit).sum() > 0.97
    # away from the rim, where grazing rays gather opacity from the density's tail before the surface
    frontal = hit & (normal[:, 2] > 0.5)
    true_depth = (normal[frontal] * radius - camera.position[0].double()).norm(dim=-1)
    assert torch.allclose(out.depth.reshape(-1)[frontal].double(), true_depth, atol=0.015)


def test_sphere_lambertian_and_textureless_shading() -> None:
    radius, size = 0.6, 32
    camera = orbit_cameras(torch.tensor([0.0]), 0.0, 3.0, 30.0, size, size)
    hit, normal = analytic_sphere_hits(camera, radius)
    light = torch.tensor([[[0.0, 0.6, 0.8]]])  # from above the camera
    cosine = (normal @ light[0, 0].double()).clamp(min=0)
    frontal = hit & (normal[:, 2] > 0.3)
    # a surface layer (β = 0.01) wider than the finite-difference step, so normals resolve it
    field, config = sphere_scene(radius, beta=0.01), RenderConfig(num_samples=256, ambient=0.2, normal_eps=2e-3)
    lambertian = render(field, camera, config, shading="lambertian", light_directions=light, want_normals=True)
    expected = 0.5 * (0.2 + 0.8 * cosine)
    assert torch.allclose(lambertian.rgb.reshape(-1, 3)[frontal, 0].double(), expected[frontal], atol=0.03)
    normals = torch.nn.functional.normalize(lambertian.normals.reshape(-1, 3)[frontal], dim=-1).double()
    assert (normals * normal[frontal]).sum(-1).min() > 0.98
    textureless = render(field, camera, config, shading="textureless", light_directions=light)
    assert torch.allclose(textureless.rgb.reshape(-1, 3)[frontal, 1].double(), 2 * expected[frontal], atol=0.06)


def test_chunking_and_occupancy_grid_do_not_change_the_image() -> None:
    field = sphere_scene(0.4)
    cameras = turntable(3, width=24, height=24)
    reference = render(field, cameras, RenderConfig(num_samples=96), shading="lambertian")
    chunked = render(field, cameras, RenderConfig(num_samples=96, chunk_rays=37), shading="lambertian")
    occupancy = OccupancyGrid.from_field(field, num_objects=1, resolution=32)
    assert occupancy.mask.float().mean() < 0.3, "most of the box is empty and must be skipped"
    skipped = render(field, cameras, RenderConfig(num_samples=96), shading="lambertian", occupancy=occupancy)
    for out in (chunked, skipped):
        assert torch.allclose(out.rgb, reference.rgb, atol=1e-4)
        assert torch.allclose(out.opacity, reference.opacity, atol=1e-4)


class SpheresOfTwoSizes(RadianceField):
    """Two objects: a small and a large sphere, so their occupied cells differ in number."""

    @property
    def num_objects(self) -> int:
        return 2

    def forward(self, points: torch.Tensor) -> FieldOutput:
        radius = torch.tensor([0.25, 0.6]).view(2, 1)
        density = laplace_density(points.norm(dim=-1) - radius, 0.01)
        return FieldOutput(density, torch.sigmoid(points * 3))


def test_occupancy_skipping_is_exact_for_objects_of_different_sizes() -> None:
    field = SpheresOfTwoSizes()
    cameras = turntable(2, width=20, height=20)
    occupancy = OccupancyGrid.from_field(field, num_objects=2, resolution=24)
    occupied = occupancy.mask.flatten(1).float().mean(1)
    assert occupied[0] < 0.5 * occupied[1]
    for shading in ("albedo", "lambertian"):
        reference = render(field, cameras, RenderConfig(num_samples=80), shading=shading)
        skipped = render(field, cameras, RenderConfig(num_samples=80), shading=shading, occupancy=occupancy)
        assert torch.allclose(skipped.rgb, reference.rgb, atol=1e-5)


def test_batched_objects_render_as_if_alone_and_gradients_reach_each_grid() -> None:
    torch.manual_seed(0)
    config = HashGridFieldConfig(hidden_dim=16)
    field = HashGridField(config, num_objects=2)
    with torch.no_grad():
        field.grid.params.normal_(0.0, 1.0)
    cameras = turntable(2, width=8, height=8)
    both = render(field, cameras, RenderConfig(num_samples=16))
    for index in range(2):
        alone = render(field.bind(field.grid.params[index : index + 1]), cameras, RenderConfig(num_samples=16))
        assert torch.allclose(both.rgb[index], alone.rgb[0], atol=1e-5)
    assert not torch.allclose(both.rgb[0], both.rgb[1], atol=1e-3), "different parameters, different objects"
    both.rgb[1].sum().backward()
    gradient = field.grid.params.grad
    assert gradient[0].abs().max() == 0 and gradient[1].abs().max() > 0


def test_cameras_per_object() -> None:
    field = sphere_scene(0.5)
    cameras = turntable(2, width=8, height=8).reshape(2, 1)
    out = render(field, cameras, RenderConfig(num_samples=16))
    assert out.rgb.shape == (2, 1, 8, 8, 3)


def test_stratified_samples_are_seeded_and_unbiased_for_a_medium() -> None:
    camera = frontal_camera(size=3)
    config = RenderConfig(num_samples=8, stratified=True)
    first = render(HomogeneousMedium(), camera, config, generator=torch.Generator().manual_seed(0))
    again = render(HomogeneousMedium(), camera, config, generator=torch.Generator().manual_seed(0))
    midpoints = render(HomogeneousMedium(), camera, RenderConfig(num_samples=8))
    assert torch.equal(first.depth, again.depth)
    assert not torch.allclose(first.depth, midpoints.depth)
    assert torch.allclose(first.opacity, midpoints.opacity, atol=1e-12), "bins tile the ray, jitter or not"


def test_background_shows_through_empty_space() -> None:
    empty = SDFField([(sphere_sdf((0.0, 0.0, 0.0), 0.1), (1.0, 0.0, 0.0))])
    camera = orbit_cameras(torch.tensor([0.0]), 0.0, 3.0, 60.0, 8, 8)
    out = render(empty, camera, background=ConstantBackground((0.1, 0.2, 0.3)))
    assert torch.allclose(out.rgb[0, 0, 0, 0], torch.tensor([0.1, 0.2, 0.3]))
    learned = MLPBackground()
    directions = torch.nn.functional.normalize(torch.randn(5, 7, 3), dim=-1)
    colours = learned(directions)
    assert colours.shape == (5, 7, 3) and colours.min() >= 0 and colours.max() <= 1


def test_bad_render_requests_are_refused() -> None:
    field = sphere_scene()
    cameras = turntable(2, width=4, height=4)
    with pytest.raises(ValueError, match="shading must be one of"):
        render(field, cameras, shading="phong")
    with pytest.raises(ValueError, match=r"\[V\] or \[B, V\]"):
        render(field, cameras.reshape(1, 1, 2))
    with pytest.raises(ValueError, match="the field holds 2"):
        render(HashGridField(num_objects=2), cameras.reshape(2, 1, 1).reshape(1, 2))
    with pytest.raises(ValueError, match="last dimension 3"):
        render(field, cameras, shading="lambertian", light_directions=torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"num_samples must be 1\.\.4096"):
        RenderConfig(num_samples=0)


def test_random_lights_come_from_the_cameras_side() -> None:
    cameras = turntable(256, width=4, height=4)
    towards_camera = torch.nn.functional.normalize(cameras.position, dim=-1)

    def mean_cosine(spread: float) -> float:
        light = sample_light_directions(cameras, spread, torch.Generator().manual_seed(0))
        assert torch.allclose(light.norm(dim=-1), torch.ones(256))
        return (light * towards_camera).sum(-1).mean().item()

    assert mean_cosine(0.0) == pytest.approx(1.0)
    assert 0.6 < mean_cosine(0.5) < 0.95
    assert mean_cosine(2.0) < mean_cosine(0.5) - 0.2
    first = sample_light_directions(cameras, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(first, sample_light_directions(cameras, 0.5, torch.Generator().manual_seed(1)))


def test_occupancy_grid_follows_a_changing_field() -> None:
    grid = OccupancyGrid(num_objects=1, resolution=16)
    left = SDFField([(sphere_sdf((-0.5, 0.0, 0.0), 0.3), (1.0, 1.0, 1.0))])
    right = SDFField([(sphere_sdf((0.5, 0.0, 0.0), 0.3), (1.0, 1.0, 1.0))])
    probes = torch.tensor([[[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.8, 0.0]]])
    assert grid.occupied(probes).all(), "before any update nothing may be skipped"
    grid.update(left, decay=0.5)
    assert grid.occupied(probes).tolist() == [[True, False, False]]
    for _ in range(20):  # the left sphere's density fades by half per update once the field has moved
        grid.update(right, decay=0.5)
    assert grid.occupied(probes).tolist() == [[False, True, False]]


def test_detached_normals_shade_alike_and_pass_gradient_only_around_the_normals() -> None:
    torch.manual_seed(0)
    field = VoxelGridField(VoxelGridFieldConfig(resolution=8))
    with torch.no_grad():
        field.grid.normal_(0.0, 2.0)
    cameras = turntable(2, width=6, height=6)

    def gradient(config: RenderConfig, frozen_normals: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        field.grid.grad = None
        original = VoxelGridField.normals
        if frozen_normals:  # the reference: normals from a frozen copy of the grid, constants to autograd
            frozen = VoxelGridField(field.config)
            frozen.grid.data.copy_(field.grid.detach())
            field.normals = lambda points, *args: original(frozen, points.detach(), *args).detach()
        try:
            rgb = render(field, cameras, config, shading="lambertian").rgb
        finally:
            field.__dict__.pop("normals", None)
        (rgb * torch.linspace(0.1, 1.0, rgb.numel()).view(rgb.shape)).sum().backward()
        return rgb.detach(), field.grid.grad.clone()

    full_rgb, full = gradient(RenderConfig(num_samples=24))
    detached_rgb, detached = gradient(RenderConfig(num_samples=24, detach_normals=True))
    _, reference = gradient(RenderConfig(num_samples=24), frozen_normals=True)
    assert torch.equal(full_rgb, detached_rgb)
    assert torch.allclose(detached, reference, atol=1e-6)
    assert not torch.allclose(full, detached, atol=1e-3)
