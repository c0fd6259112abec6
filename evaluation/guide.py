"""The guide's own judge: does the toy diffusion model draw the true object, at the camera it is asked for?

Everything score distillation makes copies what the guide draws, so the guide is judged like the
objects are: against the ground truth. For every toy64 prompt (and, with `--stacks N`, N stacks
prompts), `--samples` samples at each held-out camera (fixed views that no training render has exactly:
azimuth 30° / elevation 20° and 150° / 35°, at the world's framing), each compared with the true render
at the same camera:

- silhouette IoU: both masks taken alike, pixels farther than 0.12 from the background grey in some
  channel (a sample has no mask of its own), per shape and, for stacks, per part (within the image's
  share of each part: the pixels nearer to where the truth shows that part than to where it shows the other);
- colour: the mean colour of the sample's object pixels against the truth's (mean absolute over RGB, on
  the [0, 1] scale), and whether its nearest palette colour by chromaticity is the asked one (per part
  for stacks: the sample's object pixels within the image's share of that part); nothing drawn is wrong;
- camera following: the sample's IoU with the truth at the asked camera against its IoU with the truth
  at two other views, 45° round at the same elevation and the same azimuth from 60° above (or from 10°
  below, when asked from above 25°). `camera_followed` is the share of samples that match the asked view
  better than every other view that differs from it (the truth's own IoU between the two below 0.9: a
  sphere's views never do); None where none differs;
- toy-CLIP R-precision of the toy64 samples among the 64 captions;
- camera effect: how much the camera input alone (elevation −5° against 55°) moves the noise prediction,
  against how much changing the caption does (`camera_effect`);
- a picture grid per prompt set: a row per prompt, for each camera the truth and then its samples.

    python -m evaluation.guide --model toy --out runs/judge-guide
    python -m evaluation.guide --model runs/guide/model --out runs/judge-guide-new --guidance 2 --stacks 64

Writes `results.json` (per prompt, per shape, overall), `table.md` and `grid_toy64.png` / `grid_stacks.png`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt
from torch import Tensor
from tqdm.auto import tqdm

from guidance.clip import load_clip
from nerf.analytic import SDFField
from nerf.cameras import VIEW_DISTANCE, VIEW_FOV_DEG, Cameras, orbit_cameras, view_label, view_prompt
from nerf.video import save_image_grid
from toyworld.clip import retrieval_scores
from toyworld.diffusion import camera_input, encode_captions, load_diffusion, sample, unet_output
from toyworld.palette import nearest_colour
from toyworld.prompts import Prompt, stacks, toy64
from toyworld.render_gt import BACKGROUND, render_ground_truth

HELD_OUT_CAMERAS = ((30.0, 20.0), (150.0, 35.0))  # (azimuth, elevation) in degrees
# The views a sample should not match: 45° round (a cube, an octahedron and a cross repeat every 90°, so a
# quarter turn would look the same) and the same azimuth seen from far above or below.
OTHER_AZIMUTH = 45.0
OTHER_ELEVATIONS = (60.0, -10.0)  # the other is the first unless the asked elevation is above 25°
GREY_TOLERANCE = 0.12  # a pixel is the object's where some channel is this far from the background grey
DISTINCT_VIEWS = 0.9  # the truth's views count as different below this IoU between them
CLIP_SIZE = 64  # the toy CLIP's input side


def object_mask(images: Tensor, tolerance: float = GREY_TOLERANCE) -> Tensor:
    """Where images `[B, 3, H, W]` in [0, 1] differ from the background grey: `[B, H, W]` bool."""
    return (images - BACKGROUND).abs().amax(dim=1) > tolerance


def mask_iou(first: Tensor, second: Tensor) -> Tensor:
    """IoU `[B]` of boolean masks `[B, H, W]` (1 where both are empty)."""
    union = (first | second).flatten(1).sum(1)
    return torch.where(union > 0, (first & second).flatten(1).sum(1) / union.clamp(min=1), torch.ones_like(union))


def mean_colour(images: Tensor, mask: Tensor) -> Tensor:
    """Mean RGB `[B, 3]` of images `[B, 3, H, W]` over masks `[B, H, W]` (the background grey where empty)."""
    weight = mask.unsqueeze(1).float()
    total = weight.flatten(1).sum(1).unsqueeze(1)
    mean = (images * weight).flatten(2).sum(2) / total.clamp(min=1)
    return torch.where(total > 0, mean, torch.full_like(mean, BACKGROUND))


def judge_cameras(azimuth: float, elevation: float, size: int) -> Cameras:
    """The asked camera and the two others, `[3]`, all at the world's framing."""
    other = OTHER_ELEVATIONS[0] if elevation <= 25 else OTHER_ELEVATIONS[1]
    azimuths = torch.tensor([azimuth, azimuth + OTHER_AZIMUTH, azimuth])
    return orbit_cameras(azimuths, torch.tensor([elevation, elevation, other]), VIEW_DISTANCE, VIEW_FOV_DEG, size, size)


@torch.no_grad()
def truth(prompt: Prompt, cameras: Cameras) -> tuple[Tensor, Tensor, list[Tensor]]:
    """(true renders `[V, 3, H, W]`, their masks `[V, H, W]` taken as a sample's are, and for a stack the
    image's share of each part at the first camera `[H, W]` bool, bottom to top: the pixels nearer to
    where that part is seen than to where the other is). Lit from the camera, 2×2 supersampled."""
    field = prompt.field()
    rgb = render_ground_truth(field, cameras, supersample=2).rgb.permute(0, 3, 1, 2)
    if prompt.kind == "single":
        return rgb, object_mask(rgb), []
    alone = [render_ground_truth(SDFField([(sdf, colour)]), cameras[:1]) for sdf, colour in
             zip(field.sdfs, field.colours.tolist(), strict=True)]  # fmt: skip
    depth = torch.stack([torch.where(r.mask[0], r.depth[0], torch.full_like(r.depth[0], torch.inf)) for r in alone])
    seen = [(depth[k] < torch.inf) & (depth[k] == depth.min(dim=0).values) for k in range(len(alone))]
    if not all(mask.any() for mask in seen):
        raise ValueError(f"a part of {prompt.text!r} is hidden at the judged camera: its share is undefined")
    distance = np.stack([distance_transform_edt(~mask.numpy()) for mask in seen])
    nearest = torch.from_numpy(distance.argmin(axis=0))
    return rgb, object_mask(rgb), [nearest == k for k in range(len(alone))]


def judge_samples(prompt: Prompt, samples: Tensor, rgb: Tensor, masks: Tensor, parts: list[Tensor]) -> dict:
    """Scores of samples `[N, 3, H, W]` of one prompt at one camera against the truth there."""
    drawn = object_mask(samples)
    n = len(samples)
    asked = mask_iou(drawn, masks[:1].expand(n, -1, -1))
    others = torch.stack([mask_iou(drawn, masks[k : k + 1].expand(n, -1, -1)) for k in range(1, len(masks))], 1)
    truth_others = mask_iou(masks[:1].expand(len(masks) - 1, -1, -1), masks[1:])
    distinct = truth_others < DISTINCT_VIEWS
    colour_error = (mean_colour(samples, drawn) - mean_colour(rgb[:1], masks[:1])).abs().mean(dim=1)
    result = {
        "silhouette_iou": asked.mean().item(),
        "iou_other_views": others.mean().item(),
        "truth_iou_other_views": truth_others.mean().item(),
        "camera_followed": (asked > others[:, distinct].max(dim=1).values).float().mean().item()
        if distinct.any()
        else None,
        "colour_error": colour_error.mean().item(),
    }
    if prompt.kind == "single":
        named = nearest_colour(mean_colour(samples, drawn))
        seen = drawn.flatten(1).any(1).tolist()
        result["colour_right"] = np.mean([c == prompt.parts[0][0] and a for c, a in zip(named, seen, strict=True)])
        return result
    right = []
    true_masks = masks[:1].expand(n, -1, -1)
    for (colour, _), region in zip(prompt.parts, parts, strict=True):
        share = region.expand(n, -1, -1)
        result[f"part{len(right)}_iou"] = mask_iou(drawn & share, true_masks & share).mean().item()
        named = nearest_colour(mean_colour(samples, drawn & share))
        right.append(torch.tensor([c == colour for c in named]) & (drawn & share).flatten(1).any(1))
    result["part_colours_right"] = (right[0] & right[1]).float().mean().item()
    result["colour_right"] = result["part_colours_right"]
    return result


@torch.no_grad()
def judge_guide(
    model: str | Path,
    prompts: list[Prompt],
    samples: int = 4,
    guidance: float = 2.0,
    steps: int = 30,
    seed: int = 0,
    clip: str = "toy",
    batch: int = 32,
) -> tuple[list[dict], Tensor]:
    """Sample `model` for every prompt at every held-out camera and judge each against the truth.

    Returns (one row per prompt and camera, a picture tensor `[P·C, 1 + samples, H, W, 3]`: truth then samples).
    """
    unet, scheduler = load_diffusion(model)
    unet = unet.float()
    clip_model, _, tokenizer = load_clip(clip)
    size = unet.config.sample_size
    empty = encode_captions(clip_model, tokenizer, [""])
    jobs = [(p, a, e) for p in prompts for a, e in HELD_OUT_CAMERAS]
    generator = torch.Generator().manual_seed(seed)
    rows, pictures = [], []
    for start in tqdm(range(0, len(jobs), batch), desc="judging the guide"):
        chunk = jobs[start : start + batch]
        cameras = [judge_cameras(a, e, size) for _, a, e in chunk]
        captions = [view_prompt(p.text, view_label(a, e)) for p, a, e in chunk for _ in range(samples)]
        text = encode_captions(clip_model, tokenizer, captions)
        asked = Cameras(torch.cat([c.c2w[:1] for c in cameras]), torch.cat([c.fov_y[:1] for c in cameras]), size, size)
        camera = camera_input(unet, asked).repeat_interleave(samples, dim=0)
        drawn = sample(unet, text, empty, camera, guidance, steps, generator, training_scheduler=scheduler)
        for k, ((prompt, azimuth, elevation), views) in enumerate(zip(chunk, cameras, strict=True)):
            rgb, masks, parts = truth(prompt, views)
            mine = drawn[k * samples : (k + 1) * samples]
            row = {"prompt": prompt.text, "azimuth": azimuth, "elevation": elevation, "parts": prompt.parts}
            rows.append(row | judge_samples(prompt, mine, rgb, masks, parts))
            pictures.append(torch.cat((rgb[:1], mine)).permute(0, 2, 3, 1))
    return rows, torch.stack(pictures)


@torch.no_grad()
def camera_effect(
    model: str | Path, prompts: list[str], clip: str = "toy", timesteps: tuple[int, ...] = (50, 300, 600, 900)
) -> dict[str, float]:
    """How much the camera input moves the model's noise prediction: for each prompt (caption "…, front
    view") and timestep, the same noisy image at azimuth 30° from elevation −5° and from 55°; the norm of
    the difference of the two predictions over the norm of one, averaged over prompts, per timestep. For
    comparison, the same for the caption changed to another prompt's at one camera ("text" entries)."""
    unet, _ = load_diffusion(model)
    unet = unet.float()
    clip_model, _, tokenizer = load_clip(clip)
    size = unet.config.sample_size
    cameras = orbit_cameras(torch.tensor([30.0, 30.0]), torch.tensor([-5.0, 55.0]), VIEW_DISTANCE, VIEW_FOV_DEG,
                            size, size)  # fmt: skip
    camera = camera_input(unet, cameras)
    generator = torch.Generator().manual_seed(0)
    effects: dict[str, list[float]] = defaultdict(list)
    for k, prompt in enumerate(prompts):
        other = prompts[(k + 1) % len(prompts)]
        text = encode_captions(clip_model, tokenizer, [view_prompt(p, "front") for p in (prompt, prompt, other)])
        for t in timesteps:
            x = torch.randn(1, 3, size, size, generator=generator).expand(3, -1, -1, -1)
            three = torch.cat((camera, camera[:1]))
            noise = unet_output(unet, x, torch.full((3,), t), text, three)
            effects[f"camera_t{t}"].append(((noise[0] - noise[1]).norm() / noise[0].norm()).item())
            effects[f"text_t{t}"].append(((noise[0] - noise[2]).norm() / noise[0].norm()).item())
    return {name: round(float(np.mean(values)), 4) for name, values in effects.items()}


def clip_r_precision(samples: Tensor, prompts: list[str], candidates: list[str], clip: str = "toy") -> float:
    """Toy-CLIP top-1 retrieval of samples `[N, H, W, 3]` in [0, 1] (upsampled to 64×64) among `candidates`."""
    model, _, tokenizer = load_clip(clip)
    pixels = F.interpolate(samples.permute(0, 3, 1, 2) * 255, size=(CLIP_SIZE,) * 2, mode="bilinear")
    hits, _ = retrieval_scores(model, tokenizer, pixels.round().clamp(0, 255).to(torch.uint8), prompts, candidates)
    return hits.float().mean().item()


def summarise(rows: list[dict], key=lambda row: row["parts"][0][1]) -> dict[str, dict[str, float]]:
    """Means of every score per group (default: the shape, or a stack's bottom shape) and overall ("mean")."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
        groups["mean"].append(row)
    scores = [k for k, v in rows[0].items() if isinstance(v, float) and k not in ("azimuth", "elevation")]
    summary = {}
    for name, members in groups.items():
        summary[name] = {}
        for score in [*scores, "camera_followed"]:
            values = [m[score] for m in members if m.get(score) is not None]
            summary[name][score] = round(float(np.mean(values)), 4) if values else None
    return summary


def markdown_table(summary: dict[str, dict[str, float]], scores: tuple[str, ...]) -> str:
    """Groups as columns, scores as rows."""
    names = [n for n in summary if n != "mean"] + ["mean"]
    lines = ["| score | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for score in scores:
        cells = ["" if summary[n].get(score) is None else f"{summary[n][score]:.2f}" for n in names]
        lines.append(f"| {score.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stack_judge_prompts(count: int, seed: int = 0) -> list[Prompt]:
    """`count` stacks prompts drawn at random (fixed by `seed`) from all 4096."""
    prompts = stacks().prompts
    return [prompts[i] for i in sorted(np.random.default_rng(seed).permutation(len(prompts))[:count].tolist())]


TOY64_SCORES = ("silhouette_iou", "colour_error", "colour_right", "iou_other_views", "truth_iou_other_views",
                "camera_followed")  # fmt: skip
STACK_SCORES = ("silhouette_iou", "part0_iou", "part1_iou", "part_colours_right", "colour_error")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Judge the toy diffusion model's samples against the truth.")
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a model folder or a Hub repo id")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt and camera")
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale")
    parser.add_argument("--steps", type=int, default=30, help="DDIM steps")
    parser.add_argument("--stacks", type=int, default=0, help="also judge this many random stacks prompts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip", default="toy", help="the toy CLIP the model reads: 'toy', a folder or a repo id")
    args = parser.parse_args(argv)
    if not 1 <= args.samples <= 64 or args.steps < 1 or args.guidance < 0 or not 0 <= args.stacks <= 4096:
        parser.error("need 1 <= --samples <= 64, --steps >= 1, --guidance >= 0, 0 <= --stacks <= 4096")
    args.out.mkdir(parents=True, exist_ok=True)
    options = {"samples": args.samples, "guidance": args.guidance, "steps": args.steps, "seed": args.seed}
    results: dict = {"model": str(args.model), "cameras": HELD_OUT_CAMERAS, **options}
    tables = []
    sets = [("toy64", toy64().prompts, TOY64_SCORES)]
    if args.stacks:
        sets.append(("stacks", stack_judge_prompts(args.stacks, args.seed), STACK_SCORES))
    for name, prompts, scores in sets:
        rows, pictures = judge_guide(args.model, list(prompts), clip=args.clip, **options)
        summary = summarise(rows)
        if name == "toy64":
            texts = [p.text for p in prompts]
            drawn = pictures[:, 1:].flatten(0, 1)
            owners = [row["prompt"] for row in rows for _ in range(args.samples)]
            summary["mean"]["r_precision"] = clip_r_precision(drawn, owners, texts, args.clip)
            results["camera_effect"] = camera_effect(args.model, texts, args.clip)
            print("how much the camera (−5° against 55°) and the caption move ε:", results["camera_effect"])
        results[name] = {"summary": summary, "rows": rows}
        rows_of_prompts = pictures.view(len(prompts), -1, *pictures.shape[2:])  # both cameras side by side
        save_image_grid(rows_of_prompts.clamp(0, 1), args.out / f"grid_{name}.png")
        heading = "by shape" if name == "toy64" else "by bottom shape"
        tables.append(f"### {name} ({heading}; {len(prompts)} prompts × {len(HELD_OUT_CAMERAS)} cameras × "
                      f"{args.samples} samples)\n\n" + markdown_table(summary, scores))  # fmt: skip
        print(tables[-1])
        if "r_precision" in summary["mean"]:
            print(f"toy-CLIP R-precision of the toy64 samples: {summary['mean']['r_precision']:.3f}")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "table.md").write_text("\n\n".join(tables) + "\n")


if __name__ == "__main__":
    main()
