"""The density iso-level at which a field's surface lies where its renders show it.

A fixed density threshold misjudges soft fields: score distillation may spread an object's density
thinly (a peak of 5 over 0.7 units is still opaque), and a threshold of 10 then finds nothing. The
level here is measured instead: a pixel lies inside the silhouette of the level set {density > l}
when its ray meets a density above l somewhere, i.e. when the ray's peak density exceeds l, so the
level whose silhouettes best match the rendered opacity masks follows from sorting the rays' peaks.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from nerf.cameras import Cameras
from nerf.field import RadianceField
from nerf.occupancy import OccupancyGrid
from nerf.render import RenderConfig, composite_weights, ray_samples
from nerf.sparse import evaluate_where


def ray_densities(
    field: RadianceField, cameras: Cameras, config: RenderConfig, occupancy: OccupancyGrid | None = None
) -> Iterator[tuple[Tensor, Tensor]]:
    """The density `[B, r, S]` at every sample of the rays from `cameras` `[V]` (each object's), with each
    sample's segment length `[B, r, S]`, a chunk of `config.chunk_rays` rays at a time; with `occupancy`, the
    field is queried only in its occupied cells, as `render` does."""
    if len(cameras.shape) != 1:
        raise ValueError(f"cameras must have shape [V], got {tuple(cameras.shape)}")
    origins, directions = (rays.reshape(1, -1, 3).expand(field.num_objects or 1, -1, -1) for rays in cameras.rays())
    for start in range(0, origins.shape[1], config.chunk_rays):
        o, d = origins[:, start : start + config.chunk_rays], directions[:, start : start + config.chunk_rays]
        t, step, points = ray_samples(o, d, field.bound, config)
        if occupancy is None:
            density = field.query(points).density.view(t.shape)
        else:
            density = evaluate_where(occupancy.occupied(points), points, lambda p: (field.query(p).density,))[0]
            density = density.view(t.shape)
        yield density, step.expand(t.shape)


@torch.no_grad()
def silhouette_iso_level(
    field: RadianceField,
    cameras: Cameras,
    config: RenderConfig = RenderConfig(num_samples=128),
    opacity_cut: float = 0.5,
    opacity: Tensor | None = None,
    occupancy: OccupancyGrid | None = None,
) -> Tensor:
    """Per object `[B]`: the density level whose silhouettes from `cameras` `[V]` have the best IoU with
    the rendered masks (opacity > `opacity_cut`); inf for an object whose renders show nothing.

    `opacity` `[B, V, H, W]`: the field's rendered opacity from these cameras with this config, if
    the caller has it already (it is the same in every shading mode); otherwise it is composited here
    from the same samples the peaks come from (one pass over the field, not a render and a pass).
    `occupancy`: the field is queried only in its occupied cells (empty space holds no peak and adds
    no opacity), as `render` does with one.
    """
    peaks, opacities = [], []
    for density, steps in ray_densities(field, cameras, config, occupancy):
        peaks.append(density.amax(dim=-1))
        if opacity is None:  # composited as `render` does
            opacities.append(composite_weights(density, steps).sum(dim=-1))
    peaks = torch.cat(peaks, dim=1)  # [B, V*H*W]
    masks = (torch.cat(opacities, dim=1) if opacity is None else opacity.flatten(1)) > opacity_cut
    batch = masks.shape[0]
    levels = torch.full((batch,), float("inf"))
    for index in range(batch):
        inside = masks[index]
        if not inside.any():
            continue
        peak, order = peaks[index].sort(descending=True)
        hits = inside[order].float().cumsum(0)  # rendered-opaque rays among the k highest peaks
        counts = torch.arange(1, len(peak) + 1, dtype=hits.dtype, device=hits.device)
        best = int((hits / (counts + inside.sum() - hits)).argmax())  # level just below the best k-th peak
        below = peak[best + 1] if best + 1 < len(peak) else torch.zeros(())
        levels[index] = float((peak[best] + below) / 2)
    return levels


@torch.no_grad()
def opacity_crossing_level(
    field: RadianceField,
    cameras: Cameras,
    config: RenderConfig = RenderConfig(num_samples=256),
    quantile: float = 0.25,
    opacity_cut: float = 0.5,
) -> float:
    """The density at which the rays from `cameras` `[V]` first reach `opacity_cut` accumulated opacity, the
    `quantile` of it over the rays that do (inf when none does); one object.

    For a field whose density was fitted to a sharp object's opacity (PIL's fits to the true field), this is
    where the object's surface lies: the silhouette level sits where the thin soft shell around every surface
    has just begun, which fattens legs, rims and handles by that shell's width. A low quantile (the
    thinnest parts' rays reach the cut at lower densities than the broad faces') keeps thin parts whole."""
    if not 0 <= quantile <= 1:
        raise ValueError(f"quantile must lie in [0, 1], got {quantile}")
    crossings = []
    for density, steps in ray_densities(field, cameras, config):
        opacity = composite_weights(density, steps).cumsum(dim=-1)  # after each sample
        reached = opacity >= opacity_cut
        first = reached.float().argmax(dim=-1, keepdim=True)  # the first sample at the cut
        crossings.append(density.gather(-1, first).squeeze(-1)[reached.any(dim=-1)])
    levels = torch.cat(crossings)
    return float(levels.quantile(quantile)) if len(levels) else float("inf")
