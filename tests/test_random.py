"""Per-object random draws: a batch split in parts draws what the whole batch draws, row for row, so a
training step split over processes renders and scores exactly what one process would."""

from __future__ import annotations

import pytest
import torch

from guidance.sds import SDSConfig, sds_step
from nerf import random
from nerf.cameras import sample_cameras
from nerf.field import VoxelGridField, VoxelGridFieldConfig
from nerf.random import object_generators
from nerf.render import RenderConfig, render


def test_rows_do_not_depend_on_the_split() -> None:
    whole = random.rand(4, 3, 5, generator=object_generators(7, range(4)))
    parts = [random.rand(2, 3, 5, generator=object_generators(7, rows)) for rows in (range(2), range(2, 4))]
    assert torch.equal(whole, torch.cat(parts))
    assert torch.equal(random.randint(0, 9, 4, object_generators(1, range(4)))[2:],
                       random.randint(0, 9, 2, object_generators(1, [2, 3])))  # fmt: skip
    assert not torch.equal(whole[0], whole[1])  # rows are independent draws
    with pytest.raises(ValueError, match="one generator per row"):
        random.randn(3, 2, generator=object_generators(0, range(2)))


def test_stratified_render_of_a_split_batch_is_the_whole_render() -> None:
    field = VoxelGridField(VoxelGridFieldConfig(resolution=8), num_objects=4)
    with torch.no_grad():
        field.grid.normal_()
    cameras = sample_cameras(4, 8, 8, generator=torch.Generator().manual_seed(0)).reshape(4, 1)
    config = RenderConfig(num_samples=16, stratified=True, chunk_rays=20)  # several chunks per object
    whole = render(field, cameras, config, generator=object_generators(3, range(4))).rgb
    half = VoxelGridField(VoxelGridFieldConfig(resolution=8), num_objects=None).bind(field.grid[2:].flatten(1))
    part = render(half, cameras[2:], config, generator=object_generators(3, [2, 3])).rgb
    assert torch.allclose(whole[2:], part, atol=1e-6)


def test_sds_noise_and_timesteps_follow_each_image() -> None:
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    alphas = torch.linspace(0.99, 0.01, 100)

    def predict(noisy, timesteps):
        return noisy * 0.5, noisy * 0.1

    whole = sds_step(x, predict, alphas, SDSConfig(7.5), object_generators(5, range(4)))
    part = sds_step(x[2:], predict, alphas, SDSConfig(7.5), object_generators(5, [2, 3]))
    assert torch.equal(whole.timesteps[2:], part.timesteps) and torch.allclose(whole.grad[2:], part.grad)
