"""Fields: the density blob, normals against an analytic sphere, binding external grid parameters,
fitting by 3D supervision, and saving and loading."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from hub.registry import load_model
from nerf.analytic import SDFField, box_sdf, laplace_density, sphere_sdf
from nerf.encoding import HashGridConfig
from nerf.field import HashGridField, HashGridFieldConfig, VoxelGridField, VoxelGridFieldConfig
from nerf.fit import fit_field

SMALL = HashGridFieldConfig(grid=HashGridConfig(num_levels=4, log2_table_size=10, finest_resolution=64), hidden_dim=16)


def test_initial_density_is_dreamfusions_blob() -> None:
    field = HashGridField(HashGridFieldConfig(blob_density=8.0, blob_radius=0.4))
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    expected = 8.0 * torch.exp(-points[0].square().sum(-1) / (2 * 0.4**2))
    assert torch.allclose(field.blob(points)[0], expected)
    density = field.density(points)[0]
    # the untrained grid and decoder add only a small offset to the blob before the softplus
    assert density[0] > density[1] > density[2]
    assert density[0] > 7.0 and density[2] < 1.5


def test_laplace_density_is_half_its_maximum_on_the_surface() -> None:
    beta = 0.05
    values = laplace_density(torch.tensor([-1.0, 0.0, 1.0]), beta)
    assert torch.allclose(values, torch.tensor([1 / beta, 0.5 / beta, 0.0]), atol=1e-6)


@pytest.mark.parametrize("method", ["finite_difference", "autograd"])
def test_normals_of_a_sphere_point_outward(method: str) -> None:
    centre = torch.tensor([0.1, -0.2, 0.05])
    field = SDFField([(sphere_sdf(centre.tolist(), 0.5), (1.0, 1.0, 1.0))], beta=0.05)
    directions = torch.nn.functional.normalize(
        torch.randn(1, 200, 3, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    points = centre + directions * 0.5
    normals = field.normals(points, method=method, eps=1e-3)
    assert (normals * directions).sum(-1).min() > 0.999


def test_autograd_normals_are_differentiable_when_training() -> None:
    field = HashGridField(SMALL)
    points = torch.rand(1, 32, 3) * 2 - 1
    normals = field.normals(points, method="autograd")
    normals.sum().backward()
    assert field.grid.params.grad is not None and field.grid.params.grad.abs().sum() > 0


def test_bound_parameters_give_the_same_field_and_gradients_reach_them() -> None:
    owned = HashGridField(SMALL, num_objects=2)
    shared = HashGridField(SMALL, num_objects=None)
    shared.decoder.load_state_dict(owned.decoder.state_dict())
    params = owned.grid.params.detach().clone().normal_().requires_grad_(True)
    with torch.no_grad():
        owned.grid.params.copy_(params)
    points = torch.rand(2, 64, 3) * 2 - 1
    bound = shared.bind(params)
    assert bound.num_objects == 2
    first, second = owned(points), bound(points)
    assert torch.allclose(first.density, second.density) and torch.allclose(first.albedo, second.albedo)
    second.density.sum().backward()
    assert params.grad.abs().sum() > 0
    assert all(p.grad is not None for p in shared.decoder.parameters())
    second_only = bound.select(slice(1, 2))
    assert second_only.num_objects == 1 and second_only.base is shared
    assert torch.equal(second_only(points[1:]).density, bound(points).density[1:])


def test_fitting_recovers_a_box() -> None:
    torch.manual_seed(0)
    reference = SDFField([(box_sdf((0.0, 0.0, 0.0), (0.4, 0.3, 0.5)), (0.9, 0.1, 0.1))])
    field = HashGridField(HashGridFieldConfig(hidden_dim=32))
    losses = fit_field(field, reference, steps=100, points_per_step=4096, progress=False)
    assert losses[-1] < 0.1 * losses[0]
    inside, outside = (
        torch.tensor([[[0.0, 0.0, 0.0], [0.2, 0.1, 0.3]]]),
        torch.tensor([[[0.0, 0.8, 0.0], [0.8, 0.0, 0.0]]]),
    )
    with torch.no_grad():
        assert (field.density(inside) > 15).all() and (field.density(outside) < 0.1).all()
        assert torch.allclose(field(inside).albedo, torch.tensor([0.9, 0.1, 0.1]), atol=0.05)


def test_bad_field_input_is_refused() -> None:
    field = HashGridField(SMALL, num_objects=2)
    with pytest.raises(ValueError, match="batch size B = 2"):
        field(torch.zeros(3, 5, 3))
    with pytest.raises(ValueError, match="last dimension 3"):
        field(torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match=r"params must be \[B, "):
        HashGridField(SMALL, num_objects=None).bind(torch.zeros(1, 7))
    with pytest.raises(ValueError, match="owns no parameters"):
        HashGridField(SMALL, num_objects=None)(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="normal method"):
        field.normals(torch.zeros(2, 5, 3), method="sobel")
    with pytest.raises(ValueError, match="density_activation"):
        HashGridFieldConfig(density_activation="relu")
    with pytest.raises(ValueError, match="at least one"):
        SDFField([])
    assert math.isfinite(field.density(torch.zeros(2, 1, 3)).sum().item())


def test_saved_field_loads_to_the_same_field(tmp_path) -> None:
    config = HashGridFieldConfig(grid=HashGridConfig(num_levels=4, log2_table_size=8), hidden_dim=16, blob_radius=0.3)
    original = HashGridField(config, num_objects=2)
    with torch.no_grad():
        original.grid.params.normal_(0, 0.1)
    original.save_pretrained(tmp_path / "field")
    saved = json.loads((tmp_path / "field" / "config.json").read_text())
    assert saved["model_type"] == "hash_grid_field" and saved["num_objects"] == 2 and saved["grid"]["num_levels"] == 4
    points = torch.rand(2, 50, 3) * 2 - 1
    for loaded in (HashGridField.from_pretrained(tmp_path / "field"), load_model(tmp_path / "field")):
        assert isinstance(loaded, HashGridField) and loaded.config == config and loaded.num_objects == 2
        assert torch.equal(loaded(points).density, original(points).density)
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="only a HashGridField that owns its weights"):
        HashGridField(config, num_objects=None).save_pretrained(tmp_path / "unowned")


def naive_trilinear(grid: torch.Tensor, point: list[float], bound: float) -> torch.Tensor:
    """Float64 trilinear interpolation of `grid [C, R, R, R]` (indexed z, y, x) at one point."""
    resolution = grid.shape[-1]
    x, y, z = ((c / bound + 1) / 2 * (resolution - 1) for c in point)
    i, j, k = (min(math.floor(v), resolution - 2) for v in (x, y, z))
    fx, fy, fz = x - i, y - j, z - k
    total = torch.zeros(grid.shape[0], dtype=torch.float64)
    for dx, dy, dz in itertools.product((0, 1), repeat=3):
        weight = (fx if dx else 1 - fx) * (fy if dy else 1 - fy) * (fz if dz else 1 - fz)
        total += weight * grid[:, k + dz, j + dy, i + dx].double()
    return total


def test_voxel_grid_interpolates_trilinearly_with_the_blob() -> None:
    config = VoxelGridFieldConfig(resolution=5, bound=1.5, blob_density=3.0, blob_radius=0.4)
    voxels = VoxelGridField(config, num_objects=2)
    with torch.no_grad():
        voxels.grid.normal_(0, 1)
    points = (torch.rand(2, 20, 3) * 2 - 1) * 1.5
    out = voxels(points)
    for b, n in itertools.product(range(2), range(20)):
        raw = naive_trilinear(voxels.grid[b].detach(), points[b, n].tolist(), 1.5)
        blob = 3.0 * math.exp(-points[b, n].square().sum().item() / (2 * 0.4**2))
        assert math.isclose(out.density[b, n].item(), math.log1p(math.exp(raw[0].item() + blob)), rel_tol=1e-4)
        assert torch.allclose(out.albedo[b, n].double(), torch.sigmoid(raw[1:]), atol=1e-5)


def test_voxel_grid_total_variation_and_round_trip(tmp_path) -> None:
    voxels = VoxelGridField(VoxelGridFieldConfig(resolution=4), num_objects=1)
    assert voxels.total_variation().item() == 0.0
    with torch.no_grad():
        voxels.grid[0, 0, :, :, 1:] = 1.0  # one step along x between index 0 and 1: 16 of 48 differences
    assert math.isclose(voxels.total_variation().item(), 16 / 48, rel_tol=1e-6)
    assert voxels.total_variation(slice(1, 4)).item() == 0.0
    with torch.no_grad():
        voxels.grid[0, 2, 1:] = 3.0  # green logit: one step along z, 16 of the 3 × 48 albedo differences
    assert math.isclose(voxels.total_variation(slice(1, 4)).item(), 9 * 16 / 144, rel_tol=1e-6)
    voxels.save_pretrained(tmp_path / "voxels")
    loaded = load_model(tmp_path / "voxels")
    assert isinstance(loaded, VoxelGridField) and torch.equal(loaded.grid, voxels.grid)


def test_voxel_grid_normals_are_exact_for_a_linear_density_and_the_blob() -> None:
    config = VoxelGridFieldConfig(resolution=9, bound=1.0, blob_density=0.0)
    voxels = VoxelGridField(config, num_objects=1)
    axis = torch.linspace(-1, 1, 9)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    slope = torch.tensor([0.3, -1.2, 0.5])
    with torch.no_grad():
        voxels.grid[0, 0] = slope[0] * x + slope[1] * y + slope[2] * z
    points = torch.rand(1, 100, 3) * 2 - 1
    expected = (-slope / slope.norm()).expand(1, 100, 3)
    assert torch.allclose(voxels.normals(points), expected, atol=1e-5)
    blob_only = VoxelGridField(VoxelGridFieldConfig(resolution=9, blob_density=5.0), num_objects=1)
    assert torch.allclose(blob_only.normals(points), points / points.norm(dim=-1, keepdim=True), atol=1e-5)
