"""LATTE3D's shape regularization: the asset library and its retrieval, the silhouette and occupancy
targets, and that the terms pull a run's object towards the asset (per-prompt and amortized).
Whether it makes better meshes with the trained toy models is measured in docs/ATT3D.md, not here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import tiny_toy

from att3d.training import ATT3DTrainConfig, train_att3d
from distillation.shape_prior import (
    OCCUPANCY_SCALE,
    AssetPairs,
    ShapePrior,
    albedo_loss,
    shape_prior_loss,
    silhouette_loss,
)
from dreamfusion import DreamFusionConfig, dreamfusion
from dreamfusion.warm_start import load_trained_field
from evaluation.att3d import bundle
from guidance import load_guidance, load_text_encoder
from nerf.cameras import Cameras, turntable
from nerf.render import RenderConfig, render
from nerf.settings import with_overrides
from toyworld.assets import Asset, AssetLibrary, caption_vectors
from toyworld.prompts import find_prompt, toy64, world
from toyworld.render_gt import render_ground_truth

TINY_ATT3D = ["prompts_per_step=4", "num_samples=8", "model.voxel.resolution=8", "model.hidden_dim=8",
              "render_every=0", "log_every=1", "warmup=1", "anneal_steps=4"]  # fmt: skip


@pytest.fixture(scope="module")
def encoder():
    return load_text_encoder("toy", device="cpu", use_cache=False)


@pytest.fixture(scope="module")
def library(encoder) -> AssetLibrary:
    """toy64 and the category instances, less toy64's held-out prompts (as a toy64 run builds it)."""
    held_out = [p.text for p in toy64().split("unseen")]
    return AssetLibrary.build(encoder, exclude=held_out, sets=("toy64", "categories"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    return tiny_toy(tmp_path_factory.mktemp("tiny-toy"))


def test_every_caption_retrieves_its_own_asset_and_held_out_objects_stay_out(library: AssetLibrary) -> None:
    held_out = {p.text for p in toy64().split("unseen")}
    assert held_out.isdisjoint(library.captions)
    seen = [p.text for p in toy64().split("seen")]
    assert set(seen) <= set(library.captions)
    index, similarity = library.retrieve(seen)
    assert [library.captions[i] for i in index] == seen
    np.testing.assert_allclose(similarity, 1.0, atol=1e-5)


def test_retrieval_finds_the_nearest_caption_by_meaning(library: AssetLibrary) -> None:
    index, similarity = library.retrieve(["a red chair", "a blue cube", "a red cube"])
    chair, cube, held_out = (library.captions[i] for i in index)
    assert "chair" in chair.split() and "red" in chair.split()  # a red chair instance, however its details go
    assert cube == "a blue cube"
    assert held_out != "a red cube" and similarity[2] < 1 - 1e-3  # held out: something else, and not identical


def test_silhouettes_and_occupancy_are_the_assets_own(library: AssetLibrary) -> None:
    sphere, cube = (library.captions.index(t) for t in ("a green sphere", "a blue cube"))
    views = turntable(3, width=24, height=24)
    cameras = Cameras(views.c2w.expand(2, 3, 4, 4), views.fov_y.expand(2, 3), 24, 24)  # one row per asset
    masks = library.silhouettes([sphere, cube], cameras)
    assert masks.shape == (2, 3, 24, 24) and set(masks.unique().tolist()) == {0.0, 1.0}
    truth = render_ground_truth(find_prompt("a blue cube").field(), views)
    assert (masks[1] == truth.mask.float()).float().mean() > 0.99  # the same silhouette (64 vs 96 trace steps)
    assert masks[0].sum() < masks[1].sum()  # a sphere of radius 0.5 covers less than the cube around it
    points = torch.rand(2, 500, 3, generator=torch.Generator().manual_seed(0)) * 1.4 - 0.7
    inside = library.occupancy([sphere, sphere], points)
    torch.testing.assert_close(inside, (points.norm(dim=-1) < 0.5).float())  # toy64's sphere: radius 0.5 at 0


def test_the_true_object_meets_its_own_targets_and_another_does_not(library: AssetLibrary) -> None:
    cube = library.captions.index("a blue cube")
    prior = ShapePrior(weight=1, occupancy_weight=1, albedo_weight=1)
    views = turntable(4, width=32, height=32)
    pairs = AssetPairs(np.array([cube]), np.array([cube]), np.zeros(1))
    losses = {}
    for name in ("a blue cube", "a red sphere"):
        field = find_prompt(name).field()
        with torch.no_grad():
            opacity = render(field, views, RenderConfig(num_samples=128), "albedo").opacity
        generator = torch.Generator().manual_seed(0)
        _, losses[name] = shape_prior_loss(prior, 0, field, opacity, views.reshape(1, 4), library, pairs, generator)
    right, wrong = losses["a blue cube"], losses["a red sphere"]
    assert right["silhouette"] < 0.25 * wrong["silhouette"]  # measured 18 (the rim of a 32² image) against 127
    assert right["occupancy"] < 0.25 * wrong["occupancy"]  # 16 (the SDF's soft density at the surface) against 95
    assert right["albedo"] < 1e-6 and wrong["albedo"] > 0.5  # blue against red: a squared distance of about 1.2


def test_interpolants_are_pulled_to_the_blend_of_their_assets() -> None:
    looked_up = []

    def lookup(index: np.ndarray) -> torch.Tensor:
        looked_up.append(index.tolist())
        return torch.as_tensor(index, dtype=torch.float32).view(-1, 1).expand(-1, 4)

    plain = AssetPairs(np.array([2, 5]), np.array([2, 5]), np.zeros(2))
    torch.testing.assert_close(plain.targets(lookup), torch.tensor([[2.0] * 4, [5.0] * 4]))
    assert len(looked_up) == 1  # plain prompts: their one asset only
    mixed = AssetPairs(np.array([2, 5]), np.array([6, 5]), np.array([0.25, 0.5]))
    torch.testing.assert_close(mixed.targets(lookup), torch.tensor([[3.0] * 4, [5.0] * 4]))


def test_settings_are_checked_and_alpha_follows_its_schedule() -> None:
    for bad in ({"weight": -1}, {"albedo_weight": float("nan")}, {"weight_end": float("inf")}):
        with pytest.raises(ValueError, match="finite, >= 0"):
            ShapePrior(**bad)
    for bad in ({"occupancy_points": 100.5}, {"anneal_steps": 0}):
        with pytest.raises(ValueError, match="whole numbers"):
            ShapePrior(**bad)
    with pytest.raises(ValueError, match="box"):
        ShapePrior(box=1.5)
    assert not ShapePrior().enabled and ShapePrior(occupancy_weight=1).enabled
    annealed = ShapePrior(weight=4, weight_end=0, anneal_steps=100)
    assert [annealed.alpha(s) for s in (0, 50, 100, 500)] == [4, 2, 0, 0]
    assert ShapePrior(weight=3).alpha(10_000) == 3
    config = with_overrides(DreamFusionConfig(), ["shape.weight=5", "shape.occupancy_weight=1"])
    assert config.shape == ShapePrior(weight=5, occupancy_weight=1)


def test_per_prompt_run_is_pulled_to_the_assets_silhouette_and_inside(tiny, tmp_path: Path) -> None:
    """Same seed, same steps: with the terms the object's opacity and inside match the asset's far better."""
    guidance = load_guidance(tiny[0], clip=tiny[1], device="cpu", use_cache=False)
    prompt = find_prompt("a blue cube")
    library = AssetLibrary([Asset(prompt.text, prompt)], guidance.text_encoder)
    base = DreamFusionConfig(steps=40, render_every=0, checkpoint_every=40, num_samples=32,
                             voxel=replace(DreamFusionConfig().voxel, resolution=16))  # fmt: skip
    cameras = turntable(4, width=32, height=32)
    truth = render_ground_truth(prompt.field(), cameras).mask.float()
    points = torch.rand(1, 4096, 3, generator=torch.Generator().manual_seed(1)) * 1.3 - 0.65
    inside = library.occupancy([0], points)
    errors = {}
    for name, shape in (("off", ShapePrior()), ("on", ShapePrior(weight=5, occupancy_weight=1))):
        dreamfusion(prompt.text, guidance, tmp_path / name, replace(base, shape=shape), progress=False,
                    export=False, video=False, library=library)  # fmt: skip
        field = load_trained_field(tmp_path / name / "field")
        with torch.no_grad():
            opacity = render(field, cameras, RenderConfig(num_samples=64), "albedo").opacity
            occupied = 1 - torch.exp(-OCCUPANCY_SCALE * field(points).density)
        errors[name] = (silhouette_loss(opacity, truth).item(), (occupied - inside).square().mean().item())
    assert errors["on"][0] < 0.5 * errors["off"][0]
    assert errors["on"][1] < 0.85 * errors["off"][1]  # 40 steps of lr 0.1 move a density only so far


def test_amortized_run_trains_with_the_library_less_its_held_out_prompts(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    config = with_overrides(ATT3DTrainConfig(steps=2), [*TINY_ATT3D, "shape.weight=5", "shape.occupancy_weight=1"])
    train_att3d(config, str(tiny[0]), tmp_path / "run", device="cpu", progress=False)
    retrieval = json.loads((tmp_path / "run" / "retrieval.json").read_text())
    seen = [p.text for p in toy64().split("seen")]
    assert [r["prompt"] for r in retrieval] == seen
    assert all(r["asset"] == r["prompt"] for r in retrieval)  # every training prompt has its own object
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["silhouette"] > 0 and r["occupancy"] > 0 for r in log)
    bundle(tmp_path / "run", tmp_path / "bundle", limit=1)  # the card names both recipes
    card = (tmp_path / "bundle" / "README.md").read_text()
    assert "shape regularization" in card and "(α = 5" in card and "pure score-distillation recipe" in card


def test_a_run_over_the_whole_world_never_sees_a_held_out_prompt_or_its_object(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    config = with_overrides(ATT3DTrainConfig(steps=1, prompts="world"), [*TINY_ATT3D, "shape.weight=5"])
    model = train_att3d(config, str(tiny[0]), tmp_path / "run", device="cpu", progress=False)
    retrieval = json.loads((tmp_path / "run" / "retrieval.json").read_text())
    held_out = {p.text for p in world().split("unseen")}
    assert [r["prompt"] for r in retrieval] == [p.text for p in world().split("seen")]
    assert held_out.isdisjoint(r["prompt"] for r in retrieval) and held_out.isdisjoint(r["asset"] for r in retrieval)
    assert {"chair", "on", "top", "cube"} <= set(model.config.training_words)
    # its bundle is judged per kind of prompt, each kind against its own captions
    scores = bundle(tmp_path / "run", tmp_path / "bundle", limit=1)
    kinds = [f"{part} {split}" for part in ("toy64", "stacks", "categories") for split in ("seen", "unseen")]
    assert sorted(scores["fp16"]) == sorted(scores["fp32"]) == sorted(kinds)
    assert all(scores["fp16"][kind]["prompts"] == 1 for kind in kinds)
    assert "each kind judged by itself" in (tmp_path / "bundle" / "README.md").read_text()


def test_the_colour_term_split_over_processes_has_the_gradient_of_one() -> None:
    """Rows split over two processes, whose gradients are averaged (as DDP does), with the count of
    inside points averaged over both: the same gradient as one process over every row, though the two
    halves hold different numbers of inside points."""
    generator = torch.Generator().manual_seed(0)
    albedo = torch.rand(4, 64, 3, generator=generator, requires_grad=True)
    target = torch.rand(4, 64, 3, generator=generator)
    inside = (torch.rand(4, 64, generator=generator) < torch.tensor([[0.9], [0.8], [0.2], [0.1]])).float()
    (whole,) = torch.autograd.grad(albedo_loss(albedo, target, inside), albedo)
    per_process = inside.sum() / 2  # the count's mean over the two processes
    halves = [albedo_loss(albedo[rows], target[rows], inside[rows], mean=lambda _: per_process)
              for rows in (slice(0, 2), slice(2, 4))]  # fmt: skip
    (split,) = torch.autograd.grad(sum(halves) / 2, albedo)
    torch.testing.assert_close(split, whole)
    # each half normalised by its own count (what one process alone would do) weighs the rows differently
    alone = [albedo_loss(albedo[rows], target[rows], inside[rows]) for rows in (slice(0, 2), slice(2, 4))]
    (naive,) = torch.autograd.grad(sum(alone) / 2, albedo)
    assert not torch.allclose(naive, whole)


def test_captions_encoded_in_chunks_are_the_captions_encoded_at_once() -> None:
    encoder = load_text_encoder("toy", device="cpu")
    texts = [p.text for p in toy64().prompts[:5]]
    at_once = caption_vectors(encoder, texts, chunk=len(texts))
    torch.testing.assert_close(caption_vectors(encoder, texts, chunk=2), at_once)
    torch.testing.assert_close(at_once.norm(dim=-1), torch.ones(len(texts)))
