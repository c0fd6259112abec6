"""Train the toy diffusion model on toy-world renders, conditioned on the frozen toy CLIP's text token
states of view-suffixed captions and on the camera direction.

    python -m train.toy_diffusion --data data/clip-toy64 data/clip-stacks data/clip-categories \\
        --clip checkpoints/toy-clip --out runs/toy-diffusion

Reads top to bottom: data (renders downsampled to the UNet's size, caption states computed once),
model, loop (ε-prediction, caption and camera dropout for classifier-free guidance, EMA weights,
resumable checkpoints), evaluation (samples of every toy64 prompt, toy-CLIP R-precision, a grid).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel
from tqdm.auto import tqdm

from guidance.clip import load_clip
from hub.model_card import write_model_card
from nerf.cameras import view_prompt
from nerf.checkpoint import resume, save_training_state
from nerf.random import derived_seed
from nerf.video import save_image_grid
from toyworld.dataset import load_renders
from toyworld.diffusion import (
    TextCondition,
    camera_condition,
    encode_captions,
    load_diffusion,
    new_scheduler,
    new_unet,
    sample,
    save_diffusion,
    unet_condition,
)
from toyworld.prompts import toy64
from train.optimization import optimizer_step
from train.toy_clip import retrieval_top1

CARD_SUMMARY = (
    "A pixel-space diffusers UNet2DConditionModel (32×32 RGB, ε-prediction, DDPM linear schedule, T = 1000) that "
    "cross-attends to the toy CLIP's text token states of view-suffixed captions and adds the pooled text "
    "embedding and the camera's (sin, cos) azimuth and elevation to its time embedding "
    "(class_labels = [camera, pooled]). "
    "It stands in for DeepFloyd IF in score distillation. "
    "Weights are the EMA. `toy64_r_precision`: toy-CLIP top-1 retrieval of samples of all 64 toy64 prompts "
    "(front view, classifier-free guidance `guidance_scale`) among the 64 captions."
)


# --- data ------------------------------------------------------------------------------------------------
def prepare(
    folders: list[Path], size: int, clip: torch.nn.Module, tokenizer
) -> tuple[torch.Tensor, torch.Tensor, TextCondition, torch.Tensor]:
    """(images `[N, 3, s, s]` in [-1, 1], caption index `[N]`, caption conditions `[C, ...]`, camera `[N, 4]`).

    The last caption condition is the empty caption's, used for dropout and for guidance.
    """
    images, _, captions, records = load_renders(folders)
    images = F.interpolate(images.float() / 127.5 - 1, size=(size, size), mode="area")
    texts = [*sorted(set(captions)), ""]
    index = {c: i for i, c in enumerate(texts)}
    azimuth = torch.tensor([r["azimuth_deg"] for r in records])
    elevation = torch.tensor([r["elevation_deg"] for r in records])
    conditions = encode_captions(clip, tokenizer, texts)
    return images, torch.tensor([index[c] for c in captions]), conditions, camera_condition(azimuth, elevation)


def render_weights(folders: list[Path], folder_weights: list[float] | None) -> torch.Tensor:
    """Sampling weight of each render `[N]`: each folder's weight shared equally among its renders."""
    sizes = [len((Path(f) / "captions.jsonl").read_text().splitlines()) for f in folders]
    folder_weights = folder_weights or sizes
    return torch.cat([torch.full((n,), w / n) for n, w in zip(sizes, folder_weights, strict=True)])


# --- evaluation ------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_r_precision(
    unet, clip, tokenizer, prompts: list[str], guidance: float, steps: int, seed: int
) -> tuple[float, torch.Tensor]:
    """(toy-CLIP top-1 retrieval of one front-ish sample per prompt among all 64 toy64 prompts, the
    samples `[N, 3, s, s]` uint8). Samples are upsampled to the CLIP's 64×64 input."""
    text = encode_captions(clip, tokenizer, [view_prompt(p, "front") for p in prompts])
    empty = encode_captions(clip, tokenizer, [""])
    camera = camera_condition(torch.full((len(prompts),), 20.0), torch.full((len(prompts),), 15.0))
    images = sample(unet, text, empty, camera, guidance, steps, torch.Generator().manual_seed(seed))
    pixels = (images * 255).round().to(torch.uint8)
    upsampled = F.interpolate(pixels.float(), size=(64, 64), mode="bilinear").round().to(torch.uint8)
    return retrieval_top1(clip, tokenizer, upsampled, prompts, toy64().texts), pixels


def evaluate(unet, clip, tokenizer, guidance: float, steps: int, out: Path, seed: int) -> dict:
    """Sample every toy64 prompt; toy-CLIP R-precision of the samples; an 8×8 PNG grid of them."""
    r_precision, pixels = sample_r_precision(unet, clip, tokenizer, toy64().texts, guidance, steps, seed)
    save_image_grid(pixels.permute(0, 2, 3, 1).reshape(8, 8, *pixels.shape[2:], 3) / 255, out / "samples_toy64.png")
    return {"toy64_r_precision": r_precision, "guidance_scale": guidance}


# --- training --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the toy diffusion model on toy-world renders.")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="dataset folders (toyworld.dataset)")
    parser.add_argument(
        "--data-weights",
        type=float,
        nargs="+",
        help="sampling weight of each --data folder (default: every render equally likely)",
    )
    parser.add_argument("--clip", default="toy", help="the toy CLIP: 'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint/, model/, metrics.json")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--drop-caption", type=float, default=0.15, help="share of captions replaced by empty")
    parser.add_argument("--drop-camera", type=float, default=0.15, help="share of cameras replaced by zeros")
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance for the evaluation")
    parser.add_argument("--sample-steps", type=int, default=50, help="DDIM steps for the evaluation samples")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="start from this model ('toy', a folder or a Hub repo id), not new weights")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 1 or not 0 <= args.drop_caption < 1 or not 0 <= args.drop_camera < 1:
        parser.error("--steps and --batch must be >= 1, dropout rates in [0, 1)")
    if args.data_weights is not None and (len(args.data_weights) != len(args.data) or min(args.data_weights) <= 0):
        parser.error("--data-weights needs one positive weight per --data folder")

    clip, _, tokenizer = load_clip(args.clip)
    unet = new_unet(args.seed) if args.init is None else load_diffusion(args.init)[0].float()
    images, caption_index, conditions, cameras = prepare(args.data, unet.config.sample_size, clip, tokenizer)
    empty = len(conditions.pooled) - 1
    weights = render_weights(args.data, args.data_weights)
    millions = sum(p.numel() for p in unet.parameters()) / 1e6
    print(f"{len(images)} renders, {empty} captions, UNet {millions:.2f} M parameters")

    scheduler = new_scheduler()
    ema = copy.deepcopy(unet).requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = get_cosine_schedule_with_warmup(optimizer, 100, args.steps)
    both = torch.nn.ModuleDict({"unet": unet, "ema": ema})  # one checkpoint holds the weights and their average
    checkpoint = args.out / "checkpoint"
    step = resume(checkpoint, both, optimizer, schedule)
    # diffusers' EMA (decay min(ema, (1 + n) / (10 + n)) after n updates), resumed from the checkpointed average
    averages = EMAModel(ema.parameters(), decay=args.ema)
    averages.optimization_step = step
    generator = torch.Generator()
    unet.train()
    started = time.perf_counter()
    progress = tqdm(total=args.steps, initial=step, desc="toy diffusion")
    while step < args.steps:
        generator.manual_seed(derived_seed(args.seed, step))  # the batch depends on the step alone: resumable
        batch = torch.multinomial(weights, args.batch, replacement=True, generator=generator)
        x0 = images[batch]
        t = torch.randint(0, scheduler.config.num_train_timesteps, (args.batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        noisy = scheduler.add_noise(x0, noise, t)
        dropped = torch.rand(args.batch, generator=generator) < args.drop_caption
        text = conditions.select(torch.where(dropped, empty, caption_index[batch]))
        camera = cameras[batch] * (torch.rand(args.batch, 1, generator=generator) >= args.drop_camera)
        loss = F.mse_loss(unet(noisy, t, **unet_condition(text, camera)).sample, noise)
        optimizer_step(loss, list(unet.parameters()), optimizer, schedule)
        averages.step(unet.parameters())
        averages.copy_to(ema.parameters())  # the module the checkpoint holds
        step += 1
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}")
        if step % args.checkpoint_every == 0 or step == args.steps:
            save_training_state(checkpoint, both, optimizer, step, schedule=schedule)
    progress.close()

    ema.eval()
    metrics = {"steps": args.steps, "batch": args.batch, "renders": len(images),
               "train_seconds_this_run": round(time.perf_counter() - started, 1), "init": args.init}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    metrics |= evaluate(ema, clip, tokenizer, args.guidance, args.sample_steps, args.out, args.seed)
    save_diffusion(ema, scheduler, args.out / "model")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_model_card(args.out / "model", "Toy diffusion model", CARD_SUMMARY, metrics, "diffusers", ("toy-world",))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
