"""How closely a mesh matches a true shape given by its signed distance: volume IoU, Chamfer distance
and convexity, the scores of "does the `.glb` look like the object".

Both shapes are first put in the frame an exported `.glb` has (centred on its own bounding box, its
largest side 1 unit), so the scores judge shape alone, not where the object sits or how big it is.
- volume IoU: occupancy of the two on a `GRID`³ lattice of the unit box (the mesh by ray parity along
  Z, so it needs a closed mesh, as marching cubes gives; the truth by the sign of its distance);
- Chamfer distance: the symmetric mean nearest-neighbour distance between points sampled uniformly
  on the two surfaces, in units of the largest side (0 for the same surface);
- convexity: volume over convex-hull volume (1 for a convex shape, smaller for dents and holes);
- colour error: where the truth has colours, the mean absolute difference (RGB in [0, 1]) between the
  mesh's vertex colours and the true albedo at the same place (speckle and wrong hues both count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from nerf.analytic import SDF, SDFField
from nerf.export import EmptyObjectError, rendered_surface_mesh
from nerf.field import RadianceField

GRID = 64  # occupancy lattice cells per axis of the unit box
SURFACE_SAMPLES = 20_000  # points per surface for the Chamfer distance
EXPORT_RESOLUTION = 128  # the export the app and the CLIs give by default
TRUTH_RESOLUTION = 160  # marching-cubes cells per axis of the true shape's mesh
# the ray columns sit a hair off the lattice so that no ray runs exactly through a mesh edge or vertex
_COLUMN_OFFSET = np.array([np.sqrt(2.0), np.sqrt(3.0)]) * 1e-6


@dataclass(frozen=True)
class Fidelity:
    """A mesh's scores against its true shape (`iou`, `chamfer`, `convexity`, `colour_error`: NaN where
    the truth or the mesh has no colours) and the truth's convexity."""

    iou: float
    chamfer: float
    convexity: float
    true_convexity: float
    colour_error: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def unit_frame(mesh: trimesh.Trimesh) -> tuple[np.ndarray, float]:
    """(centre `[3]`, scale) that map a mesh into the unit frame: `(x - centre) / scale`."""
    low, high = mesh.bounds
    extent = float((high - low).max())
    if not extent > 0:
        raise ValueError("the mesh has no extent: it is empty or flat")
    return (low + high) / 2, extent


def in_unit_frame(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of the mesh centred on its bounding box and scaled to a largest side of 1 (vertex colours kept)."""
    centre, scale = unit_frame(mesh)
    colours = mesh.visual.vertex_colors if mesh.visual.kind == "vertex" else None
    return trimesh.Trimesh((mesh.vertices - centre) / scale, mesh.faces, vertex_colors=colours, process=False)


def lattice_centres(resolution: int = GRID) -> np.ndarray:
    """Centres of the cells of a `resolution`³ lattice of the unit box [-0.5, 0.5]³, `[R, R, R]` × 3 → `[R³, 3]`."""
    axis = (np.arange(resolution) + 0.5) / resolution - 0.5
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def mesh_occupancy(mesh: trimesh.Trimesh, resolution: int = GRID) -> np.ndarray:
    """Which lattice cells of the unit box lie inside a closed mesh (already in the unit frame), `[R, R, R]` bool.

    Each (x, y) column is a ray along +Z: a cell is inside when the ray crosses the surface an odd
    number of times below its centre.
    """
    triangles = mesh.vertices[mesh.faces]  # [F, 3 corners, 3]
    xy = triangles[:, :, :2] - _COLUMN_OFFSET
    # the columns each triangle's projection could cover: its bounding box on the column grid
    first = np.clip(np.ceil((xy.min(1) + 0.5) * resolution - 0.5), 0, resolution).astype(np.int64)
    last = np.clip(np.floor((xy.max(1) + 0.5) * resolution - 0.5), -1, resolution - 1).astype(np.int64)
    span = np.maximum(last - first + 1, 0)  # [F, 2]
    count = span[:, 0] * span[:, 1]
    face = np.repeat(np.arange(len(triangles)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    column = first[face] + np.stack((local // span[face, 1], local % span[face, 1]), axis=1)
    point = (column + 0.5) / resolution - 0.5  # the column's (x, y); the triangles moved off it
    a, b, c = xy[face, 0], xy[face, 1], xy[face, 2]

    def cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]

    area = cross(b - a, c - a)
    w_b, w_c = cross(point - a, c - a), cross(b - a, point - a)
    with np.errstate(divide="ignore", invalid="ignore"):  # flat projections (area 0) are no hit
        w_b, w_c = w_b / area, w_c / area
        w_a = 1 - w_b - w_c
        hit = (area != 0) & (w_a >= 0) & (w_b >= 0) & (w_c >= 0)
    z = (w_a * triangles[face, 0, 2] + w_b * triangles[face, 1, 2] + w_c * triangles[face, 2, 2])[hit]
    above = np.clip(np.ceil((z + 0.5) * resolution - 0.5), 0, resolution).astype(np.int64)  # first cell past it
    crossings = np.zeros((resolution, resolution, resolution + 1), dtype=np.int64)
    np.add.at(crossings, (column[hit, 0], column[hit, 1], above), 1)
    return (np.cumsum(crossings, axis=2)[..., :resolution] % 2).astype(bool)


@torch.no_grad()
def sdf_values(sdf: SDF, points: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """Signed distances of points `[N, 3]` → `[N]` (float64 points in, float32 evaluation)."""
    tensor = torch.from_numpy(points).float()
    return torch.cat([sdf(tensor[i : i + chunk]) for i in range(0, len(tensor), chunk)]).double().numpy()


def sdf_mesh(sdf: SDF, bound: float = 1.0, resolution: int = TRUTH_RESOLUTION) -> trimesh.Trimesh:
    """The zero level set of a signed distance inside the box ±`bound`, by marching cubes."""
    axis = np.linspace(-bound, bound, resolution + 1)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    values = sdf_values(sdf, grid).reshape((resolution + 1,) * 3)
    if not (values.min() < 0 < values.max()):
        raise ValueError(f"the shape has no surface inside the box ±{bound}")
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(2 * bound / resolution,) * 3)
    return trimesh.Trimesh(vertices - bound, faces[:, ::-1], process=True)  # outward normals


def surface_points(mesh: trimesh.Trimesh, count: int = SURFACE_SAMPLES, seed: int = 0) -> np.ndarray:
    """`count` points spread uniformly by area over the mesh's surface, `[count, 3]`."""
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points)


def chamfer_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Symmetric Chamfer distance between point sets `[N, 3]` and `[M, 3]`: the mean of the two mean
    nearest-neighbour distances."""
    there, _ = cKDTree(second).query(first)
    back, _ = cKDTree(first).query(second)
    return float(0.5 * (there.mean() + back.mean()))


def convexity(mesh: trimesh.Trimesh) -> float:
    """Volume over convex-hull volume of a closed mesh."""
    return float(abs(mesh.volume) / mesh.convex_hull.volume)


class TrueShape:
    """A true shape (a signed distance, and optionally its albedo: points `[N, 3]` → `[N, 3]`) ready to
    score meshes against: its mesh and unit frame, made once."""

    def __init__(self, sdf: SDF, bound: float = 1.0, albedo: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.sdf, self.albedo = sdf, albedo
        self.mesh = sdf_mesh(sdf, bound)
        self.centre, self.scale = unit_frame(self.mesh)
        unit = lattice_centres() * self.scale + self.centre  # the lattice in the truth's own frame
        self.occupancy = (sdf_values(sdf, unit) < 0).reshape((GRID,) * 3)
        self.points = (surface_points(self.mesh) - self.centre) / self.scale
        self.convexity = convexity(self.mesh)

    @classmethod
    def of_field(cls, field: SDFField) -> TrueShape:
        """The shape of an analytic field (the union of its parts), in its own box."""
        return cls(field.union_sdf, field.bound, albedo=lambda points: field(points.unsqueeze(0)).albedo[0])

    def score(self, mesh: trimesh.Trimesh) -> Fidelity:
        """The mesh's fidelity to this shape, both in their unit frames."""
        unit = in_unit_frame(mesh)
        occupied = mesh_occupancy(unit)
        union = (occupied | self.occupancy).sum()
        iou = float((occupied & self.occupancy).sum() / union) if union else 0.0
        chamfer = chamfer_distance(surface_points(unit, seed=1), self.points)
        return Fidelity(iou=iou, chamfer=chamfer, convexity=convexity(mesh), true_convexity=self.convexity,
                        colour_error=self.colour_error(unit))  # fmt: skip

    @torch.no_grad()
    def colour_error(self, unit: trimesh.Trimesh) -> float:
        """Mean absolute difference between a unit-frame mesh's vertex colours and the true albedo at the
        same places of the truth's frame (NaN without colours on either side)."""
        if self.albedo is None or unit.visual.kind != "vertex":
            return float("nan")
        colours = unit.visual.vertex_colors
        places = torch.from_numpy(unit.vertices * self.scale + self.centre).float()
        truth = self.albedo(places).double().numpy()
        return float(np.abs(colours[:, :3] / 255.0 - truth).mean())


def export_scores(field: RadianceField, truth: TrueShape, resolution: int = EXPORT_RESOLUTION) -> dict[str, float]:
    """The fidelity of a one-object field's `.glb` (`nerf.export.rendered_surface_mesh`, what users get)
    to its true shape, as `mesh_iou`, `chamfer`, `convexity`, `true_convexity`, `convexity_gap` (the
    size of the convexity's difference) and `colour_error`. An object with no surface scores IoU 0 and
    no Chamfer distance, convexity or colour error (NaN)."""
    try:
        mesh = rendered_surface_mesh(field, resolution)
    except EmptyObjectError:
        mesh = None
    if mesh is None or len(mesh.faces) == 0:
        nan = float("nan")
        return {"mesh_iou": 0.0, "chamfer": nan, "convexity": nan, "true_convexity": truth.convexity,
                "colour_error": nan, "convexity_gap": nan}  # fmt: skip
    scores = truth.score(mesh).as_dict()
    return {"mesh_iou": scores.pop("iou"), **scores, "convexity_gap": abs(scores["convexity"] - truth.convexity)}
