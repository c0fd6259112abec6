"""Radiance field → coloured triangle mesh → `.glb` / `.obj` / `.ply`.

Axis convention, stated once: the world frame of every field here is glTF's own (right-handed, +Y up,
front towards +Z, units of metres), so meshes are written without any rotation and stand upright in
Blender, three.js and `gr.Model3D`. By default a mesh is centred on its bounding box and scaled so its
largest side is 1 m.

The surface is the level set `density = threshold` of the field's density (`DEFAULT_THRESHOLD`
unless given). If that level does not cross the sampled densities at all (an empty or an all-full
grid), the threshold adapts to the midpoint of the sampled minimum and maximum, with a warning, so
a faint or saturated field still exports something to look at.

Density is evaluated coarse to fine: on the full grid at a coarse resolution, then, level by level,
only around cells that the surface crosses (with a margin of one finer cell); elsewhere the finer grid takes the
trilinear upsampling of the coarser one, which only has to be on the right side of the threshold.
Detail thinner than a coarse cell (1/32 of the box by default) can be missed; `coarse_resolution`
equal to `resolution` turns the refinement off.

A closed cavity (a hollow the outside cannot reach, as score distillation leaves inside a shell) is
filled before marching cubes, so the mesh is one solid, watertight surface with no inner walls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from scipy.ndimage import binary_fill_holes
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import marching_cubes
from torch import Tensor

from nerf.cameras import turntable
from nerf.checks import check_int_range, check_range
from nerf.field import RadianceField
from nerf.iso_level import opacity_crossing_level, silhouette_iso_level
from nerf.occupancy import OccupancyGrid
from nerf.render import RenderConfig
from nerf.sparse import pack_rows

DEFAULT_THRESHOLD = 10.0  # a slab 0.07 units thick (one cell of a 2-unit box at 32^3) is then 50 % opaque
MESH_FORMATS = (".glb", ".obj", ".ply")
EXPORT_RESOLUTIONS = (32, 512)  # marching-cubes grids a user may ask for
# the surface level is measured from a few small renders (nerf.iso_level): cheap next to the export
ISO_CAMERAS = turntable(4, width=48, height=48)
ISO_RENDER = RenderConfig(num_samples=96)
ISO_OCCUPANCY = 32  # cells per axis of the occupancy grid those renders skip empty space with


def check_export_resolution(resolution: object, name: str = "resolution") -> int:
    """`resolution` if it is a marching-cubes grid a user may ask for (`EXPORT_RESOLUTIONS`), else a
    ValueError that says what is allowed (`name`: the setting's name in the user's words)."""
    return check_int_range(resolution, name, *EXPORT_RESOLUTIONS)


class EmptyObjectError(ValueError):
    """The field shows nothing from any side: there is no surface to export."""


@dataclass(frozen=True)
class ExportConfig:
    """Mesh extraction settings; `resolution` is the number of grid cells per axis."""

    resolution: int = 128
    threshold: float | None = None  # density iso-level; None: DEFAULT_THRESHOLD
    coarse_resolution: int = 32
    min_component_fraction: float = 0.05  # floaters: parts with fewer faces than this share of the largest go
    # closed cavities (space the outside cannot reach) count as inside: a solid mesh with no inner walls,
    # as 3D printing needs and as the object looks; False keeps every level-set surface
    fill_cavities: bool = True
    target_faces: int | None = None  # quadric decimation down to this many faces; None keeps all
    center: bool = True
    unit_scale: bool = True

    def __post_init__(self) -> None:
        check_export_resolution(self.resolution)
        check_int_range(self.coarse_resolution, "coarse_resolution", 8, 512)
        if self.threshold is not None:
            check_range(self.threshold, "threshold", 1e-6, 1e6)
        check_range(self.min_component_fraction, "min_component_fraction", 0.0, 1.0)
        if self.target_faces is not None:
            check_int_range(self.target_faces, "target_faces", 4, 1 << 26)


def resolution_levels(resolution: int, coarse_resolution: int) -> list[int]:
    """Grid resolutions, coarse to fine, each twice the one before, ending at `resolution`."""
    levels = [resolution]
    while levels[0] % 2 == 0 and levels[0] // 2 >= coarse_resolution:
        levels.insert(0, levels[0] // 2)
    return levels


def grid_vertices(index: Tensor, resolution: int, bound: float) -> Tensor:
    """World positions `[..., 3]` of flat x-major vertex indices `[...]` of a grid with `resolution` cells per axis."""
    n = resolution + 1
    ijk = torch.stack((index // (n * n), (index // n) % n, index % n), dim=-1)
    return ijk.float() * (2 * bound / resolution) - bound


def _window_any(mask: Tensor, size: int, pad: int = 0) -> Tensor:
    """OR over every `size`^3 window of a bool grid `[B, X, Y, Z]` (padded by `pad` False cells per side).

    Separable, one axis at a time: far cheaper on a CPU than max-pooling a float copy.
    """
    if pad:
        mask = F.pad(mask, (pad,) * 6, value=False)
    for axis in (1, 2, 3):
        length = mask.shape[axis] - size + 1
        window = mask.narrow(axis, 0, length)
        for shift in range(1, size):
            window = window | mask.narrow(axis, shift, length)
        mask = window
    return mask


def _surface_cells(values: Tensor, threshold: float) -> Tensor:
    """Cells `[B, r, r, r]` whose 8 corners `[B, r+1, r+1, r+1]` lie on both sides of the threshold."""
    inside = values > threshold
    return _window_any(inside, 2) & _window_any(~inside, 2)


def _pick_threshold(values: Tensor, threshold: float | None) -> float:
    level = DEFAULT_THRESHOLD if threshold is None else threshold
    low, high = values.min().item(), values.max().item()
    if low < level < high:
        return level
    if high - low < 1e-9:
        raise ValueError(f"the field's density is constant ({low:.4g}) over the box: there is no surface to extract")
    adapted = 0.5 * (low + high)
    warnings.warn(
        f"density threshold {level:.4g} does not cross the field's density range [{low:.4g}, {high:.4g}]; "
        f"using the midpoint {adapted:.4g} instead",
        stacklevel=3,
    )
    return adapted


@torch.no_grad()
def density_grid(field: RadianceField, num_objects: int, config: ExportConfig) -> tuple[Tensor, float]:
    """Density at the vertices of the export grid, coarse to fine: (`[B, r+1, r+1, r+1]`, threshold used)."""
    device = field.device
    bound = field.bound
    levels = resolution_levels(config.resolution, config.coarse_resolution)
    coarse = levels[0]
    points = grid_vertices(torch.arange((coarse + 1) ** 3, device=device), coarse, bound).expand(num_objects, -1, -1)
    values = field.query(points).density.view(num_objects, *(coarse + 1,) * 3).float()
    threshold = _pick_threshold(values, config.threshold)
    for resolution in levels[1:]:
        crossed = _surface_cells(values, threshold)
        fine_cells = crossed.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
        # one fine cell of margin: the surface may wander out of the coarse cells that it crosses
        fine_cells = _window_any(fine_cells, 3, pad=1)
        fine_vertices = _window_any(fine_cells, 2, pad=1)  # the corners of those cells
        values = F.interpolate(values.unsqueeze(1), size=(resolution + 1,) * 3, mode="trilinear", align_corners=True)
        values = values.squeeze(1)
        # padding points at vertices outside the band: their exact values are as welcome there
        indices, _ = pack_rows(fine_vertices.flatten(1))
        exact = field.query(grid_vertices(indices, resolution, bound)).density.float()
        values = values.flatten(1).scatter(1, indices, exact)
        values = values.view(num_objects, *(resolution + 1,) * 3)
    return values, threshold


def fill_cavities(values: np.ndarray, threshold: float) -> np.ndarray:
    """`values [r+1]^3` with every closed cavity of `values > threshold` (grid points the box's walls
    cannot reach through points at or below the threshold; 6-connected) raised just above it."""
    inside = values > threshold
    cavity = binary_fill_holes(inside) & ~inside
    if not cavity.any():
        return values
    filled = values.copy()
    filled[cavity] = threshold + max(1.0, 0.1 * abs(threshold))
    return filled


def _marching_cubes(
    values: np.ndarray, threshold: float, bound: float, solid: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Outward-facing triangles of `values [r+1]^3 > threshold`, in world units; closed at the box's walls;
    `solid`: closed cavities filled first (`fill_cavities`)."""
    resolution = values.shape[0] - 1
    inside = values > threshold
    if not inside.any():
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    if solid:
        values = fill_cavities(values, threshold)
    # crop to where the surface is, then pad with empty space so the mesh closes at the box walls
    lo = np.maximum(np.argwhere(inside).min(0) - 1, 0)
    hi = np.minimum(np.argwhere(inside).max(0) + 2, resolution + 1)
    crop = values[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    padded = np.pad(crop, 1, constant_values=min(float(crop.min()), threshold) - 1.0)
    cell = 2 * bound / resolution
    vertices, faces, _, _ = marching_cubes(padded, level=threshold, gradient_direction="ascent")
    vertices = (vertices - 1 + lo) * cell - bound
    return vertices, faces.astype(np.int64)


def _remove_floaters(mesh: trimesh.Trimesh, min_fraction: float) -> trimesh.Trimesh:
    """Drop connected parts with fewer faces than `min_fraction` of the largest part's."""
    if min_fraction <= 0 or len(mesh.faces) == 0:
        return mesh
    edges = mesh.edges_unique
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(mesh.vertices),) * 2)
    _, vertex_part = connected_components(graph, directed=False)
    face_part = vertex_part[mesh.faces[:, 0]]
    faces_per_part = np.bincount(face_part)
    keep = faces_per_part[face_part] >= min_fraction * faces_per_part.max()
    if keep.all():
        return mesh
    mesh.update_faces(keep)
    mesh.remove_unreferenced_vertices()
    return mesh


@torch.no_grad()
def _vertex_colours(field: RadianceField, vertices: np.ndarray, object_index: int, num_objects: int) -> np.ndarray:
    device = field.device
    points = torch.as_tensor(vertices, dtype=torch.float32, device=device).expand(num_objects, -1, -1)
    albedo = field.query(points).albedo
    rgb = (albedo[object_index].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return np.concatenate((rgb, np.full((len(rgb), 1), 255, np.uint8)), axis=1)


def extract_meshes(
    field: RadianceField, config: ExportConfig = ExportConfig(), num_objects: int | None = None
) -> list[trimesh.Trimesh]:
    """One coloured mesh per object of the field (B = `field.num_objects`, or `num_objects` for analytic fields)."""
    batch = field.num_objects or num_objects or 1
    values, threshold = density_grid(field, batch, config)
    meshes = []
    for index in range(batch):
        vertices, faces = _marching_cubes(values[index].cpu().numpy(), threshold, field.bound, config.fill_cavities)
        mesh = trimesh.Trimesh(vertices, faces, process=True)
        mesh = _remove_floaters(mesh, config.min_component_fraction)
        if config.target_faces is not None and len(mesh.faces) > config.target_faces:
            mesh = mesh.simplify_quadric_decimation(face_count=config.target_faces)
        if len(mesh.faces) == 0:
            warnings.warn(f"object {index}: the extracted mesh is empty", stacklevel=2)
        else:
            # colours are looked up at the final vertices (after decimation), in the field's own frame
            mesh.visual.vertex_colors = _vertex_colours(field, mesh.vertices, index, batch)
            normalise(mesh, config.center, config.unit_scale)
        meshes.append(mesh)
    return meshes


def extract_mesh(field: RadianceField, config: ExportConfig = ExportConfig()) -> trimesh.Trimesh:
    """The coloured mesh of a single-object field."""
    if field.num_objects not in (None, 1):
        raise ValueError(f"extract_mesh takes a field of one object, not {field.num_objects}: use extract_meshes")
    return extract_meshes(field, config)[0]


def normalise(mesh: trimesh.Trimesh, center: bool, unit_scale: bool) -> trimesh.Trimesh:
    """In place: centre the bounding box on the origin and/or scale its largest side to 1."""
    if center:
        mesh.apply_translation(-mesh.bounds.mean(axis=0))
    if unit_scale:
        mesh.apply_scale(1.0 / max(float(mesh.extents.max()), 1e-12))
    return mesh


def mesh_path(path: str | Path) -> Path:
    """`path` as a Path if its suffix names a mesh format we write, else a ValueError."""
    path = Path(path)
    if path.suffix.lower() not in MESH_FORMATS:
        raise ValueError(f"mesh file must end in one of {', '.join(MESH_FORMATS)}, got {path.name!r}")
    return path


def save_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write `.glb` (binary glTF 2.0, vertex colours as COLOR_0), `.obj` or `.ply` by the file's suffix."""
    path = mesh_path(path)
    if len(mesh.faces) == 0:
        raise ValueError("the mesh is empty: nothing to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path


def export_mesh(field: RadianceField, path: str | Path, config: ExportConfig = ExportConfig()) -> trimesh.Trimesh:
    """Field of one object → mesh file at `path` (format by suffix). Returns the mesh written."""
    path = mesh_path(path)  # before the work, not after it
    mesh = extract_mesh(field, config)
    save_mesh(mesh, path)
    return mesh


def rendered_surface_level(field: RadianceField) -> float:
    """The density level of the surface a one-object field's renders show (the iso-level that matches
    its silhouettes, `nerf.iso_level`). Raises EmptyObjectError when no view shows anything."""
    occupancy = OccupancyGrid.from_field(field, resolution=ISO_OCCUPANCY)  # the iso renders skip empty space
    level = float(silhouette_iso_level(field, ISO_CAMERAS.to(field.device), ISO_RENDER, occupancy=occupancy)[0])
    if not np.isfinite(level):
        raise EmptyObjectError("the object is empty: no view shows anything")
    return level


def opacity_surface_level(field: RadianceField, quantile: float = 0.25) -> float:
    """The density level of the surface of a field fitted to a sharp object's opacity (`nerf.iso_level.
    opacity_crossing_level` from the iso cameras, the lower quartile by default). Raises EmptyObjectError
    when no ray becomes opaque."""
    level = opacity_crossing_level(field, ISO_CAMERAS.to(field.device), quantile=quantile)
    if not np.isfinite(level):
        raise EmptyObjectError("the object is empty: no ray through it becomes opaque")
    return level


def rendered_surface_mesh(
    field: RadianceField, resolution: int = 128, target_faces: int | None = None, level: float | None = None
) -> trimesh.Trimesh:
    """A one-object field's mesh at the surface its renders show (`level`, else `rendered_surface_level`),
    coarse-to-fine at `resolution`, decimated to at most `target_faces` faces when given: the one export
    policy of every generator (ATT3D, PIL, DreamFusion, the app)."""
    check_export_resolution(resolution)
    level = rendered_surface_level(field) if level is None else level
    config = ExportConfig(resolution=resolution, threshold=level, coarse_resolution=min(32, resolution),
                          target_faces=target_faces)  # fmt: skip
    return extract_mesh(field, config)


def export_rendered_surface(
    field: RadianceField, path: str | Path, resolution: int = 128, target_faces: int | None = None
) -> Path:
    """`rendered_surface_mesh` written to a mesh file at `path` (format by suffix)."""
    path = mesh_path(path)
    return save_mesh(rendered_surface_mesh(field, resolution, target_faces), path)
