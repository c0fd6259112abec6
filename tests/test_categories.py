"""Object categories: determinism, fit in the scene box, intra-class variation, distinct categories,
captions and the main colour."""

from __future__ import annotations

import json
import re
from functools import partial

import pytest
import torch
from torch import Tensor

from nerf.analytic import sphere_sdf
from toyworld.categories import (
    CATEGORY_NAMES,
    PIL_CATEGORIES,
    PIL_COLOURS,
    TRIM,
    CategoryObject,
    _capsule,
    _frustum,
    pil_object,
    pil_split,
    sample_object,
)
from toyworld.palette import COLOUR_NAMES, COLOURS
from toyworld.primitives import cone_sdf, cylinder_sdf

SEEDS = range(20)
RESOLUTION = 48


def _grid(resolution: int) -> Tensor:
    """Cell centres `[resolution³, 3]` of a regular grid over the scene box [-1, 1]³."""
    centres = (torch.arange(resolution) + 0.5) / resolution * 2 - 1
    return torch.stack(torch.meshgrid(centres, centres, centres, indexing="ij"), dim=-1).reshape(-1, 3)


GRID = _grid(RESOLUTION)


@pytest.fixture(scope="module")
def objects() -> dict[str, list[tuple[CategoryObject, Tensor]]]:
    """20 objects per category with their inside masks on the grid (one evaluation shared by the tests).

    On one thread: these small elementwise ops gain nothing from more, and on a busy machine torch's
    thread pool makes them several times slower (48 s instead of 5 s here, measured).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {
            category: [
                (obj, obj.field().signed_distance(GRID)[0] < 0) for obj in map(partial(sample_object, category), SEEDS)
            ]
            for category in CATEGORY_NAMES
        }
    finally:
        torch.set_num_threads(threads)


def _discrete(obj: CategoryObject) -> dict:
    return {name: value for name, value in obj.attributes.items() if not isinstance(value, float)}


def test_there_are_ten_categories_including_the_required_eight() -> None:
    required = {"chair", "table", "lamp", "mug", "car", "airplane", "bottle", "bench"}
    assert required <= set(CATEGORY_NAMES) and len(CATEGORY_NAMES) == 10


@pytest.mark.parametrize("category", CATEGORY_NAMES)
def test_an_object_is_determined_by_category_and_seed(category: str) -> None:
    obj = sample_object(category, 7)
    again = sample_object(category, 7)
    assert again == obj
    points = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    distance, part = obj.field().signed_distance(points)
    assert torch.equal(again.field().signed_distance(points)[0], distance)
    # the stored attributes are JSON and rebuild the same field
    rebuilt = CategoryObject(category, 7, obj.colour, json.loads(json.dumps(obj.attributes)), obj.caption)
    rebuilt_distance, rebuilt_part = rebuilt.field().signed_distance(points)
    assert torch.equal(rebuilt_distance, distance) and torch.equal(rebuilt_part, part)
    # other seeds give other objects; an explicit colour changes the colour only
    assert all(sample_object(category, seed).attributes != obj.attributes for seed in (8, 9, 10))
    other = next(name for name in COLOUR_NAMES if name != obj.colour)
    recoloured = sample_object(category, 7, colour=other)
    assert recoloured.attributes == obj.attributes
    words = [other if word == obj.colour else word for word in obj.caption.split()[1:]]
    assert recoloured.caption.split()[1:] == words


@pytest.mark.parametrize("category", CATEGORY_NAMES)
def test_objects_stand_on_the_floor_inside_the_scene_box(category: str, objects: dict) -> None:
    for obj, inside in objects[category]:
        points = GRID[inside]
        assert len(points) > 0, obj.caption
        assert points.abs().max() <= 0.8, f"{obj.caption}: reaches {points.abs().max():.3f}"
        assert -0.7 <= points[:, 1].min() <= -0.35, f"{obj.caption}: lowest point {points[:, 1].min():.3f}"
        low, high = points.min(dim=0).values, points.max(dim=0).values
        assert (low[[0, 2]] <= 0).all() and (high[[0, 2]] >= 0).all(), f"{obj.caption}: off the Y axis"


@pytest.mark.parametrize("category", CATEGORY_NAMES)
def test_objects_of_a_category_vary(category: str, objects: dict) -> None:
    volumes = torch.tensor([inside.float().mean().item() for _, inside in objects[category]])
    assert volumes.max() / volumes.min() > 1.2
    features = [_discrete(obj) for obj, _ in objects[category]]
    assert len(features[0]) >= 2
    for name in features[0]:
        assert len({str(feature[name]) for feature in features}) >= 2, f"{category}: {name} never changes"


def test_categories_are_told_apart_by_shape(objects: dict) -> None:
    """Volume IoU on the grid: objects overlap others of their category more than those of other categories.

    Thin-legged categories (chair, bench, stool) overlap little even among themselves, so each category is
    compared with its mean overlap with the others, and the pooled means must differ by a factor of two.
    """
    per_category = 10
    masks = torch.stack([inside for category in CATEGORY_NAMES for _, inside in objects[category][:per_category]])
    masks = masks.float()
    inter = masks @ masks.T
    iou = inter / (masks.sum(1)[:, None] + masks.sum(1)[None, :] - inter)
    labels = torch.arange(len(CATEGORY_NAMES)).repeat_interleave(per_category)
    same = labels[:, None] == labels[None, :]
    same_other = same & ~torch.eye(len(labels), dtype=torch.bool)  # pairs of different objects of a category
    within, across = iou[same_other].mean(), iou[~same].mean()
    assert across < 0.5 * within, f"mean IoU within categories {within:.2f}, across {across:.2f}"
    for k, category in enumerate(CATEGORY_NAMES):
        rows = labels == k
        own, others = iou[rows][same_other[rows]].mean(), iou[rows][~same[rows]].mean()
        assert own > 2 * others, f"{category}: IoU {own:.2f} with its own category, {others:.2f} with others"


# discrete feature values and the words the caption must contain for them (and must not for the other value)
PHRASES = {
    ("chair", "armrests", True): "armrests",
    ("chair", "back", "slatted"): "slatted back",
    ("table", "top", "round"): "a round",
    ("table", "top", "square"): "a square",
    ("table", "base", "pedestal"): "a pedestal base",
    ("lamp", "shade", "cone"): "a cone shade",
    ("lamp", "shade", "drum"): "a drum shade",
    ("lamp", "arm", "bent"): "bent arm",
    ("mug", "handle", True): "a handle",
    ("mug", "saucer", True): "saucer",
    ("car", "roof", "open"): "an open top",
    ("car", "spoiler", True): "spoiler",
    ("airplane", "biplane", True): "two pairs of wings",
    ("airplane", "engines", True): "wing engines",
    ("bottle", "size", "tall"): "a tall",
    ("bottle", "size", "short"): "a short",
    ("bottle", "cap", True): "a cap",
    ("bench", "backrest", True): "a backrest",
    ("bench", "legs", "panels"): "panel legs",
    ("sofa", "armrests", True): "armrests",
    ("sofa", "chaise", True): "a chaise",
    ("stool", "legs", 3): "a three-legged",
    ("stool", "legs", 4): "a four-legged",
    ("stool", "footrest", True): "a footrest",
}


@pytest.mark.parametrize("category", CATEGORY_NAMES)
def test_captions_name_colour_category_and_features(category: str, objects: dict) -> None:
    by_features: dict[str, str] = {}
    for obj, _ in objects[category]:
        assert set(_discrete(obj)) == {name for c, name, _ in PHRASES if c == category}, "a feature without a phrase"
        assert re.fullmatch(rf"an? ([a-z-]+ )*{obj.colour} {category}( with [a-z -]+)?", obj.caption), obj.caption
        article, rest = obj.caption.split(" ", 1)
        assert article == ("an" if rest[0] in "aeiou" else "a"), obj.caption
        anonymous = rest.replace(obj.colour, "*", 1)
        for name, value in _discrete(obj).items():
            if (category, name, value) in PHRASES:
                assert PHRASES[category, name, value] in obj.caption, (obj.caption, name, value)
            # a feature whose other value has a phrase is absent from the caption
            others = [phrase for (c, n, v), phrase in PHRASES.items() if (c, n) == (category, name) and v != value]
            assert all(phrase not in obj.caption for phrase in others), (obj.caption, name, value)
        # the caption tells the discrete features apart, and depends on nothing else
        key = json.dumps(_discrete(obj), sort_keys=True)
        assert by_features.setdefault(key, anonymous) == anonymous
    assert len(set(by_features.values())) == len(by_features)


def test_tall_bottles_are_taller_than_short_ones(objects: dict) -> None:
    heights = {"tall": [], "short": []}
    for obj, inside in objects["bottle"]:
        heights[obj.attributes["size"]].append(GRID[inside][:, 1].max().item())
    assert min(heights["tall"]) > sum(heights["short"]) / len(heights["short"]) + 0.1


@pytest.mark.parametrize("category", CATEGORY_NAMES)
def test_the_main_colour_is_the_captions_colour_and_dominates(category: str, objects: dict) -> None:
    for obj, inside in objects[category][:8]:
        field = obj.field()
        out = field(GRID[inside].unsqueeze(0))
        assert (out.density > field.surface_density).all()
        colours, counts = out.albedo[0].unique(dim=0, return_counts=True)
        allowed = torch.tensor([COLOURS[obj.colour], TRIM])
        assert all((allowed - colour).abs().amax(dim=1).min() < 1e-6 for colour in colours), obj.caption
        assert torch.allclose(colours[counts.argmax()], torch.tensor(COLOURS[obj.colour])), obj.caption
        assert counts.max() > 0.55 * counts.sum(), f"{obj.caption}: main colour on {counts.max() / counts.sum():.2f}"


def test_unknown_category_or_colour_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown category 'spaceship'; the categories are chair, table, lamp"):
        sample_object("spaceship", 0)
    with pytest.raises(ValueError, match=r"unknown colour 'mauve'; the colours are red, orange"):
        sample_object("chair", 0, colour="mauve")


def test_private_shapes_match_the_primitives() -> None:
    points = torch.rand(4000, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    center = (0.1, -0.2, 0.05)
    torch.testing.assert_close(_frustum(center, 0.4, 0.4, 0.3)(points), cylinder_sdf(center, 0.4, 0.3)(points))
    torch.testing.assert_close(_frustum(center, 0.4, 0.0, 0.3)(points), cone_sdf(center, 0.4, 0.3)(points))
    torch.testing.assert_close(_capsule(center, center, 0.3)(points), sphere_sdf(center, 0.3)(points))
    # a horizontal capsule: distance to the segment's axis minus the radius, between the ends
    rod = _capsule((-0.5, 0.0, 0.0), (0.5, 0.0, 0.0), 0.2)(points)
    between = points[:, 0].abs() <= 0.5
    torch.testing.assert_close(rod[between], points[between][:, 1:].norm(dim=-1) - 0.2)


def test_pil_dataset_keeps_its_held_out_categories_colours_and_test_objects_apart() -> None:
    assert set(PIL_CATEGORIES) | {"sofa", "stool"} == set(CATEGORY_NAMES) and not {"sofa", "stool"} & set(
        PIL_CATEGORIES
    )
    splits = [pil_split(seed) for seed in range(1000)]
    assert splits.count("test") == 100
    colours = {pil_object(category, seed).colour for category in PIL_CATEGORIES for seed in range(40)}
    assert colours == set(PIL_COLOURS) and not colours & {"pink", "cyan"}
    assert pil_object("chair", 3).caption == sample_object("chair", 3, pil_object("chair", 3).colour).caption
    with pytest.raises(ValueError, match="kept out of PIL's dataset"):
        pil_object("sofa", 0)
