"""Masked evaluation: packing each object's selected points and scattering results back."""

from __future__ import annotations

import pytest
import torch

import nerf.render
from nerf.analytic import SDFField, sphere_sdf
from nerf.cameras import turntable
from nerf.render import RenderConfig, render
from nerf.sparse import evaluate_where, pack_rows


def test_pack_rows_lists_each_rows_selection_and_pads_with_unselected_entries() -> None:
    mask = torch.tensor([[True, False, True, True], [False, True, False, False], [False] * 4])
    indices, valid = pack_rows(mask)
    assert indices.tolist() == [[0, 2, 3], [1, 0, 2], [0, 1, 2]]
    assert valid.tolist() == [[True, True, True], [True, False, False], [False, False, False]]


def test_evaluate_where_equals_dense_evaluation_under_the_mask_and_passes_gradients() -> None:
    generator = torch.Generator().manual_seed(0)
    points = torch.randn(3, 50, 3, generator=generator, requires_grad=True)
    mask = torch.rand(3, 50, generator=generator) < torch.tensor([[0.9], [0.2], [0.0]])

    def function(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.square().sum(-1), torch.sin(x)

    sparse = evaluate_where(mask, points, function)
    dense = function(points)
    assert torch.allclose(sparse[0], dense[0] * mask, rtol=1e-6, atol=0)
    assert torch.allclose(sparse[1], dense[1] * mask.unsqueeze(-1), rtol=1e-6, atol=0)
    sparse[0].sum().backward()
    assert torch.allclose(points.grad, 2 * points.detach() * mask.unsqueeze(-1))


def test_normals_only_where_visible_do_not_change_a_shaded_image(monkeypatch: pytest.MonkeyPatch) -> None:
    field = SDFField([(sphere_sdf((0.0, 0.1, 0.0), 0.5), (0.8, 0.6, 0.2))], beta=0.01)
    cameras = turntable(2, width=24, height=24)
    config = RenderConfig(num_samples=96)
    visible_only = render(field, cameras, config, shading="lambertian")
    monkeypatch.setattr(nerf.render, "NORMAL_MIN_WEIGHT", -1.0)  # every sample gets a normal
    everywhere = render(field, cameras, config, shading="lambertian")
    assert torch.allclose(visible_only.rgb, everywhere.rgb, atol=2e-3)
