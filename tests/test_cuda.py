"""The same core on CUDA gives the CPU's results (skipped where there is no GPU)."""

from __future__ import annotations

import pytest
import torch

from nerf.analytic import demo_field
from nerf.cameras import turntable
from nerf.encoding import HashGridConfig, hash_grid_encode
from nerf.export import ExportConfig, extract_mesh
from nerf.field import HashGridField
from nerf.render import RenderConfig, render

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_hash_grid_on_cuda_matches_cpu() -> None:
    config = HashGridConfig()
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4096, 3, generator=generator)
    params = torch.randn(2, config.n_params, generator=generator)
    expected = hash_grid_encode(x, params, config)
    assert torch.allclose(hash_grid_encode(x.cuda(), params.cuda(), config).cpu(), expected, rtol=1e-4, atol=1e-5)


def test_render_and_export_on_cuda_match_cpu() -> None:
    torch.manual_seed(0)
    field = HashGridField()
    cameras = turntable(2, width=16, height=16)
    expected = render(field, cameras, RenderConfig(num_samples=32), shading="lambertian").rgb
    on_gpu = render(field.cuda(), cameras.to("cuda"), RenderConfig(num_samples=32), shading="lambertian").rgb
    assert torch.allclose(on_gpu.cpu(), expected, atol=1e-4)
    mesh = extract_mesh(demo_field().cuda(), ExportConfig(resolution=64, threshold=demo_field().surface_density))
    assert mesh.is_watertight
