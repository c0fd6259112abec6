"""The guide's judge (evaluation/guide.py): the truth drawn as a sample scores perfectly, a wrong view or a
wrong colour does not, and the command writes its table and grids for a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_toy

from evaluation import guide
from toyworld.diffusion import VIEW_DIM, load_diffusion, save_diffusion
from toyworld.prompts import find_prompt


def truth_at(prompt_text: str, azimuth: float, elevation: float, size: int = 32):
    prompt = find_prompt(prompt_text)
    cameras = guide.judge_cameras(azimuth, elevation, size)
    return prompt, cameras, *guide.truth(prompt, cameras)


def test_camera_effect_is_zero_for_a_model_that_ignores_the_camera(tmp_path: Path) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    prompts = ["a red cube", "a blue sphere"]
    assert min(guide.camera_effect(diffusion, prompts, str(clip), timesteps=(10, 900)).values()) > 0
    unet, scheduler = load_diffusion(diffusion)
    unet.class_embedding.linear_1.weight.data[:, :VIEW_DIM] = 0  # the camera's columns cut off
    save_diffusion(unet, scheduler, tmp_path / "blind", half=False)
    blind = guide.camera_effect(tmp_path / "blind", prompts, str(clip), timesteps=(10, 900))
    assert blind["camera_t10"] == blind["camera_t900"] == 0 and blind["text_t10"] > 0


def test_masks_and_iou() -> None:
    grey = torch.full((2, 3, 4, 4), 0.8)
    grey[0, 0, :2, :] = 0.2  # the top half of the first image is off-grey in one channel
    masks = guide.object_mask(grey)
    assert masks[0].sum() == 8 and masks[1].sum() == 0
    assert guide.mask_iou(masks[:1], masks[:1]).item() == 1.0
    half = masks.clone()
    half[0, :, 2:] = False
    assert guide.mask_iou(masks[:1], half[:1]).item() == pytest.approx(0.5)
    assert guide.mask_iou(masks[1:], masks[1:]).item() == 1.0  # both empty


def test_the_truth_itself_scores_perfectly_and_a_cube_has_views_to_follow() -> None:
    prompt, _cameras, rgb, masks, _ = truth_at("a red cube", 30.0, 20.0)
    scores = guide.judge_samples(prompt, rgb[:1].repeat(2, 1, 1, 1), rgb, masks, [])
    assert scores["silhouette_iou"] == 1.0 and scores["colour_error"] < 1e-6 and scores["colour_right"] == 1.0
    assert scores["truth_iou_other_views"] < guide.DISTINCT_VIEWS and scores["camera_followed"] == 1.0
    # the cube from above, offered as the view from 20°: a worse silhouette, and the camera not followed
    wrong_view = guide.judge_samples(prompt, rgb[2:3], rgb, masks, [])
    assert wrong_view["silhouette_iou"] < 0.9 and wrong_view["camera_followed"] == 0.0


def test_a_sphere_has_no_view_to_follow_and_a_wrong_colour_is_caught() -> None:
    prompt, _, rgb, masks, _ = truth_at("a red sphere", 150.0, 35.0)
    blue = rgb[:1].clone()
    blue[:, [0, 2]] = blue[:, [2, 0]]  # swap red and blue channels: same silhouette, blue object
    scores = guide.judge_samples(prompt, blue, rgb, masks, [])
    assert scores["camera_followed"] is None  # every view of a sphere is the same
    assert scores["silhouette_iou"] == 1.0 and scores["colour_right"] == 0.0 and scores["colour_error"] > 0.2
    # nothing drawn is no colour, not the background grey's nearest palette colour (pink)
    pink, _, pink_rgb, pink_masks, _ = truth_at("a pink sphere", 150.0, 35.0)
    blank = torch.full_like(pink_rgb[:1], 0.8)
    assert guide.judge_samples(pink, blank, pink_rgb, pink_masks, [])["colour_right"] == 0.0


def test_stack_parts_are_judged_apart() -> None:
    prompt, _, rgb, masks, parts = truth_at("a yellow cone on top of a blue cube", 30.0, 20.0)
    assert len(parts) == 2 and not (parts[0] & parts[1]).any() and (parts[0] | parts[1]).all()  # the image, split
    assert (parts[0] & masks[0]).sum() > (parts[1] & masks[0]).sum() > 0  # more of the bottom cube is seen
    scores = guide.judge_samples(prompt, rgb[:1], rgb, masks, parts)
    assert scores["part0_iou"] == 1.0 and scores["part1_iou"] == 1.0 and scores["part_colours_right"] == 1.0
    repainted = rgb[:1].clone()
    cone = (parts[1] & masks[0])[None, None].expand(1, 3, -1, -1)
    repainted[cone] = torch.tensor([0.1, 0.2, 0.8]).repeat_interleave(int(cone[0, 0].sum()))  # a blue cone
    assert guide.judge_samples(prompt, repainted, rgb, masks, parts)["part_colours_right"] == 0.0
    cut = rgb[:1].clone()
    cut[cone] = 0.8  # no cone drawn: the cube is still right, the top part is missing
    scores = guide.judge_samples(prompt, cut, rgb, masks, parts)
    assert scores["part0_iou"] == 1.0 and scores["part1_iou"] == 0.0


@pytest.mark.slow
def test_judge_command_on_a_tiny_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    monkeypatch.setattr(guide, "toy64", lambda: _FirstTwo())
    guide.main(["--model", str(diffusion), "--out", str(tmp_path / "judge"), "--samples", "2", "--steps", "2",
                "--stacks", "2", "--clip", str(clip)])  # fmt: skip
    results = json.loads((tmp_path / "judge" / "results.json").read_text())
    assert len(results["toy64"]["rows"]) == 2 * len(guide.HELD_OUT_CAMERAS)
    assert 0 <= results["toy64"]["summary"]["mean"]["silhouette_iou"] <= 1
    assert 0 <= results["toy64"]["summary"]["mean"]["r_precision"] <= 1
    assert "part_colours_right" in results["stacks"]["summary"]["mean"]
    assert results["camera_effect"]["camera_t50"] > 0 and results["camera_effect"]["text_t900"] > 0
    assert (tmp_path / "judge" / "grid_toy64.png").exists() and (tmp_path / "judge" / "table.md").exists()


class _FirstTwo:
    """toy64 cut to its first two prompts (retrieval still among both)."""

    def __init__(self) -> None:
        from toyworld.prompts import toy64

        self.prompts = toy64().prompts[:2]
