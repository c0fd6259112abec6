"""ATT3D's model: mapping network (spectral norm, output gain), fields bound to its output, Hub round
trip, interpolant sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from att3d import ATT3D, ATT3DConfig, MappingConfig, MappingNetwork, prompt_spread
from att3d.interpolation import InterpolantSampling, sample_interpolants
from nerf.encoding import HashGridConfig
from nerf.field import HashGridFieldConfig, VoxelGridField, VoxelGridFieldConfig
from nerf.interpolation import interpolate

SMALL_VOXEL = VoxelGridFieldConfig(resolution=8)
SMALL_HASH = HashGridFieldConfig(grid=HashGridConfig(num_levels=2, log2_table_size=6, base_resolution=4,
                                                     finest_resolution=8), hidden_dim=8)  # fmt: skip


def small_model(backbone: str = "voxel", **options) -> ATT3D:
    torch.manual_seed(0)
    config = ATT3DConfig(text_tokens=4, text_width=8, backbone=backbone, voxel=SMALL_VOXEL, hashgrid=SMALL_HASH,
                         hidden_dim=16, **options)  # fmt: skip
    return ATT3D(config)


def test_spectral_norm_bounds_how_far_apart_prompts_can_be() -> None:
    """‖m(c1) − m(c2)‖ ≤ gain · 1.1 · ‖c1 − c2‖ for any inputs (SiLU's slope is at most 1.1)."""
    torch.manual_seed(0)
    network = MappingNetwork(MappingConfig(32, 500, hidden_dim=16, output_gain=3.0))
    with torch.no_grad():
        for parameter in network.parameters():  # a trained network's raw weights can be anything
            parameter.mul_(50)
    a, b = torch.randn(64, 32), torch.randn(64, 32)
    distance = (network(a) - network(b)).norm(dim=1)
    assert (distance <= 3.0 * 1.1 * (a - b).norm(dim=1) + 1e-4).all()
    unconstrained = MappingNetwork(MappingConfig(32, 500, hidden_dim=16, output_gain=3.0, spectral_norm=False))
    with torch.no_grad():
        for parameter in unconstrained.parameters():
            parameter.mul_(50)
    assert ((unconstrained(a) - unconstrained(b)).norm(dim=1) > 3.0 * 1.1 * (a - b).norm(dim=1)).any()


def test_without_output_gain_spectral_norm_collapses_prompts() -> None:
    """The prototype's silent failure: asked to give two prompts opposite grids (±2 everywhere), the
    literal form (gain 1) cannot move them more than its Lipschitz bound apart; the default gain can."""
    torch.manual_seed(0)
    embeddings = torch.randn(2, 4, 8)
    targets = torch.stack((torch.full((2048,), 2.0), torch.full((2048,), -2.0)))
    bound_per_number = 1.1 * (embeddings[0] - embeddings[1]).norm().item() / math.sqrt(2048)
    results = {}
    for gain in (1.0, None):
        torch.manual_seed(0)
        network = MappingNetwork(MappingConfig(32, 2048, hidden_dim=16, output_gain=gain))
        optimizer = torch.optim.Adam(network.parameters(), lr=1e-2, betas=(0.0, 0.99))
        for _ in range(300):
            loss = (network(embeddings) - targets).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        outputs = network(embeddings).detach()
        results[gain] = (loss.item(), (outputs[0] - outputs[1]).square().mean().sqrt().item(), prompt_spread(outputs))
    collapsed, default = results[1.0], results[None]
    assert collapsed[1] <= bound_per_number + 1e-4 < 0.25  # at most ~0.2 apart where 4 was asked
    assert collapsed[0] > 3.0 and collapsed[2] < 0.15
    assert default[1] > 10 * collapsed[1] and default[0] < 1.0 and default[2] > 1.0


@pytest.mark.parametrize("backbone", ["voxel", "hashgrid"])
def test_fields_of_a_batch_match_fields_of_each_prompt(backbone: str) -> None:
    model = small_model(backbone).eval()  # eval: spectral norm's power iteration holds still
    embeddings = torch.randn(3, 4, 8)
    points = torch.rand(3, 50, 3) * 2 - 1
    together = model.fields(embeddings)(points)
    for index in range(3):
        alone = model.fields(embeddings[index : index + 1])(points[index : index + 1])
        assert torch.allclose(alone.density[0], together.density[index], atol=1e-5)
        assert torch.allclose(alone.albedo[0], together.albedo[index], atol=1e-6)
    with pytest.raises(ValueError, match=r"embeddings must be \[B, 4, 8\]"):
        model(torch.randn(2, 5, 8))


def test_bound_voxel_grid_is_the_owned_grid() -> None:
    """A voxel grid written by the mapping network renders, shades and regularises like an owned one."""
    owned = VoxelGridField(SMALL_VOXEL, num_objects=2)
    with torch.no_grad():
        owned.grid.normal_()
    bound = VoxelGridField(SMALL_VOXEL, num_objects=None).bind(owned.grid.detach().flatten(1))
    points = torch.rand(2, 40, 3) * 2 - 1
    assert torch.equal(owned(points).density, bound(points).density)
    assert torch.equal(owned(points).albedo, bound(points).albedo)
    assert torch.allclose(owned.normals(points), bound.normals(points))
    assert torch.equal(owned.total_variation(), bound.base.total_variation(params=bound.params))


@pytest.mark.parametrize("backbone", ["voxel", "hashgrid"])
def test_hub_round_trip(tmp_path, backbone: str) -> None:
    model = small_model(backbone, background=0.5, training_words=("a", "red", "cube"))
    model.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors"}
    loaded = ATT3D.from_pretrained(tmp_path)
    assert loaded.config == model.config
    embeddings = torch.randn(2, 4, 8)
    assert torch.equal(model.eval()(embeddings), loaded.eval()(embeddings))
    assert loaded.config.unknown_words("A red, shiny cube!") == ["shiny"]


def test_interpolant_sampling() -> None:
    rng = np.random.default_rng(0)
    first, second, alpha = sample_interpolants(rng, 1000, 7, InterpolantSampling("binary"))
    assert (first == second).all() and (alpha == 0).all() and set(first) == set(range(7))
    spread = {}
    for concentration in (0.2, 1.0, 5.0):
        _, _, alpha = sample_interpolants(rng, 4000, 7, InterpolantSampling("dirichlet", concentration))
        assert ((alpha >= 0) & (alpha <= 1)).all() and abs(alpha.mean() - 0.5) < 0.03
        spread[concentration] = np.mean((alpha > 0.1) & (alpha < 0.9))
    # Beta(κ, κ): mass in the middle grows with κ; uniform at κ = 1 puts 0.8 there
    assert spread[0.2] < spread[1.0] < spread[5.0] and abs(spread[1.0] - 0.8) < 0.03
    with pytest.raises(ValueError, match="concentration"):
        InterpolantSampling("dirichlet", 0.0)


def test_prompts_drawn_by_probabilities_and_uniformly_as_before() -> None:
    uniform = sample_interpolants(np.random.default_rng(3), 64, 7, InterpolantSampling("dirichlet", 0.5))
    reference = np.random.default_rng(3)  # the draws of runs made before probabilities existed
    first, second = reference.integers(7, size=64), reference.integers(7, size=64)
    assert (uniform[0] == first).all() and (uniform[1] == second).all()
    weights = np.array([0.5, 0.5, 0, 0, 0, 0, 0])
    first, second, _ = sample_interpolants(np.random.default_rng(0), 2000, 7, InterpolantSampling("dirichlet"), weights)
    assert set(first) | set(second) == {0, 1} and abs((first == 0).mean() - 0.5) < 0.05


def test_interpolate_ends_and_symmetry() -> None:
    a, b = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    alpha = torch.tensor([0.0, 0.3, 1.0])
    mixed = interpolate(a, b, alpha)
    assert torch.equal(mixed[0], a[0]) and torch.equal(mixed[2], b[2])
    assert torch.allclose(mixed, interpolate(b, a, 1 - alpha))  # m(c1, c2, α) = m(c2, c1, 1 − α)
