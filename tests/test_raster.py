"""The mesh rasterizer against a float64 ray caster (Möller–Trumbore per pixel and triangle), and the
turntable of a mesh it draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from nerf.cameras import Cameras, look_at, turntable
from nerf.raster import rasterize, shade_mesh
from nerf.video import mesh_turntable


def scene() -> trimesh.Trimesh:
    """A box and a sphere that overlaps it in depth, turned so no edge is aligned with the pixels."""
    box = trimesh.creation.box((0.8, 0.6, 0.7))
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.35)
    ball.apply_translation((0.35, 0.2, 0.3))
    mesh = trimesh.util.concatenate([box, ball])
    mesh.apply_transform(trimesh.transformations.euler_matrix(0.3, 0.5, 0.1))
    return mesh


def camera(width: int = 40, height: int = 32) -> Cameras:
    eye = torch.tensor([[1.2, 0.9, 2.4]])
    return Cameras(look_at(eye, torch.zeros(1, 3)), torch.tensor([0.7]), width, height)


def ray_cast(mesh: trimesh.Trimesh, view: Cameras) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel centre, float64: (nearest face or -1, its depth along the view axis, the smallest
    barycentric coordinate of the hit: near 0 means the ray grazes an edge)."""
    origins, directions = view.rays()
    origin = origins[0, 0].double().numpy()
    rays = directions[0].double().numpy()
    forward = -view.c2w[0, :3, 2].double().numpy()
    corners = np.asarray(mesh.vertices, dtype=np.float64)[np.asarray(mesh.faces)]
    face = np.full(len(rays), -1)
    depth = np.full(len(rays), np.inf)
    margin = np.full(len(rays), np.inf)
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    e1, e2, s = b - a, c - a, origin - a
    for pixel, direction in enumerate(rays):  # every triangle at once, one pixel at a time
        p = np.cross(direction, e2)
        det = np.einsum("fk,fk->f", e1, p)
        safe = np.where(np.abs(det) < 1e-12, np.inf, det)
        u = np.einsum("fk,fk->f", s, p) / safe
        q = np.cross(s, e1)
        v = (q @ direction) / safe
        t = np.einsum("fk,fk->f", e2, q) / safe
        hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        if hit.any():
            nearest = np.flatnonzero(hit)[np.argmin(t[hit])]
            face[pixel], depth[pixel] = nearest, t[nearest] * (direction @ forward)
            margin[pixel] = min(u[nearest], v[nearest], 1 - u[nearest] - v[nearest])
    return face, depth, margin


def test_rasterizer_sees_what_a_float64_ray_caster_sees():
    mesh, view = scene(), camera()
    raster = rasterize(torch.as_tensor(mesh.vertices, dtype=torch.float32), torch.as_tensor(mesh.faces), view)
    face, depth, margin = ray_cast(mesh, view)
    clear = margin.reshape(view.height, view.width) > 1e-3  # rays that graze an edge may go either way
    got = raster.face.numpy()
    assert (face >= 0).sum() > 200 and (face < 0).sum() > 200  # the objects fill part of the frame
    assert np.array_equal(got[clear], face.reshape(got.shape)[clear])
    hit = clear & (got >= 0)
    np.testing.assert_allclose(raster.depth.numpy()[hit], depth.reshape(got.shape)[hit], rtol=1e-4)
    bary = raster.bary.numpy()[hit]
    assert np.allclose(bary.sum(-1), 1, atol=1e-4) and (bary >= -1e-6).all()


def test_barycentric_weights_reproduce_the_hit_point():
    mesh, view = scene(), camera(24, 24)
    vertices = torch.as_tensor(mesh.vertices, dtype=torch.float32)
    raster = rasterize(vertices, torch.as_tensor(mesh.faces), view)
    seen = raster.mask
    corners = vertices[torch.as_tensor(mesh.faces)][raster.face[seen]]  # [M, 3, 3]
    points = (raster.bary[seen].unsqueeze(-1) * corners).sum(1)
    origins, directions = view.rays()
    expected = origins[0] + directions[0] * (raster.depth.flatten() / (directions[0] @ -view.c2w[0, :3, 2])).unsqueeze(
        -1
    )
    assert torch.allclose(points, expected.view(24, 24, 3)[seen], atol=1e-4)


def test_shading_paints_the_vertex_colours_over_the_background():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    colours = torch.tensor([0.9, 0.1, 0.1]).expand(len(box.vertices), 3)
    cameras = turntable(3, 20.0, 3.0, 40.0, 32, 32)
    vertices, normals = (torch.as_tensor(a, dtype=torch.float32) for a in (box.vertices, box.vertex_normals))
    images = shade_mesh(vertices, torch.as_tensor(box.faces), colours, normals, cameras, background=(0.0, 0.0, 1.0))
    centre, corner = images[:, 16, 16], images[:, 0, 0]
    assert torch.allclose(corner, torch.tensor([0.0, 0.0, 1.0]).expand(3, 3))
    assert (centre[:, 0] > 0.3).all() and torch.allclose(centre[:, 1], centre[:, 2]) and (centre[:, 1] < 0.1).all()


def test_a_mesh_turntable_frames_the_object_and_refuses_an_empty_mesh():
    box = trimesh.creation.box((2.0, 1.0, 1.0))
    box.visual.vertex_colors = np.tile([20, 200, 20, 255], (len(box.vertices), 1)).astype(np.uint8)
    frames = mesh_turntable(box, num_frames=4, size=48, background=(1.0, 1.0, 1.0))
    assert frames.shape == (4, 48, 48, 3) and frames.dtype == np.uint8
    covered = (frames != 255).any(-1).mean(axis=(1, 2))
    assert (covered > 0.15).all() and (frames[:, 0, 0] == 255).all()  # fills a good part, corners stay clear
    with pytest.raises(ValueError, match="empty"):
        mesh_turntable(trimesh.Trimesh(), num_frames=2, size=32)
