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

    `supersample` s traces s×s rays per pixel and averages their colours (anti-aliasing); the mask,
    depth and normals are those of one ray of each pixel's block, the one nearest its centre.
    """
    check_int_range(supersample, "supersample", 1, 4)
    check_int_range(max_steps, "max_steps", 8, 1024)
    if len(cameras.shape) != 1:
        raise ValueError(f"cameras must have shape [V], got {tuple(cameras.shape)}")
    fine = Cameras(cameras.c2w, cameras.fov_y, cameras.width * supersample, cameras.height * supersample)
    origins, directions = fine.rays()  # [V, P, 3]
    views, pixels = origins.shape[:2]
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
    albedo = field(points.reshape(1, -1, 3)).albedo.view(views, pixels, 3)
    if light_directions is None:
        light_directions = F.normalize(cameras.position, dim=-1)
    light = light_directions.view(views, 1, 3).expand(-1, pixels, -1)
    colour = shade(albedo, normals, light, shading, ambient)
    rgb = torch.where(hit.unsqueeze(-1), colour, torch.full_like(colour, background))
    size = (views, cameras.height, supersample, cameras.width, supersample)
    rgb = rgb.view(*size, 3).mean(dim=(2, 4))
    centre = supersample // 2

    def pick(value: Tensor) -> Tensor:
        return value.view(*size, *value.shape[2:])[:, :, centre, :, centre]

    depth = torch.where(hit, t, torch.zeros_like(t))
    return GroundTruthRender(rgb=rgb, mask=pick(hit), depth=pick(depth), normals=pick(normals))
