"""Pinhole cameras: look-at poses, intrinsics, projection, rays, DreamFusion-style random views,
view labels for view-dependent prompts, and turntable orbits.

Conventions, shared with the renderer, the exporter and the toy world's ground-truth renderer:
- world: right-handed, +Y up, an object's front faces +Z (glTF's frame);
- camera (OpenGL): looks down its own -Z, +Y up, +X right; `c2w` is camera-to-world `[*S, 4, 4]`;
- pixels: u to the right, v down, origin at the top-left corner, pixel centres at half-integers;
- azimuth 0° looks at the object's front (camera on +Z), positive azimuth moves the camera towards +X;
  elevation is the angle above the XZ plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf.checks import check_float_tensor, check_int_range

VIEW_LABELS = ("front", "side", "back", "overhead")

# The framing every view of the world shares (training renders, SDS views, evaluations, turntables): an
# object of half-size 0.5 at the origin fills about two thirds of the frame (half-frame 0.65-0.86 at the
# origin), so at 32×32 it spans about 21 pixels, enough for a cube's corners to differ from a sphere's.
VIEW_DISTANCE = 2.8
VIEW_FOV_DEG = 30.0


@dataclass
class Cameras:
    """A batch of pinhole cameras of one image size. `c2w [*S, 4, 4]`, `fov_y [*S]` (radians)."""

    c2w: Tensor
    fov_y: Tensor
    width: int
    height: int

    def __post_init__(self) -> None:
        check_float_tensor(self.c2w, "c2w")
        if self.c2w.ndim < 2 or self.c2w.shape[-2:] != (4, 4):
            raise ValueError(f"c2w must be [..., 4, 4], got shape {tuple(self.c2w.shape)}")
        check_float_tensor(self.fov_y, "fov_y")
        if self.fov_y.shape != self.c2w.shape[:-2]:
            raise ValueError(f"fov_y must have shape {tuple(self.c2w.shape[:-2])}, got {tuple(self.fov_y.shape)}")
        if ((self.fov_y <= 0) | (self.fov_y >= math.pi)).any():
            raise ValueError("fov_y must be in (0, π) radians")
        check_int_range(self.width, "width", 1, 8192)
        check_int_range(self.height, "height", 1, 8192)

    @property
    def shape(self) -> torch.Size:
        return self.c2w.shape[:-2]

    @property
    def position(self) -> Tensor:
        """Camera centres in the world `[*S, 3]`."""
        return self.c2w[..., :3, 3]

    @property
    def focal(self) -> Tensor:
        """Focal length in pixels `[*S]` (square pixels)."""
        return 0.5 * self.height / torch.tan(0.5 * self.fov_y)

    def __getitem__(self, index) -> Cameras:
        return Cameras(self.c2w[index], self.fov_y[index], self.width, self.height)

    def reshape(self, *shape: int) -> Cameras:
        return Cameras(self.c2w.reshape(*shape, 4, 4), self.fov_y.reshape(shape), self.width, self.height)

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(self.c2w.to(device), self.fov_y.to(device), self.width, self.height)

    def intrinsics(self) -> Tensor:
        """K `[*S, 3, 3]` mapping camera-frame points (x right, y down, z forward) to pixels."""
        K = torch.zeros(*self.shape, 3, 3, dtype=self.c2w.dtype, device=self.c2w.device)
        K[..., 0, 0] = K[..., 1, 1] = self.focal
        K[..., 0, 2] = 0.5 * self.width
        K[..., 1, 2] = 0.5 * self.height
        K[..., 2, 2] = 1.0
        return K

    def project(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """World points `[*S, N, 3]` → (pixels `[*S, N, 2]` as (u, v), depth along the view axis `[*S, N]`)."""
        rotation, centre = self.c2w[..., :3, :3], self.position
        local = (points - centre.unsqueeze(-2)) @ rotation  # rows are camera-frame coordinates (OpenGL)
        depth = -local[..., 2]
        u = 0.5 * self.width + self.focal.unsqueeze(-1) * local[..., 0] / depth
        v = 0.5 * self.height - self.focal.unsqueeze(-1) * local[..., 1] / depth
        return torch.stack((u, v), dim=-1), depth

    def pixel_directions(self, pixels: Tensor) -> Tensor:
        """Unit world directions `[*S, N, 3]` of rays through pixels `[*S, N, 2]` (or `[N, 2]`)."""
        x = (pixels[..., 0] - 0.5 * self.width) / self.focal.unsqueeze(-1)
        y = -(pixels[..., 1] - 0.5 * self.height) / self.focal.unsqueeze(-1)
        local = torch.stack((x, y, -torch.ones_like(x)), dim=-1)
        return F.normalize(local @ self.c2w[..., :3, :3].transpose(-1, -2), dim=-1)

    def rays(self) -> tuple[Tensor, Tensor]:
        """Rays through every pixel centre, row-major: (origins, unit directions), each `[*S, H*W, 3]`."""
        v, u = torch.meshgrid(
            torch.arange(self.height, dtype=self.c2w.dtype, device=self.c2w.device) + 0.5,
            torch.arange(self.width, dtype=self.c2w.dtype, device=self.c2w.device) + 0.5,
            indexing="ij",
        )
        pixels = torch.stack((u, v), dim=-1).reshape(-1, 2)
        directions = self.pixel_directions(pixels)
        origins = self.position.unsqueeze(-2).expand_as(directions)
        return origins, directions

    def azimuth_elevation(self) -> tuple[Tensor, Tensor]:
        """Camera azimuth in (-180°, 180°] and elevation in [-90°, 90°] around the origin, `[*S]` each."""
        x, y, z = self.position.unbind(-1)
        azimuth = torch.rad2deg(torch.atan2(x, z))
        elevation = torch.rad2deg(torch.atan2(y, torch.sqrt(x * x + z * z)))
        return azimuth, elevation

    def view_labels(self, **thresholds: float) -> list[str]:
        """The view label of each camera (flattened), for view-dependent prompt suffixes."""
        azimuth, elevation = self.azimuth_elevation()
        pairs = zip(azimuth.flatten().tolist(), elevation.flatten().tolist(), strict=True)
        return [view_label(a, e, **thresholds) for a, e in pairs]


def view_label(
    azimuth_deg: float,
    elevation_deg: float,
    overhead_above_deg: float = 60.0,
    front_within_deg: float = 45.0,
    back_beyond_deg: float = 135.0,
) -> str:
    """DreamFusion's view buckets: "overhead" above an elevation, else by |azimuth|: "front", "side", "back"."""
    if elevation_deg > overhead_above_deg:
        return "overhead"
    azimuth = abs((azimuth_deg + 180.0) % 360.0 - 180.0)
    if azimuth <= front_within_deg:
        return "front"
    if azimuth >= back_beyond_deg:
        return "back"
    return "side"


def view_prompt(prompt: str, label: str) -> str:
    """The view-dependent prompt DreamFusion conditions on: "a red cube, front view"."""
    return f"{prompt}, {label} view"


def look_at(eye: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """Camera-to-world poses `[*S, 4, 4]` of cameras at `eye [*S, 3]` looking at `target [*S, 3]`.

    Where the view direction is parallel to `up` (looking straight down or up), the camera's up
    falls back to the world's -Z, so the pose stays defined.
    """
    if up is None:
        up = eye.new_tensor((0.0, 1.0, 0.0)).expand_as(eye)
    back = F.normalize(eye - target, dim=-1)  # camera +Z points away from what it looks at
    right = torch.cross(up.expand_as(back), back, dim=-1)
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    fallback = torch.cross(eye.new_tensor((0.0, 0.0, -1.0)).expand_as(back), back, dim=-1)
    right = F.normalize(torch.where(degenerate, fallback, right), dim=-1)
    true_up = torch.cross(back, right, dim=-1)
    c2w = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype, device=eye.device)
    c2w[..., :3, 0], c2w[..., :3, 1], c2w[..., :3, 2], c2w[..., :3, 3] = right, true_up, back, eye
    c2w[..., 3, 3] = 1.0
    return c2w


def spherical_position(azimuth_deg: Tensor, elevation_deg: Tensor, distance: Tensor) -> Tensor:
    """Points `[*S, 3]` at the given azimuth, elevation and distance from the origin (conventions above)."""
    azimuth, elevation = torch.deg2rad(azimuth_deg), torch.deg2rad(elevation_deg)
    return torch.stack(
        (
            distance * torch.cos(elevation) * torch.sin(azimuth),
            distance * torch.sin(elevation),
            distance * torch.cos(elevation) * torch.cos(azimuth),
        ),
        dim=-1,
    )


@dataclass(frozen=True)
class CameraSampling:
    """Ranges of DreamFusion-style random training views (uniform in each range) and their jitter."""

    elevation_deg: tuple[float, float] = (-10.0, 60.0)
    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    distance: tuple[float, float] = (2.6, 3.0)
    fov_y_deg: tuple[float, float] = (28.0, 32.0)
    target_jitter: float = 0.05  # std of the look-at target's offset from the origin (world units)
    up_jitter: float = 0.02  # std of the perturbation of the up vector

    def __post_init__(self) -> None:
        for name in ("elevation_deg", "azimuth_deg", "distance", "fov_y_deg"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {(low, high)}")
        if not (self.elevation_deg[0] >= -90 and self.elevation_deg[1] <= 90):
            raise ValueError(f"elevation_deg must lie within [-90, 90], got {self.elevation_deg}")
        if self.distance[0] <= 0 or not (self.fov_y_deg[0] > 0 and self.fov_y_deg[1] < 180):
            raise ValueError("distance must be > 0 and fov_y_deg within (0, 180)")


def sample_cameras(
    num: int,
    width: int,
    height: int,
    sampling: CameraSampling = CameraSampling(),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Cameras:
    """`num` random views around the origin, `Cameras` of shape `[num]`."""
    check_int_range(num, "num cameras", 1, 1 << 20)

    def uniform(bounds: tuple[float, float]) -> Tensor:
        return bounds[0] + (bounds[1] - bounds[0]) * torch.rand(num, generator=generator)

    eye = spherical_position(uniform(sampling.azimuth_deg), uniform(sampling.elevation_deg), uniform(sampling.distance))
    target = sampling.target_jitter * torch.randn(num, 3, generator=generator)
    up = torch.tensor((0.0, 1.0, 0.0)) + sampling.up_jitter * torch.randn(num, 3, generator=generator)
    fov = torch.deg2rad(uniform(sampling.fov_y_deg))
    return Cameras(look_at(eye, target, up), fov, width, height).to(device)


def orbit_cameras(
    azimuth_deg: Tensor, elevation_deg: float | Tensor, distance: float, fov_y_deg: float, width: int, height: int
) -> Cameras:
    """Cameras `[N]` at the given azimuths on a sphere around the origin, looking at it."""
    elevation = torch.as_tensor(elevation_deg, dtype=torch.float32).expand_as(azimuth_deg)
    eye = spherical_position(azimuth_deg.float(), elevation, torch.full_like(elevation, distance))
    fov = torch.full_like(elevation, math.radians(fov_y_deg))
    return Cameras(look_at(eye, torch.zeros_like(eye)), fov, width, height)


def turntable(
    num_frames: int = 36,
    elevation_deg: float = 20.0,
    distance: float = VIEW_DISTANCE,
    fov_y_deg: float = VIEW_FOV_DEG,
    width: int = 256,
    height: int = 256,
) -> Cameras:
    """A full orbit of `num_frames` views starting at the front, evenly spaced in azimuth."""
    check_int_range(num_frames, "num_frames", 1, 3600)
    azimuth = torch.arange(num_frames, dtype=torch.float32) * (360.0 / num_frames)
    return orbit_cameras(azimuth, elevation_deg, distance, fov_y_deg, width, height)
