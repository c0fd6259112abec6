"""Volume rendering of B radiance fields × V views: rays, stratified samples inside the scene box,
alpha compositing over a background, and the shading modes of score distillation (albedo,
textureless, lambertian under a random light).

Sample bins tile [near, far] exactly (each sample's step is its bin's width), so a homogeneous
medium composites to its analytic transmittance exp(-σ·length) with any number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nerf import random
from nerf.background import ConstantBackground
from nerf.cameras import Cameras
from nerf.checks import check_choice, check_float_tensor, check_int_range
from nerf.field import NormalMethod, RadianceField
from nerf.occupancy import OccupancyGrid
from nerf.random import Generators
from nerf.sparse import evaluate_where

Shading = Literal["albedo", "textureless", "lambertian"]
SHADINGS: tuple[str, ...] = ("albedo", "textureless", "lambertian")
NORMAL_MIN_WEIGHT = 1e-4  # samples that add less to their pixel get no normal


@dataclass(frozen=True)
class RenderConfig:
    """How rays are sampled and shaded."""

    num_samples: int = 64  # samples per ray across the scene box
    stratified: bool = False  # jitter each sample within its bin (training); False: bin centres
    chunk_rays: int = 4096  # rays per object evaluated at once: bounds memory when no gradient is kept
    ambient: float = 0.1  # light that reaches every point, the rest is diffuse from the light direction
    normal_method: NormalMethod = "finite_difference"
    normal_eps: float = 1e-2
    # Shade with normals but send no gradient through them: shading then still looks like the images a
    # diffusion model knows, while the density is shaped by silhouettes and occlusion alone. A voxel
    # grid's central-difference normals otherwise let score distillation write checkerboard "hair"
    # into the density (docs/DREAMFUSION.md).
    detach_normals: bool = False

    def __post_init__(self) -> None:
        check_int_range(self.num_samples, "num_samples", 1, 4096)
        check_int_range(self.chunk_rays, "chunk_rays", 1, 1 << 24)
        if not 0.0 <= self.ambient <= 1.0:
            raise ValueError(f"ambient must be in [0, 1], got {self.ambient}")


@dataclass
class RenderOutput:
    rgb: Tensor  # [B, V, H, W, 3]
    opacity: Tensor  # [B, V, H, W], accumulated alpha in [0, 1]
    depth: Tensor  # [B, V, H, W], expected distance from the camera to where the ray stops; 0 where empty
    normals: Tensor | None  # [B, V, H, W, 3], opacity-weighted world normals; None unless asked or shaded


def ray_box_intersection(origins: Tensor, directions: Tensor, bound: float) -> tuple[Tensor, Tensor]:
    """Where rays `[..., 3]` enter and leave the box [-bound, bound]^3: (near, far) `[...]`, near = far on a miss."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t0 = (-bound - origins) / safe
    t1 = (bound - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp(min=0.0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    return near, torch.maximum(far, near)


def ray_samples(
    origins: Tensor, directions: Tensor, bound: float, config: RenderConfig, generator: Generators = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Where rays `[B, r, 3]` are sampled inside the box: distances `[B, r, S]`, each sample's step
    `[B, r, 1]` and the points `[B, r*S, 3]` (bin centres, or jittered in their bins if stratified)."""
    samples = config.num_samples
    near, far = ray_box_intersection(origins, directions, bound)  # [B, r]
    step = ((far - near) / samples).unsqueeze(-1)
    offset = (
        random.rand(*near.shape, samples, generator=generator).to(origins)
        if config.stratified
        else torch.full((*near.shape, samples), 0.5, dtype=origins.dtype, device=origins.device)
    )
    t = near.unsqueeze(-1) + (torch.arange(samples, dtype=origins.dtype, device=origins.device) + offset) * step
    points = (origins.unsqueeze(-2) + t.unsqueeze(-1) * directions.unsqueeze(-2)).flatten(1, 2)
    return t, step, points


def composite_weights(density: Tensor, steps: Tensor) -> Tensor:
    """Alpha-compositing weights front to back along the last axis: w_i = T_i (1 - exp(-σ_i δ_i)).

    density, steps (each sample's segment length) `[..., S]` → weights `[..., S]`; their sum is the opacity.
    """
    optical_depth = density * steps
    alpha = 1.0 - torch.exp(-optical_depth)
    # exclusive cumulative sum: transmittance before sample i, computed in log space (stabler than cumprod)
    transmittance = torch.exp(-(torch.cumsum(optical_depth, dim=-1) - optical_depth))
    return alpha * transmittance


def shade(albedo: Tensor, normals: Tensor | None, light: Tensor | None, shading: Shading, ambient: float) -> Tensor:
    """Colour of samples `[..., 3]`: albedo as is, or lambertian/textureless under a light direction `[..., 3]`."""
    if shading == "albedo":
        return albedo
    diffuse = (normals * light).sum(-1, keepdim=True).clamp(min=0.0)
    intensity = ambient + (1.0 - ambient) * diffuse
    return intensity * albedo if shading == "lambertian" else intensity.expand_as(albedo)


def sample_light_directions(cameras: Cameras, spread: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """DreamFusion's random light: near the camera's side of the object. Unit vectors `[*S, 3]` towards the light."""
    towards_camera = F.normalize(cameras.position, dim=-1)
    noise = spread * torch.randn(towards_camera.shape, generator=generator).to(towards_camera)
    return F.normalize(towards_camera + noise, dim=-1)


def _query(field: RadianceField, points: Tensor, occupied: Tensor | None) -> tuple[Tensor, Tensor]:
    """Density `[B, N]` and albedo `[B, N, 3]` at points `[B, N, 3]`; zero where not `occupied`."""

    def query(packed: Tensor) -> tuple[Tensor, Tensor]:
        out = field(packed)
        return out.density, out.albedo

    return query(points) if occupied is None else evaluate_where(occupied, points, query)


def _normals(field: RadianceField, points: Tensor, weights: Tensor, config: RenderConfig) -> Tensor:
    """Normals `[B, N, 3]` at the samples whose compositing weight `[B, N]` is visible; zero elsewhere.

    Normals cost six extra field evaluations per sample with finite differences; samples that add
    less than `NORMAL_MIN_WEIGHT` to a pixel cannot change its shading, so they go without.
    """
    visible = weights.detach() > NORMAL_MIN_WEIGHT
    with torch.set_grad_enabled(torch.is_grad_enabled() and not config.detach_normals):
        (normals,) = evaluate_where(
            visible, points, lambda packed: (field.normals(packed, config.normal_method, config.normal_eps),)
        )
    return normals


def render_rays(
    field: RadianceField,
    origins: Tensor,
    directions: Tensor,
    config: RenderConfig = RenderConfig(),
    shading: Shading = "albedo",
    light: Tensor | None = None,
    background: nn.Module | None = None,
    occupancy: OccupancyGrid | None = None,
    want_normals: bool = False,
    generator: Generators = None,
) -> dict[str, Tensor]:
    """Render rays `[B, R, 3]` (directions unit) of B objects; `light [B, R, 3]` for shaded modes.

    Returns rgb `[B, R, 3]`, opacity `[B, R]`, depth `[B, R]` and, if computed, normals `[B, R, 3]`.
    """
    background = background if background is not None else ConstantBackground(1.0)
    need_normals = want_normals or shading != "albedo"
    results: dict[str, list[Tensor]] = {"rgb": [], "opacity": [], "depth": [], "normals": []}
    for start in range(0, origins.shape[1], config.chunk_rays):
        o = origins[:, start : start + config.chunk_rays]
        d = directions[:, start : start + config.chunk_rays]
        t, step, points = ray_samples(o, d, field.bound, config, generator)
        occupied = occupancy.occupied(points) if occupancy is not None else None
        density, albedo = _query(field, points, occupied)
        shape = t.shape
        weights = composite_weights(density.view(shape), step.expand(shape))
        sample_normals = None
        if need_normals:
            sample_normals = _normals(field, points, weights.flatten(1), config).view(*shape, 3)
        sample_light = None if light is None else light[:, start : start + config.chunk_rays].unsqueeze(-2)
        colour = shade(albedo.view(*shape, 3), sample_normals, sample_light, shading, config.ambient)
        rgb = (weights.unsqueeze(-1) * colour).sum(dim=-2)
        opacity = weights.sum(dim=-1)
        results["rgb"].append(rgb + (1.0 - opacity).unsqueeze(-1) * background(d))
        results["opacity"].append(opacity)
        results["depth"].append((weights * t).sum(dim=-1) / opacity.clamp(min=1e-6) * (opacity > 1e-6))
        if need_normals:
            results["normals"].append((weights.unsqueeze(-1) * sample_normals).sum(dim=-2))
    return {key: torch.cat(value, dim=1) for key, value in results.items() if value}


def render(
    field: RadianceField,
    cameras: Cameras,
    config: RenderConfig = RenderConfig(),
    shading: Shading = "albedo",
    light_directions: Tensor | None = None,
    background: nn.Module | None = None,
    occupancy: OccupancyGrid | None = None,
    want_normals: bool = False,
    generator: Generators = None,
) -> RenderOutput:
    """Render B objects × V views.

    cameras: `[V]` (the same views of every object) or `[B, V]`.
    light_directions: unit vectors towards the light `[B, V, 3]` (or `[V, 3]`) for "lambertian" and
    "textureless"; when omitted the light comes from each camera's side of the object.
    """
    check_choice(shading, "shading", SHADINGS)
    if len(cameras.shape) not in (1, 2):
        raise ValueError(f"cameras must have shape [V] or [B, V], got {tuple(cameras.shape)}")
    batch = cameras.shape[0] if len(cameras.shape) == 2 else (field.num_objects or 1)
    if field.num_objects is not None and batch != field.num_objects:
        raise ValueError(f"cameras are for {batch} objects but the field holds {field.num_objects}")
    if len(cameras.shape) == 1:
        cameras = Cameras(
            cameras.c2w.expand(batch, -1, 4, 4), cameras.fov_y.expand(batch, -1), cameras.width, cameras.height
        )
    views, height, width = cameras.shape[1], cameras.height, cameras.width
    pixels = height * width
    origins, directions = cameras.rays()  # [B, V, H*W, 3]
    light = None
    if shading != "albedo":
        if light_directions is None:
            light_directions = F.normalize(cameras.position, dim=-1)
        check_float_tensor(light_directions, "light_directions", last_dim=3)
        light = light_directions.expand(batch, views, 3).unsqueeze(2).expand(-1, -1, pixels, -1).reshape(batch, -1, 3)
    out = render_rays(
        field,
        origins.reshape(batch, -1, 3),
        directions.reshape(batch, -1, 3),
        config,
        shading,
        light,
        background,
        occupancy,
        want_normals,
        generator,
    )
    image = (batch, views, height, width)
    return RenderOutput(
        rgb=out["rgb"].view(*image, 3),
        opacity=out["opacity"].view(image),
        depth=out["depth"].view(image),
        normals=out["normals"].view(*image, 3) if "normals" in out else None,
    )
