"""Fitting a field to a known field by 3D supervision (distillation): a reference field gives density
and albedo at random points and the trainable one regresses them. Used for the demo and benchmarks
(a realistic trained hash grid, in seconds) and as the fast option of fitting NeRFs to toy objects.

Density is compared as the opacity of a short segment, `1 - exp(-σ δ)`: bounded in [0, 1], it
weighs the surface and not the huge but irrelevant values deep inside; albedo counts where the
reference is opaque.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from nerf.checks import check_int_range
from nerf.field import RadianceField

SEGMENT = 0.1  # δ: opacity is compared over a segment of this length (world units), a few grid cells


def segment_opacity(density: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.exp(-density * SEGMENT)


def fit_field(
    field: RadianceField,
    reference: RadianceField,
    steps: int = 300,
    points_per_step: int = 1 << 15,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Optimise `field` (B objects) to match `reference` at uniform random points of the box. Returns the losses."""
    check_int_range(steps, "steps", 1, 1_000_000)
    batch = field.num_objects or reference.num_objects or 1
    generator = torch.Generator().manual_seed(seed)
    device = field.device
    optimizer = torch.optim.Adam(field.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-15)
    losses = []
    for _ in tqdm(range(steps), desc="fitting field", disable=not progress):
        points = (torch.rand(batch, points_per_step, 3, generator=generator) * 2 - 1).to(device) * field.bound
        with torch.no_grad():
            target = reference(points)
            target_opacity = segment_opacity(target.density)
        prediction = field(points)
        opacity_error = (segment_opacity(prediction.density) - target_opacity).square().mean()
        albedo_error = (target_opacity.unsqueeze(-1) * (prediction.albedo - target.albedo).square()).mean()
        loss = opacity_error + albedo_error
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
