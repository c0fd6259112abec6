"""Which shapes and colours a generated object has, judged against the toy world's ground truth.

Shape: the object's surface (the boundary of where density exceeds a threshold, on a grid over the
scene box, with enclosed cavities filled) is compared with every composition the prompt set's layout
allows (8 single shapes, or 64 bottom/top pairs for stacks, each placed exactly as the ground truth
places it) by symmetric Chamfer distance, after offsetting each candidate's surface by the amount
that fits best; the nearest wins, and the margin to the runner-up says how sure that is. The offset
matters: a NeRF's surface sits a little outside or inside the true one, depending on the threshold
and on how soft its density is, and at this grid's resolution that alone would favour the bigger
shapes. Colour: the mean albedo on the object's surface within each part's region, matched to the
nearest palette colour by chromaticity (NeRFs bake some shading into albedo, so raw RGB distance
would mislead).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import binary_fill_holes, distance_transform_edt
from torch import Tensor

from nerf.export import DEFAULT_THRESHOLD, grid_vertices
from nerf.field import RadianceField
from toyworld.palette import nearest_colour
from toyworld.prompts import Prompt, single_prompt, stack_prompt
from toyworld.shapes import SHAPE_NAMES

Layout = Literal["single", "stack"]
GRID = 48  # cells per axis over the scene box: a toy64 shape spans 24 of them, a stacked part 14


@dataclass(frozen=True)
class Classification:
    shapes: tuple[str, ...]  # bottom to top
    colours: tuple[str, ...]  # the palette colour of each part ("none" if the part region is empty)
    chamfer: float  # symmetric Chamfer distance to the nearest composition, after its offset (world units)
    margin: float  # how much farther the runner-up composition is (world units)
    iou: float  # volume IoU with the nearest composition

    def matches(self, prompt: Prompt) -> tuple[bool, bool]:
        """(every shape right, every colour right) for the prompt's parts."""
        colours, shapes = zip(*prompt.parts, strict=True)
        return self.shapes == shapes, self.colours == colours


def _grid_points(resolution: int = GRID) -> Tensor:
    return grid_vertices(torch.arange((resolution + 1) ** 3), resolution, bound=1.0)  # [(r+1)^3, 3]


@cache
def _templates(layout: Layout) -> tuple[tuple[tuple[str, ...], ...], Tensor, Tensor, Tensor]:
    """All compositions of the layout: (shape tuples, and on the grid: signed distance `[K, P]`,
    surface `[K, P]`, nearest part `[K, P]`)."""
    if layout == "single":
        prompts = [single_prompt("red", shape) for shape in SHAPE_NAMES]
    else:
        prompts = [stack_prompt("red", top, "red", bottom) for bottom, top in itertools.product(SHAPE_NAMES, repeat=2)]
    points = _grid_points()
    distances, parts = zip(*(prompt.field().signed_distance(points) for prompt in prompts), strict=True)
    distance = torch.stack(distances)
    surface = _surface((distance < 0).view(len(prompts), *(GRID + 1,) * 3)).view(len(prompts), -1)
    shapes = tuple(tuple(shape for _, shape in p.parts) for p in prompts)
    return shapes, distance, surface, torch.stack(parts)


def _fill_cavities(occupied: Tensor) -> Tensor:
    """Occupied grid vertices `[B, r+1, r+1, r+1]` with every enclosed empty pocket filled: no view can see
    inside a closed surface, and score distillation leaves such pockets of low density inside objects,
    whose inner walls would otherwise count as surface. Through-holes (a torus's) stay open."""
    return torch.from_numpy(np.stack([binary_fill_holes(o) for o in occupied.numpy()]))


def _surface(occupied: Tensor) -> Tensor:
    """Occupied grid vertices `[B, r+1, r+1, r+1]` with an empty neighbour (6-connected)."""
    empty = F.pad((~occupied).float().unsqueeze(1), (1,) * 6, value=1.0)
    kernel = torch.zeros(1, 1, 3, 3, 3)
    kernel[0, 0, 1, 1, :] = kernel[0, 0, 1, :, 1] = kernel[0, 0, :, 1, 1] = 1.0
    return occupied & (F.conv3d(empty, kernel).squeeze(1) > 0)


def _offset_chamfer(surface: Tensor, distance: Tensor, template_surfaces: Tensor) -> Tensor:
    """Symmetric Chamfer distances `[K]` (world units) from an object's surface `[P]` to each template,
    after moving the template's surface out (or in) by the offset that fits the object best.

    Forward: the template's exact signed distance at the object's surface points, less its median
    (the offset). Backward: the distance from the template's surface points to the object's surface,
    less the offset's size.
    """
    cell = 2.0 / GRID
    to_object = distance_transform_edt(~surface.view((GRID + 1,) * 3).numpy()).reshape(-1) * cell
    to_object = torch.from_numpy(to_object).float()
    at_object = distance[:, surface]  # [K, S]
    offset = at_object.median(dim=1, keepdim=True).values
    forward = (at_object - offset).abs().mean(1)
    backward = torch.stack(
        [(to_object[t] - o.abs()).abs().mean() for t, o in zip(template_surfaces, offset, strict=True)]
    )
    return 0.5 * (forward + backward)


@torch.no_grad()
def classify(
    field: RadianceField, layout: Layout, threshold: float = DEFAULT_THRESHOLD, num_objects: int | None = None
) -> list[Classification]:
    """Shapes and colours of each object of a field whose scene box is [-1, 1]^3 (or a smaller box in it).

    An object with no density above `threshold` gets shapes and colours "none".
    """
    if field.bound > 1.0:
        raise ValueError(f"the toy world's scene box has bound 1, this field has {field.bound}")
    if layout not in ("single", "stack"):
        raise ValueError(f"layout must be 'single' or 'stack', got {layout!r}")
    batch = field.num_objects or num_objects or 1
    shapes, template_distance, template_surfaces, template_parts = _templates(layout)
    points = _grid_points().to(field.device).expand(batch, -1, -1)
    out = field.query(points)
    inside = (points.abs() <= field.bound).all(-1)  # a field with a smaller box is empty outside it
    occupied = (out.density > threshold) & inside
    occupied = _fill_cavities(occupied.cpu().view(batch, *(GRID + 1,) * 3)).view(batch, -1)
    surface = _surface(occupied.view(batch, *(GRID + 1,) * 3)).view(batch, -1)
    albedo = out.albedo.cpu()
    results = []
    for index in range(batch):
        if not surface[index].any():
            parts = len(shapes[0])
            results.append(Classification(("none",) * parts, ("none",) * parts, float("inf"), 0.0, 0.0))
            continue
        distance, order = _offset_chamfer(surface[index], template_distance, template_surfaces).sort()
        best = order[0]
        colours = []
        for part in range(len(shapes[best])):
            region = surface[index] & (template_parts[best] == part)
            colours.append(nearest_colour(albedo[index][region].mean(0, keepdim=True))[0] if region.any() else "none")
        template = template_distance[best] < 0
        intersection = (template & occupied[index]).sum().item()
        union = max((template | occupied[index]).sum().item(), 1)
        margin = (distance[1] - distance[0]).item()
        results.append(Classification(shapes[best], tuple(colours), distance[0].item(), margin, intersection / union))
    return results
