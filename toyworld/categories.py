"""Parametric object categories for Prompt2NeRF-PIL: many objects per category, with exact ground truth.

Each object is a union of coloured SDF parts, deterministic from (category, seed). A category draws
continuous proportions (heights, widths, thicknesses, wingspan, ...) and a few discrete features that
change the silhouette and appear in the caption: "a round red table with a pedestal base". The main
colour (a palette name) paints the body; legs, wheels, poles and other trim are dark grey, so the
caption's colour is the object's dominant one.

Frame: +Y up; every object stands on the floor y = -0.5, centred on the Y axis, inside [-0.8, 0.8]^3
(lengths are in scene units; the scene box is [-1, 1]^3). Fronts face +Z: chairs, benches and sofas
are sat on facing +Z (backrest at -Z, a bench's and a sofa's length along X); cars and airplanes
point their nose to +Z (length along Z, width and wingspan along X); a bent lamp arm reaches towards
+Z; a mug's handle is on its +X side.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from nerf.analytic import SDFField
from toyworld.palette import COLOUR_NAMES, COLOURS
from toyworld.primitives import SDF, box_sdf, cylinder_sdf, rounded, torus_sdf, transformed, union_sdf
from toyworld.words import with_article

FLOOR = -0.5  # every object's lowest point
TRIM = (0.25, 0.25, 0.25)  # dark grey of the secondary parts
_Pieces = tuple[list[SDF], list[SDF]]  # (main-colour pieces, trim pieces)


# --- shapes the primitives lack -------------------------------------------------------------------------


def _block(low: Sequence[float], high: Sequence[float], rounding: float = 0.0) -> SDF:
    """The axis-aligned box between corners `low` and `high`, edges rounded by `rounding` (same extent)."""
    center = [(a + b) / 2 for a, b in zip(low, high, strict=True)]
    half = [(b - a) / 2 - rounding for a, b in zip(low, high, strict=True)]
    return rounded(box_sdf(center, half), rounding) if rounding else box_sdf(center, half)


def _mirrored(low: Sequence[float], high: Sequence[float]) -> list[SDF]:
    """The block between `low` and `high` and its mirror image in the plane x = 0."""
    return [_block(low, high), _block((-high[0], low[1], low[2]), (-low[0], high[1], high[2]))]


def _legs(half_x: float, half_z: float, top: float, thickness: float) -> list[SDF]:
    """Four square legs from the floor to `top`, their outer faces flush with x = ±half_x, z = ±half_z."""
    x, z, half = half_x - thickness / 2, half_z - thickness / 2, thickness / 2
    return [
        _block((sx * x - half, FLOOR, sz * z - half), (sx * x + half, top, sz * z + half))
        for sx in (-1, 1)
        for sz in (-1, 1)
    ]


def _capsule(a: Sequence[float], b: Sequence[float], radius: float) -> SDF:
    """A rod of `radius` around the segment from `a` to `b`, with round ends (exact)."""

    def sdf(points: Tensor) -> Tensor:
        start, axis = points.new_tensor(a), points.new_tensor(b) - points.new_tensor(a)
        t = ((points - start) @ axis / axis.square().sum().clamp(min=1e-12)).clamp(0, 1)  # a == b: a ball
        return (points - start - t.unsqueeze(-1) * axis).norm(dim=-1) - radius

    return sdf


def _frustum(center: Sequence[float], bottom_radius: float, top_radius: float, half_height: float) -> SDF:
    """A vertical truncated cone (exact; Inigo Quilez's capped cone): radii at y = ∓half_height."""

    def sdf(points: Tensor) -> Tensor:
        p = points - points.new_tensor(center)
        q = torch.stack((p[..., [0, 2]].norm(dim=-1), p[..., 1]), dim=-1)  # (r, y)
        cap_radius = torch.where(q[..., 1] < 0, bottom_radius, top_radius)
        to_caps = torch.stack((q[..., 0] - torch.minimum(q[..., 0], cap_radius), q[..., 1].abs() - half_height), -1)
        k1, k2 = q.new_tensor((top_radius, half_height)), q.new_tensor((top_radius - bottom_radius, 2 * half_height))
        t = ((k1 - q) @ k2 / k2.square().sum()).clamp(0, 1)
        to_side = q - k1 + t.unsqueeze(-1) * k2
        inside = (to_side[..., 0] < 0) & (to_caps[..., 1] < 0)
        distance = torch.minimum(to_caps.square().sum(-1), to_side.square().sum(-1)).sqrt()
        return torch.where(inside, -distance, distance)

    return sdf


def _laid(sdf: SDF, center: Sequence[float], axis: str) -> SDF:
    """An upright `sdf` built at the origin, laid with its Y axis along `axis` ("x" or "z"), moved to `center`."""
    order = {"x": [1, 0, 2], "z": [0, 2, 1]}[axis]  # swapping two coordinates is a reflection: distances stay exact

    def moved(points: Tensor) -> Tensor:
        return sdf((points - points.new_tensor(center))[..., order])

    return moved


def _difference(sdf: SDF, cut: SDF) -> SDF:
    """`sdf` with `cut` removed (a bound of the distance, exact on the surface)."""

    def sdf_minus_cut(points: Tensor) -> Tensor:
        return torch.maximum(sdf(points), -cut(points))

    return sdf_minus_cut


def _wings(y: float, z: float, half_span: float, chord: float, thickness: float, sweep_deg: float) -> list[SDF]:
    """A pair of flat wings from the root (0, y, z) out along ±X, their tips swept back (-Z) by `sweep_deg`."""
    return [
        transformed(
            box_sdf((s * half_span / 2, 0, 0), (half_span / 2, thickness / 2, chord / 2)), (0, y, z), s * sweep_deg
        )
        for s in (-1, 1)
    ]


# --- parameters: drawn once, replayed to rebuild -------------------------------------------------------


class _Parameters:
    """An object's parameters: drawn from `rng` and recorded, or (without `rng`) replayed from `values`.

    One builder per category both samples an object and rebuilds it, so sampling and geometry cannot drift
    apart. `phrases` collects the caption phrase of every discrete feature met.
    """

    def __init__(self, rng: random.Random | None = None, values: dict[str, Any] | None = None) -> None:
        self.rng, self.values = rng, dict(values or {})
        self.phrases: list[str] = []

    def uniform(self, name: str, low: float, high: float) -> float:
        if self.rng is not None:
            self.values[name] = round(self.rng.uniform(low, high), 4)
        return self.values[name]

    def feature(self, name: str, phrases: dict[Any, str]) -> Any:
        """A discrete feature: one of `phrases`' keys; its phrase is an adjective, a "with ..." clause, or ""."""
        if self.rng is not None:
            self.values[name] = self.rng.choice(list(phrases))
        value = self.values[name]
        self.phrases.append(phrases[value])
        return value


# --- the categories ------------------------------------------------------------------------------------


def _chair(p: _Parameters) -> _Pieces:
    """A seat on four legs with a backrest at -Z (a solid panel, or posts with slats), optional armrests."""
    armrests = p.feature("armrests", {False: "", True: "with armrests"})
    slatted = p.feature("back", {"solid": "", "slatted": "with a slatted back"}) == "slatted"
    x, z = p.uniform("seat_width", 0.5, 0.8) / 2, p.uniform("seat_depth", 0.45, 0.75) / 2
    seat_top = FLOOR + p.uniform("seat_height", 0.35, 0.5)
    under_seat = seat_top - p.uniform("seat_thickness", 0.05, 0.09)
    legs = _legs(x, z, under_seat, p.uniform("leg_thickness", 0.05, 0.1))
    back_top = seat_top + p.uniform("back_height", 0.35, 0.65)
    main = [_block((-x, under_seat, -z), (x, seat_top, z))]
    if slatted:  # two posts, two slats and a top rail
        main += [
            _block((sx - 0.03, seat_top, -z), (sx + 0.03, back_top, -z + 0.06))
            for sx in (-x + 0.03, -x / 3, x / 3, x - 0.03)
        ]
        main.append(_block((-x, back_top - 0.08, -z), (x, back_top, -z + 0.06)))
    else:
        main.append(_block((-x, seat_top, -z), (x, back_top, -z + 0.06)))
    if armrests:
        arm_top = seat_top + 0.22
        main += _mirrored((x - 0.06, arm_top - 0.05, -z), (x, arm_top, z))  # rests
        main += _mirrored((x - 0.06, seat_top, z - 0.06), (x, arm_top, z))  # front posts
    return main, legs


def _table(p: _Parameters) -> _Pieces:
    """A round or rectangular top on four legs, or on a central pedestal with a round foot."""
    round_top = p.feature("top", {"round": "round", "square": "square"}) == "round"
    pedestal = p.feature("base", {"legs": "", "pedestal": "with a pedestal base"}) == "pedestal"
    width = p.uniform("width", 0.9, 1.45)  # the diameter of a round top
    depth = width if round_top else width * p.uniform("depth_ratio", 0.6, 1.0)
    top = FLOOR + p.uniform("height", 0.5, 0.8)
    under_top = top - p.uniform("top_thickness", 0.06, 0.1)
    leg = p.uniform("leg_thickness", 0.04, 0.07)
    if round_top:
        main = [cylinder_sdf((0, (top + under_top) / 2, 0), width / 2, (top - under_top) / 2)]
    else:
        main = [_block((-width / 2, under_top, -depth / 2), (width / 2, top, depth / 2))]
    if pedestal:
        column = cylinder_sdf((0, (FLOOR + under_top) / 2, 0), leg, (under_top - FLOOR) / 2)
        return main, [column, cylinder_sdf((0, FLOOR + 0.025, 0), 0.2 * width, 0.025)]
    corner = 0.33 if round_top else 0.47  # legs under a round top stand inside its rim
    return main, _legs(corner * width, corner * depth, under_top, leg)


def _lamp(p: _Parameters) -> _Pieces:
    """A round base, a pole and a shade (cone or drum); a bent arm carries the shade forwards (+Z)."""
    cone = p.feature("shade", {"cone": "with a cone shade", "drum": "with a drum shade"}) == "cone"
    bent = p.feature("arm", {"straight": "", "bent": "with a bent arm"}) == "bent"
    base_radius, base_height = p.uniform("base_radius", 0.14, 0.26), p.uniform("base_thickness", 0.05, 0.08)
    pole_top, pole_radius = FLOOR + p.uniform("pole_height", 0.55, 0.9), p.uniform("pole_radius", 0.02, 0.035)
    shade_radius, shade_height = p.uniform("shade_radius", 0.16, 0.3), p.uniform("shade_height", 0.18, 0.3)
    stand = [cylinder_sdf((0, (FLOOR + pole_top) / 2, 0), pole_radius, (pole_top - FLOOR) / 2)]
    if bent:  # the arm rises towards +Z; the shade hangs from its tip
        tip = (0.0, pole_top + 0.1, p.uniform("arm_reach", 0.2, 0.4))
        stand.append(_capsule((0, pole_top, 0), tip, pole_radius))
        shade_center = (0.0, tip[1] - shade_height / 2, tip[2])
    else:  # the pole ends inside the shade, 40 % of the way up
        shade_center = (0.0, pole_top + 0.1 * shade_height, 0.0)
    top_radius = (0.35 if cone else 0.9) * shade_radius
    shade = _frustum(shade_center, shade_radius, top_radius, shade_height / 2)
    return [cylinder_sdf((0, FLOOR + base_height / 2, 0), base_radius, base_height / 2), shade], stand


def _mug(p: _Parameters) -> _Pieces:
    """A cylinder hollowed from the top, an optional ring handle on the +X side and an optional saucer."""
    handle = p.feature("handle", {False: "", True: "with a handle"})
    saucer = p.feature("saucer", {False: "", True: "with a saucer"})
    radius, height = p.uniform("radius", 0.25, 0.4), p.uniform("height", 0.5, 0.95)
    wall = p.uniform("wall_thickness", 0.04, 0.07)
    bottom = FLOOR + 0.05 if saucer else FLOOR
    outer = cylinder_sdf((0, bottom + height / 2, 0), radius, height / 2)
    cavity = cylinder_sdf((0, bottom + wall + height / 2, 0), radius - wall, height / 2)  # open above the rim
    main = [_difference(outer, cavity)]
    if handle:  # a vertical ring in the XY plane, less the part inside the cup
        ring = torus_sdf((0, 0, 0), p.uniform("handle_size", 0.18, 0.28) * height, 0.04)
        main.append(_difference(_laid(ring, (radius, bottom + height / 2, 0), "z"), outer))
    if saucer:
        main.append(cylinder_sdf((0, FLOOR + 0.025, 0), p.uniform("saucer_size", 1.3, 1.6) * radius, 0.025))
    return main, []


def _bottle(p: _Parameters) -> _Pieces:
    """A rounded body, a conical shoulder and a neck; tall bottles are slim, short ones stout; optional cap."""
    tall = p.feature("size", {"tall": "tall", "short": "short"}) == "tall"
    cap = p.feature("cap", {False: "", True: "with a cap"})
    body_height = p.uniform("body_height", *((0.55, 0.72) if tall else (0.22, 0.36)))
    radius = p.uniform("radius", *((0.14, 0.22) if tall else (0.2, 0.3)))
    shoulder_height, neck_height = p.uniform("shoulder_height", 0.08, 0.16), p.uniform("neck_height", 0.08, 0.18)
    neck_radius = p.uniform("neck_radius", 0.05, 0.09)
    body_top, neck_top = FLOOR + body_height, FLOOR + body_height + shoulder_height + neck_height
    main = [
        rounded(cylinder_sdf((0, (FLOOR + body_top) / 2, 0), radius - 0.03, body_height / 2 - 0.03), 0.03),
        _frustum((0, body_top + shoulder_height / 2, 0), radius, neck_radius, shoulder_height / 2),
        cylinder_sdf((0, neck_top - neck_height / 2, 0), neck_radius, neck_height / 2),
    ]
    return main, [cylinder_sdf((0, neck_top, 0), neck_radius + 0.015, 0.04)] if cap else []


def _car(p: _Parameters) -> _Pieces:
    """A body on four wheels (axles along X, nose to +Z) with a cabin, or open-topped with only a windscreen;
    an optional rear spoiler."""
    open_top = p.feature("roof", {"closed": "", "open": "with an open top"}) == "open"
    spoiler = p.feature("spoiler", {False: "", True: "with a spoiler"})
    z, x = p.uniform("length", 1.1, 1.5) / 2, p.uniform("width", 0.5, 0.72) / 2
    wheel = p.uniform("wheel_radius", 0.1, 0.15)
    body_bottom = FLOOR + p.uniform("clearance", 0.05, 0.09)
    body_top = body_bottom + p.uniform("body_height", 0.14, 0.24)
    cabin_top = body_top + p.uniform("cabin_height", 0.12, 0.22)
    cabin_half = p.uniform("cabin_length", 0.35, 0.55) * z  # the cabin sits a little behind the middle
    cabin_back, cabin_front = -0.2 * z - cabin_half, -0.2 * z + cabin_half
    main = [_block((-x, body_bottom, -z), (x, body_top, z), rounding=0.03)]
    tyre = cylinder_sdf((0, 0, 0), wheel, 0.05)
    trim = [
        _laid(tyre, (sx * (x - 0.02), FLOOR + wheel, sz * (z - wheel - 0.06)), "x") for sx in (-1, 1) for sz in (-1, 1)
    ]
    if open_top:
        trim.append(_block((-0.85 * x, body_top, cabin_front - 0.05), (0.85 * x, cabin_top - 0.04, cabin_front)))
    else:
        main.append(_block((-0.85 * x, body_top - 0.02, cabin_back), (0.85 * x, cabin_top, cabin_front), rounding=0.04))
    if spoiler:
        main += _mirrored((0.55 * x, body_top, -z + 0.04), (0.65 * x, body_top + 0.1, -z + 0.1))  # stands
        main.append(_block((-0.9 * x, body_top + 0.1, -z + 0.01), (0.9 * x, body_top + 0.15, -z + 0.15)))
    return main, trim


def _airplane(p: _Parameters) -> _Pieces:
    """A fuselage (nose to +Z) on landing gear, swept wings along X, a tailplane and a fin; optionally an upper
    pair of wings on struts (a biplane) and engines under the wings."""
    biplane = p.feature("biplane", {False: "", True: "with two pairs of wings"})
    engines = p.feature("engines", {False: "", True: "with wing engines"})
    length, radius = p.uniform("length", 1.0, 1.45), p.uniform("fuselage_radius", 0.07, 0.11)
    half_span, chord = p.uniform("wingspan", 1.0, 1.5) / 2, p.uniform("wing_chord", 0.14, 0.24)
    sweep = p.uniform("sweep_deg", 0.0, 30.0)
    fin_height = p.uniform("fin_height", 0.15, 0.28)
    y = FLOOR + p.uniform("gear_height", 0.1, 0.18) + radius  # the fuselage's axis
    rear, wing_z = -length / 2 + radius, 0.1 * length
    main = [_capsule((0, y, rear), (0, y, length / 2 - radius), radius)]
    main += _wings(y - 0.4 * radius, wing_z, half_span, chord, 0.045, sweep)
    main += _wings(y, rear + 0.05, 0.35 * half_span, 0.6 * chord, 0.045, sweep)  # tailplane
    main.append(_block((-0.025, y, rear - 0.05), (0.025, y + radius + fin_height, rear + 0.15)))  # fin
    trim = []
    for gear_x, gear_z in ((-0.15, wing_z), (0.15, wing_z), (0.0, 0.7 * (length / 2 - radius))):
        hub = (gear_x, FLOOR + 0.04, gear_z)
        trim += [_laid(cylinder_sdf((0, 0, 0), 0.04, 0.025), hub, "x"), _capsule(hub, (gear_x, y, gear_z), 0.015)]
    sin, cos = math.sin(math.radians(sweep)), math.cos(math.radians(sweep))
    if biplane:  # the upper wing on two pairs of struts
        upper = y + radius + 0.14
        main += _wings(upper, wing_z, half_span, chord, 0.045, sweep)
        for d in (0.4 * half_span, 0.8 * half_span):
            trim += [
                _capsule(
                    (s * d * cos, y - 0.4 * radius, wing_z - d * sin), (s * d * cos, upper, wing_z - d * sin), 0.015
                )
                for s in (-1, 1)
            ]
    if engines:  # pods under the middle of each wing
        d = 0.5 * half_span
        trim += [
            _capsule(
                (s * d * cos, y - radius - 0.03, wing_z - d * sin - 0.1),
                (s * d * cos, y - radius - 0.03, wing_z - d * sin + 0.1),
                0.05,
            )
            for s in (-1, 1)
        ]
    return main, trim


def _bench(p: _Parameters) -> _Pieces:
    """A long seat (along X, sat on facing +Z) on four dark posts or on two panels of its own colour (a slab
    bench); an optional backrest board at -Z."""
    backrest = p.feature("backrest", {False: "", True: "with a backrest"})
    panels = p.feature("legs", {"posts": "", "panels": "with panel legs"}) == "panels"
    x, z = p.uniform("length", 1.0, 1.5) / 2, p.uniform("depth", 0.3, 0.5) / 2
    seat_top = FLOOR + p.uniform("seat_height", 0.3, 0.45)
    under_seat = seat_top - p.uniform("seat_thickness", 0.05, 0.09)
    leg = p.uniform("leg_thickness", 0.05, 0.1)
    main = [_block((-x, under_seat, -z), (x, seat_top, z))]
    if panels:
        main += _mirrored((x - 0.1 - leg, FLOOR, -z + 0.02), (x - 0.1, under_seat, z - 0.02))
    trim = [] if panels else _legs(x - 0.06, z - 0.02, under_seat, leg)
    if backrest:  # a board above a gap, on two posts
        back_top = seat_top + p.uniform("back_height", 0.2, 0.35)
        main.append(_block((-x, seat_top + 0.08, -z), (x, back_top, -z + 0.06)))
        main += _mirrored((x - 0.18, seat_top, -z), (x - 0.12, back_top, -z + 0.06))
    return main, trim


def _sofa(p: _Parameters) -> _Pieces:
    """A deep base on short feet with a thick backrest at -Z; optional armrests and a chaise in front of its +X half."""
    armrests = p.feature("armrests", {False: "", True: "with armrests"})
    chaise = p.feature("chaise", {False: "", True: "with a chaise"})
    x, z = p.uniform("width", 1.1, 1.5) / 2, p.uniform("depth", 0.6, 0.8) / 2
    base_bottom = FLOOR + p.uniform("feet_height", 0.04, 0.07)
    seat_top = FLOOR + p.uniform("seat_height", 0.22, 0.32)
    back_top, back_front = seat_top + p.uniform("back_height", 0.25, 0.45), -z + p.uniform("back_thickness", 0.12, 0.2)
    main = [
        _block((-x, base_bottom, -z), (x, seat_top, z), rounding=0.03),
        _block((-x, seat_top - 0.03, -z), (x, back_top, back_front), rounding=0.03),
    ]
    if armrests:
        arm_top, arm_width = seat_top + p.uniform("arm_height", 0.1, 0.2), p.uniform("arm_width", 0.1, 0.18)
        main += _mirrored((x - arm_width, base_bottom, -z), (x, arm_top, z))
    if chaise:
        main.append(
            _block(
                (0.2 * x, base_bottom, z - 0.05),
                (x, seat_top, z + p.uniform("chaise_length", 0.25, 0.35)),
                rounding=0.03,
            )
        )
    return main, _legs(x - 0.04, z - 0.04, base_bottom, 0.06)


def _stool(p: _Parameters) -> _Pieces:
    """A round seat on three or four splayed round legs (seat and legs in the main colour); optional footrest ring."""
    count = p.feature("legs", {3: "three-legged", 4: "four-legged"})
    footrest = p.feature("footrest", {False: "", True: "with a footrest"})
    radius = p.uniform("seat_radius", 0.17, 0.28)
    seat_top = FLOOR + p.uniform("height", 0.5, 0.95)
    under_seat = seat_top - p.uniform("seat_thickness", 0.05, 0.09)
    leg_radius, splay = p.uniform("leg_radius", 0.025, 0.04), p.uniform("splay", 0.0, 0.12)
    top_ring, bottom_ring = 0.7 * radius, 0.7 * radius + splay  # where the legs meet the seat and the floor
    main = [cylinder_sdf((0, (seat_top + under_seat) / 2, 0), radius, (seat_top - under_seat) / 2)]
    for k in range(count):
        angle = 2 * math.pi * (k + 0.5) / count
        sin, cos = math.sin(angle), math.cos(angle)
        main.append(
            _capsule(
                (bottom_ring * sin, FLOOR + leg_radius, bottom_ring * cos),
                (top_ring * sin, under_seat, top_ring * cos),
                leg_radius,
            )
        )
    if not footrest:
        return main, []
    rest_height = 0.35 * (under_seat - FLOOR)
    rest_ring = bottom_ring + (top_ring - bottom_ring) * rest_height / (under_seat - FLOOR)
    return main, [torus_sdf((0, FLOOR + rest_height, 0), rest_ring, 0.8 * leg_radius)]


_BUILDERS: dict[str, Callable[[_Parameters], _Pieces]] = {
    "chair": _chair,
    "table": _table,
    "lamp": _lamp,
    "mug": _mug,
    "car": _car,
    "airplane": _airplane,
    "bottle": _bottle,
    "bench": _bench,
    "sofa": _sofa,
    "stool": _stool,
}
CATEGORY_NAMES: tuple[str, ...] = tuple(_BUILDERS)


# --- the public API ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryObject:
    """One object of a category: everything needed to rebuild it, and its caption."""

    category: str
    seed: int
    colour: str  # palette name of the main colour
    attributes: dict[str, Any]  # sampled proportions (floats) and discrete features (bools, strs, ints); JSON-safe
    caption: str  # e.g. "a round red table with a pedestal base"

    def field(self) -> SDFField:
        """The exact ground-truth radiance field, rebuilt from the stored attributes."""
        main, trim = _BUILDERS[self.category](_Parameters(values=self.attributes))
        parts = [(union_sdf(main), COLOURS[self.colour])]
        if trim:
            parts.append((union_sdf(trim), TRIM))
        return SDFField(parts)


def sample_object(category: str, seed: int, colour: str | None = None) -> CategoryObject:
    """Object number `seed` of `category`; its colour is drawn from the seed unless given.

    The shape does not depend on the colour: the seed's colour draw happens even when `colour` is given.
    """
    if category not in _BUILDERS:
        raise ValueError(f"unknown category {category!r}; the categories are {', '.join(CATEGORY_NAMES)}")
    if colour is not None and colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; the colours are {', '.join(COLOUR_NAMES)}")
    rng = random.Random(f"{category}/{seed}")  # string seeds hash the same way in every process
    drawn = rng.choice(COLOUR_NAMES)
    colour = drawn if colour is None else colour
    params = _Parameters(rng)
    _BUILDERS[category](params)
    return CategoryObject(category, seed, colour, params.values, _caption(category, colour, params.phrases))


def _caption(category: str, colour: str, phrases: list[str]) -> str:
    """Adjectives before the colour, "with" clauses after the noun: "a short green bottle with a cap"."""
    adjectives = [phrase for phrase in phrases if phrase and not phrase.startswith("with ")]
    clauses = [phrase.removeprefix("with ") for phrase in phrases if phrase.startswith("with ")]
    return with_article(
        " ".join([*adjectives, colour, category]) + (" with " + " and ".join(clauses) if clauses else "")
    )


# --- PIL's dataset: which objects it may use ------------------------------------------------------------

# Kept out of PIL's NeRF dataset (not out of the toy CLIP's or diffusion model's world), so the warm-start
# experiments have objects the amortized model never saw: two whole categories and two colours.
PIL_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORY_NAMES if c not in ("sofa", "stool"))
PIL_COLOURS: tuple[str, ...] = tuple(c for c in COLOUR_NAMES if c not in ("pink", "cyan"))


def pil_split(seed: int) -> str:
    """PIL's fixed 90/10 object split: seeds ending in 9 are "test", the rest "train"."""
    return "test" if seed % 10 == 9 else "train"


def pil_object(category: str, seed: int) -> CategoryObject:
    """Object `seed` of one of PIL's categories, in one of PIL's colours (drawn from the seed)."""
    if category not in PIL_CATEGORIES:
        raise ValueError(f"{category!r} is kept out of PIL's dataset; its categories are {', '.join(PIL_CATEGORIES)}")
    colour = random.Random(f"pil/{category}/{seed}").choice(PIL_COLOURS)
    return sample_object(category, seed, colour)
