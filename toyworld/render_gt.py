"""Ground-truth renders of toy-world objects: sphere tracing of the exact signed distance.

Same cameras (`nerf.cameras`), same scene box and the same shading function (`nerf.render.shade`) as
the NeRF renderer, so a NeRF that has learned an object renders like its ground truth. Gives the
image, a hard silhouette mask, the depth along the ray and the surface normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.analytic import SDFField
from nerf.cameras import Cameras
from nerf.checks import check_int_range
from nerf.render import Shading, ray_box_intersection, shade

BACKGROUND = 0.8  # the toy world's light grey


@dataclass
class GroundTruthRender:
    rgb: Tensor  # [V, H, W, 3]
    mask: Tensor  # [V, H, W] bool, True where the ray hits the object
    depth: Tensor  # [V, H, W], distance from the camera centre along the ray; 0 where it misses
    normals: Tensor  # [V, H, W, 3], outward unit normals; 0 where it misses


def sdf_normals(field: SDFField, points: Tensor, eps: float = 1e-4) -> Tensor:
    """Outward unit normals `[N, 3]` of the exact SDF at points `[N, 3]` (central differences)."""
    steps = torch.eye(3, dtype=points.dtype, device=points.device) * eps
    shifted = torch.cat((points.unsqueeze(-2) + steps, points.unsqueeze(-2) - steps), dim=-2)  # [N, 6, 3]
    distance, _ = field.signed_distance(shifted)
    return F.normalize(distance[..., :3] - distance[..., 3:], dim=-1)


def _trace(field: SDFField, cameras: Cameras, max_steps: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Sphere-trace every pixel centre: (hit `[V, P]`, distance along the ray `[V, P]`, surface points
    `[V, P, 3]`, outward normals `[V, P, 3]`, zero where the ray misses)."""
    origins, directions = cameras.rays()
    near, far = ray_box_intersection(origins, directions, field.bound)
    t = near.clone()
    hit = torch.zeros_like(near, dtype=torch.bool)
    active = far > near
    for _ in range(max_steps):
        distance, _ = field.signed_distance(origins + t.unsqueeze(-1) * directions)
        hit |= active & (distance < 1e-4 * (1 + t))
        active &= ~hit & (t < far)
        if not active.any():
            break
        t = torch.where(active, t + distance.clamp(min=1e-5), t)
    points = origins + t.unsqueeze(-1) * directions
    normals = torch.zeros_like(points)
    normals[hit] = sdf_normals(field, points[hit])
    return hit, torch.where(hit, t, torch.zeros_like(t)), points, normals


@torch.no_grad()
def render_ground_truth(
    field: SDFField,
    cameras: Cameras,
    shading: Shading = "lambertian",
    light_directions: Tensor | None = None,
    ambient: float = 0.1,
    background: float = BACKGROUND,
    max_steps: int = 96,
    supersample: int = 1,
) -> GroundTruthRender:
    """Render `cameras [V]`; `light_directions [V, 3]` (towards the light) default to each camera's direction.

    `supersample` s averages the colours of s×s rays per pixel (anti-aliasing); mask, depth and
    normals are always those of the ray through the pixel's centre.
    """
    check_int_range(supersample, "supersample", 1, 4)
    check_int_range(max_steps, "max_steps", 8, 1024)
    if len(cameras.shape) != 1:
        raise ValueError(f"cameras must have shape [V], got {tuple(cameras.shape)}")
    if light_directions is None:
        light_directions = F.normalize(cameras.position, dim=-1)
    views, height, width = cameras.shape[0], cameras.height, cameras.width
    hit, depth, points, normals = _trace(field, cameras, max_steps)
    if supersample > 1:
        fine = Cameras(cameras.c2w, cameras.fov_y, width * supersample, height * supersample)
        colour_hit, _, colour_points, colour_normals = _trace(field, fine, max_steps)
    else:
        colour_hit, colour_points, colour_normals = hit, points, normals
    albedo = field(colour_points.reshape(1, -1, 3)).albedo.view_as(colour_points)
    light = light_directions.view(views, 1, 3).expand_as(colour_points)
    colour = shade(albedo, colour_normals, light, shading, ambient)
    rgb = torch.where(colour_hit.unsqueeze(-1), colour, torch.full_like(colour, background))
    rgb = rgb.view(views, height, supersample, width, supersample, 3).mean(dim=(2, 4))
    return GroundTruthRender(
        rgb=rgb,
        mask=hit.view(views, height, width),
        depth=depth.view(views, height, width),
        normals=normals.view(views, height, width, 3),
    )
