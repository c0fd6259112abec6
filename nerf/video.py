"""Turntable renders of a field or of an exported mesh, writing frames as MP4 or GIF, and tiling images
into a PNG."""

from __future__ import annotations

from pathlib import Path

import imageio.v2
import imageio.v3 as iio
import numpy as np
import torch
import trimesh
from PIL import Image

from nerf.cameras import VIEW_DISTANCE, VIEW_FOV_DEG, orbit_cameras, turntable
from nerf.checks import check_int_range
from nerf.field import BoundField, RadianceField
from nerf.files import atomic_path
from nerf.occupancy import OccupancyGrid
from nerf.raster import shade_mesh
from nerf.render import RenderConfig, Shading, render

VIDEO_FORMATS = (".mp4", ".gif")


@torch.no_grad()
def render_turntable(
    field: RadianceField,
    num_frames: int = 36,
    size: int = 256,
    elevation_deg: float = 20.0,
    distance: float = VIEW_DISTANCE,
    fov_y_deg: float = VIEW_FOV_DEG,
    shading: Shading = "lambertian",
    config: RenderConfig = RenderConfig(num_samples=128),
    object_index: int = 0,
) -> np.ndarray:
    """Frames `[F, size, size, 3]` uint8 of one object orbiting once, lit from the camera's side."""
    check_int_range(size, "size", 16, 2048)
    batch = field.num_objects or 1
    check_int_range(object_index, "object_index", 0, batch - 1)
    cameras = turntable(num_frames, elevation_deg, distance, fov_y_deg, size, size)
    device = field.device
    occupancy = OccupancyGrid.from_field(field, batch)
    frames = []
    for frame in range(num_frames):  # one view at a time keeps memory flat for long videos
        out = render(field, cameras[frame : frame + 1].to(device), config, shading=shading, occupancy=occupancy)
        frames.append((out.rgb[object_index, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
    return np.stack(frames)


@torch.no_grad()
def mesh_turntable(
    mesh: trimesh.Trimesh,
    num_frames: int = 24,
    size: int = 256,
    elevation_deg: float = 20.0,
    fov_y_deg: float = 40.0,
    fill: float = 0.85,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> np.ndarray:
    """Frames `[F, size, size, 3]` uint8 of a mesh with vertex colours orbiting once, framed so that its
    bounding sphere fills `fill` of the frame, lit from the camera's side: what the `.glb` looks like."""
    check_int_range(size, "size", 16, 2048)
    if len(mesh.faces) == 0:
        raise ValueError("the mesh is empty: nothing to render")
    vertices = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32)
    centre = vertices.amin(0).add(vertices.amax(0)).mul(0.5)
    radius = float((vertices - centre).norm(dim=1).max())
    distance = radius / (fill * np.tan(np.radians(fov_y_deg) / 2))
    colours = torch.as_tensor(np.asarray(mesh.visual.vertex_colors)[:, :3], dtype=torch.float32) / 255
    normals = torch.as_tensor(np.asarray(mesh.vertex_normals), dtype=torch.float32)
    faces = torch.as_tensor(np.asarray(mesh.faces), dtype=torch.long)
    cameras = turntable(num_frames, elevation_deg, distance, fov_y_deg, size, size)
    images = shade_mesh(vertices - centre, faces, colours, normals, cameras, background)
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def save_video(frames: np.ndarray, path: str | Path, fps: int = 12) -> Path:
    """Write frames `[F, H, W, 3]` uint8 as `.mp4` (H.264, plays in browsers) or looping `.gif`."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_FORMATS:
        raise ValueError(f"video file must end in one of {', '.join(VIDEO_FORMATS)}, got {path.name!r}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty uint8 array [F, H, W, 3], got {frames.dtype} {frames.shape}")
    check_int_range(fps, "fps", 1, 120)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, frames, extension=".gif", duration=1000 / fps, loop=0)
    else:
        # H.264 in yuv420p needs even sides: pad by one edge pixel where odd
        height, width = frames.shape[1:3]
        frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        imageio.v2.mimwrite(
            path, list(frames), format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1
        )
    return path


def save_image_grid(images: torch.Tensor, path: str | Path) -> Path:
    """Tile images `[rows, cols, H, W, 3]` with values in [0, 1] into one PNG (previews, sample grids).
    Written atomically: a reader (the app's live preview) never sees half a file."""
    if images.ndim != 5 or images.shape[-1] != 3:
        raise ValueError(f"images must be [rows, cols, H, W, 3], got shape {tuple(images.shape)}")
    from torchvision.utils import make_grid  # imported on use: the app's startup never needs it

    cols = images.shape[1]
    pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    grid = make_grid(pixels.flatten(0, 1).permute(0, 3, 1, 2), nrow=cols, padding=0).permute(1, 2, 0)
    path = Path(path)
    with atomic_path(path) as partial:
        Image.fromarray(np.ascontiguousarray(grid.numpy())).save(partial, format="PNG")
    return path


@torch.no_grad()
def sweep_frames(field: BoundField, size: int = 128, turns: float = 1.0) -> np.ndarray:
    """Frames `[F, size, size, 3]` uint8 of a batch of F objects (an interpolation's steps), object f
    seen from a camera that orbits `turns` times over the F frames."""
    count = field.num_objects
    azimuth = torch.arange(count, dtype=torch.float32) * (360.0 * turns / count)
    cameras = orbit_cameras(azimuth, 20.0, VIEW_DISTANCE, VIEW_FOV_DEG, size, size).reshape(count, 1).to(field.device)
    frames = []
    for start in range(0, count, 8):  # a few objects at a time keeps memory flat
        part = field.select(slice(start, start + 8))
        out = render(part, cameras[start : start + 8], RenderConfig(num_samples=128), "lambertian")
        frames.append((out.rgb[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())
    return np.concatenate(frames)
