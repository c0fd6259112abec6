"""Mesh fidelity (`nerf.fidelity`): occupancy by ray parity against a float64 point-by-point reference
and analytic volumes, IoU, Chamfer distance and convexity against analytic cases, invariance to where
a mesh sits and how big it is, and the true objects' own exports scoring as they should."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from nerf.analytic import box_sdf, sphere_sdf
from nerf.export import ExportConfig, extract_mesh
from nerf.fidelity import (
    _COLUMN_OFFSET,
    TrueShape,
    chamfer_distance,
    convexity,
    in_unit_frame,
    lattice_centres,
    mesh_occupancy,
)
from toyworld.prompts import stacks, toy64


def naive_inside(mesh: trimesh.Trimesh, point: np.ndarray) -> bool:
    """Ray parity for one point in float64: count the triangles a +Z ray from the point passes through."""
    crossings = 0
    for a, b, c in mesh.vertices[mesh.faces].astype(np.float64):
        # barycentric coordinates of the point's (x, y) in the projected triangle
        det = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])
        if det == 0:
            continue
        u = ((point[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (point[1] - a[1])) / det
        v = ((b[0] - a[0]) * (point[1] - a[1]) - (point[0] - a[0]) * (b[1] - a[1])) / det
        if u < 0 or v < 0 or u + v > 1:
            continue
        if a[2] + u * (b[2] - a[2]) + v * (c[2] - a[2]) > point[2]:
            crossings += 1
    return crossings % 2 == 1


def test_occupancy_matches_a_point_by_point_reference() -> None:
    # a non-convex closed mesh (two boxes, one rotated) placed off the lattice's symmetries
    first = trimesh.creation.box((0.8, 0.3, 0.5))
    second = trimesh.creation.box((0.2, 0.9, 0.2), transform=trimesh.transformations.rotation_matrix(0.4, (1, 1, 0)))
    second.apply_translation((0.25, 0.0, 0.1))
    mesh = trimesh.util.concatenate([first, second])  # overlapping parts: parity counts both surfaces
    resolution = 12
    occupied = mesh_occupancy(mesh, resolution).reshape(-1)
    # the reference casts the same rays: the mesh moved off the lattice's columns by the same hair
    shifted = mesh.copy()
    shifted.vertices[:, :2] -= _COLUMN_OFFSET
    reference = np.array([naive_inside(shifted, p) for p in lattice_centres(resolution)])
    assert occupied.sum() > 50 and np.array_equal(occupied, reference)


def test_occupancy_of_a_sphere_has_its_volume() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.5)
    assert mesh_occupancy(sphere).mean() == pytest.approx(math.pi / 6, rel=0.01)


def test_a_cube_mesh_against_a_true_ball_scores_the_analytic_iou() -> None:
    # both fill the unit box; the ball lies inside the cube, so IoU = ball volume / cube volume = π/6
    ball = TrueShape(sphere_sdf((0.1, -0.2, 0.0), 0.3))  # placement and size do not matter
    cube = trimesh.creation.box((2.0, 2.0, 2.0))
    assert ball.score(cube).iou == pytest.approx(math.pi / 6, abs=0.01)


def test_scores_do_not_depend_on_where_the_mesh_sits_or_its_size() -> None:
    truth = TrueShape(box_sdf((0.0, 0.0, 0.0), (0.5, 0.3, 0.2)))
    mesh = trimesh.creation.box((1.0, 0.6, 0.4))
    moved = mesh.copy().apply_scale(3.7).apply_translation((5.0, -2.0, 1.0))
    here, there = truth.score(mesh), truth.score(moved)
    assert here.iou > 0.98 and here.chamfer < 0.01
    assert here.iou == pytest.approx(there.iou, abs=1e-6) and here.chamfer == pytest.approx(there.chamfer, rel=0.05)
    # a turned copy is another shape in the export's frame
    turned = mesh.copy().apply_transform(trimesh.transformations.rotation_matrix(math.pi / 4, (0, 1, 0)))
    assert truth.score(turned).iou < 0.7


def test_chamfer_distance_of_two_parallel_sheets_is_their_gap() -> None:
    axis = np.linspace(0.0, 1.0, 30)
    sheet = np.stack([*np.meshgrid(axis, axis), np.zeros((30, 30))], axis=-1).reshape(-1, 3)
    gap = 0.01  # smaller than the sheets' point spacing, so each point's nearest is straight across
    assert chamfer_distance(sheet, sheet + np.array([0.0, 0.0, gap])) == pytest.approx(gap)
    assert chamfer_distance(sheet, sheet) == 0.0


def test_convexity_of_an_l_shape() -> None:
    # two unit cubes side by side plus one on top: volume 3, convex hull volume 3.5
    cubes = [trimesh.creation.box((1, 1, 1), transform=trimesh.transformations.translation_matrix(t))
             for t in ((0, 0, 0), (1, 0, 0), (0, 1, 0))]  # fmt: skip
    l_shape = trimesh.util.concatenate(cubes)  # touching closed parts: their volumes add
    assert convexity(l_shape) == pytest.approx(3 / 3.5, abs=1e-6)
    assert convexity(trimesh.creation.box((1, 2, 3))) == pytest.approx(1.0)


def test_in_unit_frame_centres_and_scales() -> None:
    mesh = trimesh.creation.box((2.0, 4.0, 1.0)).apply_translation((3.0, 0.0, -1.0))
    unit = in_unit_frame(mesh)
    assert np.allclose(unit.bounds, [[-0.25, -0.5, -0.125], [0.25, 0.5, 0.125]])


@pytest.mark.slow
@pytest.mark.parametrize("index", range(8))
def test_a_true_object_exported_at_its_surface_scores_about_one(index: int) -> None:
    # the measure checked on the truth itself: the exact level set (density = its surface density)
    field = toy64().prompts[index].field()
    truth = TrueShape.of_field(field)
    scores = truth.score(extract_mesh(field, ExportConfig(threshold=field.surface_density)))
    assert scores.iou > 0.97 and scores.chamfer < 0.01, scores  # measured 0.98-1.00, 0.005-0.009
    assert scores.convexity == pytest.approx(truth.convexity, abs=0.02)
    assert scores.colour_error < 0.005  # one colour: only the 8-bit rounding


def test_colour_error_is_the_distance_to_the_true_albedo() -> None:
    field = toy64().prompts[1].field()  # a red sphere
    truth = TrueShape.of_field(field)
    mesh = extract_mesh(field, ExportConfig(resolution=64, threshold=field.surface_density))
    assert truth.score(mesh).colour_error < 0.005
    red = field.colours[0].numpy()
    grey = np.array([0.5, 0.5, 0.5])
    mesh.visual.vertex_colors = np.tile(np.append(np.round(grey * 255), 255), (len(mesh.vertices), 1)).astype(np.uint8)
    expected = np.abs(np.round(grey * 255) / 255 - red).mean()
    assert truth.score(mesh).colour_error == pytest.approx(expected, abs=1e-6)
    assert np.isnan(TrueShape(field.union_sdf).score(mesh).colour_error)  # no true albedo: no colour score


@pytest.mark.slow
def test_a_true_stack_exported_at_its_surface_scores_about_one() -> None:
    field = stacks().prompts[3000].field()  # a star on a cube: small parts
    scores = TrueShape.of_field(field).score(extract_mesh(field, ExportConfig(threshold=field.surface_density)))
    assert scores.iou > 0.97 and scores.chamfer < 0.01, scores
    assert scores.colour_error < 0.02  # two colours, mixed only on the seam between the parts
