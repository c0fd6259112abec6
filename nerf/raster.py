"""A z-buffer rasterizer for coloured triangle meshes: turntables of an exported mesh, which show the very
`.glb` a user downloads and cost milliseconds a frame on a CPU (volume rendering the field costs seconds).

Pure PyTorch and vectorized over triangles: every triangle is expanded into the pixel centres of its
screen bounding box, those inside it keep their perspective-correct depth, and the nearest per pixel
wins. Meshes here have many small triangles (marching cubes), so the expansion stays small.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.cameras import Cameras


@dataclass
class Raster:
    """One view's result. `face [H, W]` is the nearest triangle per pixel (-1: none), `depth [H, W]`
    its distance along the view axis (inf: none), `bary [H, W, 3]` the perspective-correct barycentric
    weights of its three corners there."""

    face: Tensor
    depth: Tensor
    bary: Tensor

    @property
    def mask(self) -> Tensor:
        return self.face >= 0


def rasterize(vertices: Tensor, faces: Tensor, camera: Cameras, near: float = 1e-3) -> Raster:
    """Which triangle each pixel centre of one camera sees. `vertices [N, 3]` in world units, `faces
    [F, 3]` vertex indices; `camera` a single camera (shape `[]` or `[1]`)."""
    camera = camera.reshape(1)
    width, height = camera.width, camera.height
    pixels, depth = camera.project(vertices.unsqueeze(0).to(camera.c2w))
    pixels, depth = pixels[0], depth[0]
    corners, corner_depth = pixels[faces], depth[faces]  # [F, 3, 2], [F, 3]
    keep = (corner_depth > near).all(1)
    area = _edge(corners[:, 0], corners[:, 1], corners[:, 2])
    keep &= area.abs() > 1e-12
    index = torch.nonzero(keep).squeeze(1)
    corners, corner_depth, area = corners[index], corner_depth[index], area[index]
    # pixel centres (i + 0.5) inside each triangle's bounding box, clipped to the image
    low = torch.ceil(corners.amin(1) - 0.5).clamp_min(0).long()
    high = torch.floor(corners.amax(1) - 0.5).long()
    high[:, 0].clamp_(max=width - 1)
    high[:, 1].clamp_(max=height - 1)
    size = (high - low + 1).clamp_min(0)
    count = size[:, 0] * size[:, 1]
    triangle = torch.repeat_interleave(torch.arange(len(count), device=count.device), count)
    # per candidate pixel, its triangle's data, gathered at once: corners, their depths, area; box origin and width
    floats = torch.cat((corners.flatten(1), corner_depth, area.unsqueeze(1)), 1)[triangle]
    box = torch.cat((low, size[:, :1], (torch.cumsum(count, 0) - count).unsqueeze(1)), 1)[triangle]
    offset = torch.arange(len(triangle), device=count.device) - box[:, 3]
    px = box[:, 0] + offset % box[:, 2]
    py = box[:, 1] + torch.div(offset, box[:, 2], rounding_mode="floor")
    centre = torch.stack((px, py), 1).to(corners) + 0.5
    c = floats[:, :6].view(-1, 3, 2)
    weights = torch.stack((_edge(c[:, 1], c[:, 2], centre), _edge(c[:, 2], c[:, 0], centre),
                           _edge(c[:, 0], c[:, 1], centre)), 1) / floats[:, 9:]  # fmt: skip
    inside = (weights >= 0).all(1)
    triangle, weights, pixel = triangle[inside], weights[inside], (py * width + px)[inside]
    inverse = weights / floats[inside, 6:9]  # screen-space weights → perspective-correct ones
    z = 1.0 / inverse.sum(1)
    nearest = torch.full((height * width,), float("inf"), dtype=z.dtype, device=z.device)
    nearest.scatter_reduce_(0, pixel, z, reduce="amin")
    won = z <= nearest[pixel]
    winner = torch.full((height * width,), -1, dtype=torch.long, device=z.device)
    candidates = torch.arange(len(z), device=z.device)
    winner.scatter_reduce_(0, pixel[won], candidates[won], reduce="amax")  # ties: one of them, deterministically
    seen = winner >= 0
    face = torch.full((height * width,), -1, dtype=torch.long, device=z.device)
    face[seen] = index[triangle[winner[seen]]]
    bary = torch.zeros(height * width, 3, dtype=z.dtype, device=z.device)
    bary[seen] = inverse[winner[seen]] * z[winner[seen], None]
    return Raster(face.view(height, width), nearest.view(height, width), bary.view(height, width, 3))


def _edge(a: Tensor, b: Tensor, p: Tensor) -> Tensor:
    """Twice the signed area of triangle (a, b, p), each `[..., 2]`."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def shade_mesh(
    vertices: Tensor,
    faces: Tensor,
    colours: Tensor,
    normals: Tensor,
    cameras: Cameras,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    ambient: float = 0.35,
    supersample: int = 2,
) -> Tensor:
    """Images `[V, H, W, 3]` in [0, 1] of a mesh with vertex `colours [N, 3]` (in [0, 1]) and unit vertex
    `normals [N, 3]`, lit from each camera (diffuse plus `ambient`), anti-aliased by `supersample`²
    samples per pixel."""
    views = cameras.reshape(-1)
    fine = Cameras(views.c2w, views.fov_y, views.width * supersample, views.height * supersample)
    shade = torch.tensor(background, dtype=colours.dtype, device=colours.device)
    images = []
    for view in range(fine.shape[0]):
        raster = rasterize(vertices, faces, fine[view])
        seen = raster.mask.flatten()
        corners = faces[raster.face.flatten()[seen]]  # [M, 3]: the seen pixels' triangles
        weights = raster.bary.flatten(0, 1)[seen].unsqueeze(-1).to(colours)  # [M, 3, 1]
        albedo = (colours[corners] * weights).sum(1)
        normal = F.normalize((normals[corners] * weights).sum(1), dim=-1)
        towards_camera = F.normalize(fine.position[view].to(vertices) - (vertices[corners] * weights).sum(1), dim=-1)
        light = ambient + (1 - ambient) * (normal * towards_camera).sum(-1).abs().unsqueeze(-1)
        image = shade.expand(fine.height * fine.width, 3).clone()
        image[seen] = (albedo * light).clamp(0, 1)
        image = image.view(fine.height, fine.width, 3).permute(2, 0, 1).unsqueeze(0)
        images.append(F.avg_pool2d(image, supersample)[0].permute(1, 2, 0))
    return torch.stack(images)
