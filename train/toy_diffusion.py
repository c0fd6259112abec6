"""Train the toy diffusion model on toy-world renders, conditioned on the frozen toy CLIP's text token
states of view-suffixed captions and on the camera direction.

    python -m train.toy_diffusion --data data/clip-toy64 data/clip-stacks data/clip-categories \\
        --clip checkpoints/toy-clip --out runs/toy-diffusion

Reads top to bottom: data (renders downsampled to the UNet's size, caption states computed once),
model, loop (ε- or v-prediction on a linear or cosine schedule, optionally min-SNR-γ weighted; caption
and camera dropout for classifier-free guidance; EMA weights; resumable checkpoints), evaluation
(samples of every toy64 prompt, toy-CLIP R-precision, a grid).

A long run goes in sittings: `--minutes M` stops at the first checkpoint after M minutes of training
and writes the averaged weights so far to `model/` (to judge them), and the same command resumes the run
exactly (the batch depends on the step alone). `sittings.json` beside the checkpoint keeps each sitting's
training seconds, whose total the card reports.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel, compute_snr
from tqdm.auto import tqdm

from guidance.clip import load_clip
from hub.model_card import write_model_card
from nerf.cameras import VIEW_DISTANCE, VIEW_FOV_DEG, Cameras, orbit_cameras, view_prompt
from nerf.checkpoint import resume, save_training_state
from nerf.random import derived_seed
from nerf.settings import with_overrides
from nerf.video import save_image_grid
from toyworld.clip import retrieval_top1
from toyworld.dataset import load_renders
from toyworld.diffusion import (
    CAMERA_DIM,
    RAY_CHANNELS,
    TEXT_DIM,
    TextCondition,
    camera_dim,
    camera_input,
    encode_captions,
    load_diffusion,
    new_scheduler,
    new_unet,
    reads_rays,
    sample,
    save_diffusion,
    unet_output,
    widen_camera_input,
    widen_to_rays,
)
from toyworld.prompts import toy64
from train.optimization import optimizer_step

CARD_SUMMARY = (
    "A pixel-space diffusers UNet2DConditionModel (32×32 RGB, T = 1000; noise schedule and prediction type in "
    "`scheduler/`) that cross-attends to the toy CLIP's text token states of view-suffixed captions and adds the "
    "pooled text embedding and the camera (the whole view, `toyworld.diffusion.view_condition`, or for the first "
    "models the (sin, cos) of azimuth and elevation) to its time embedding (class_labels = [camera, pooled]); "
    "a model with 9 input channels also reads each pixel's ray beside the noisy image (`ray_map`). "
    "It stands in for DeepFloyd IF in score distillation. "
    "Weights are the EMA. `toy64_r_precision`: toy-CLIP top-1 retrieval of samples of all 64 toy64 prompts "
    "(front view, classifier-free guidance `guidance_scale`) among the 64 captions."
)


SET_HELP = "any other ToyDiffusionTrainConfig setting, e.g. ema=0.9995 checkpoint_every=50"
FLAGS = ("steps", "batch", "lr", "drop_caption", "drop_camera", "drop_view", "ema", "snr_gamma", "guidance",
         "sample_steps", "checkpoint_every", "seed")  # the settings with a flag of their own  # fmt: skip

# A new model that reads the camera's direction alone (the first models' input), for comparisons
DIRECTION_ONLY = {"projection_class_embeddings_input_dim": CAMERA_DIM + TEXT_DIM}
WITH_RAYS = {"in_channels": 3 + RAY_CHANNELS}  # a new model that also reads each pixel's ray


def camera_name(unet) -> str:
    """The camera input `unet` reads, as `--camera` names it: "direction", "view" or "rays"."""
    return "direction" if camera_dim(unet) == CAMERA_DIM else "rays" if reads_rays(unet) else "view"


def schedule_name(scheduler) -> str:
    """ "cosine" or "linear": the noise schedule a scheduler was made with (`new_scheduler`)."""
    return "cosine" if scheduler.config.beta_schedule == "squaredcos_cap_v2" else "linear"


# --- data ------------------------------------------------------------------------------------------------
def prepare(
    folders: list[Path], unet, clip: torch.nn.Module, tokenizer
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, TextCondition, torch.Tensor]:
    """(images `[N, 3, s, s]` in [-1, 1] at `unet`'s size, caption index `[N]` (with its view suffix, "a red
    cube, front view"), bare prompt index `[N]` ("a red cube"), text conditions `[C, ...]`, camera `[N, D]`:
    the camera input `unet` reads, `camera_input`, of each render's recorded camera).

    The last text condition is the empty caption's, used for dropout and for guidance.
    """
    size = unet.config.sample_size
    images, prompts, captions, records = load_renders(folders)
    images = F.interpolate(images.float() / 127.5 - 1, size=(size, size), mode="area")
    texts = [*sorted(set(captions) | set(prompts)), ""]
    index = {c: i for i, c in enumerate(texts)}
    c2w, fov_y = torch.tensor([r["c2w"] for r in records]), torch.tensor([r["fov_y"] for r in records])
    camera = camera_input(unet, Cameras(c2w, fov_y, size, size))
    conditions = encode_captions(clip, tokenizer, texts)
    return (
        images,
        torch.tensor([index[c] for c in captions]),
        torch.tensor([index[p] for p in prompts]),
        conditions,
        camera,
    )


def render_weights(folders: list[Path], folder_weights: list[float] | None) -> torch.Tensor:
    """Sampling weight of each render `[N]`: each folder's weight shared equally among its renders."""
    sizes = [len((Path(f) / "captions.jsonl").read_text().splitlines()) for f in folders]
    folder_weights = folder_weights or sizes
    return torch.cat([torch.full((n,), w / n) for n, w in zip(sizes, folder_weights, strict=True)])


def diffusion_loss(
    output: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scheduler, snr_gamma: float | None
) -> torch.Tensor:
    """MSE of the UNet's output against its target (ε, or v = √ᾱ·ε − √(1−ᾱ)·x0), per image weighted by
    min-SNR-γ when `snr_gamma` is set: min(SNR, γ)/SNR for ε, min(SNR, γ)/(SNR + 1) for v, which stops
    the easy low-noise steps from dominating (Hang et al. 2023, as in diffusers' training examples)."""
    v_prediction = scheduler.config.prediction_type == "v_prediction"
    target = scheduler.get_velocity(x0, noise, t) if v_prediction else noise
    per_image = F.mse_loss(output, target, reduction="none").mean(dim=(1, 2, 3))
    if snr_gamma is None:
        return per_image.mean()
    snr = compute_snr(scheduler, t)
    clipped = torch.minimum(snr, torch.full_like(snr, snr_gamma))
    return (per_image * clipped / (snr + 1 if v_prediction else snr)).mean()


class Sittings:
    """The training time of a run that goes in sittings, kept beside its checkpoint (`sittings.json`: one
    entry per sitting, its first and last step and its seconds), so the card can state the total. Kept
    out of the checkpoint itself, which a resumed run must reproduce bit for bit."""

    def __init__(self, path: Path, step: int) -> None:
        self.path, self.first, self.started = path, step, time.perf_counter()
        done = json.loads(path.read_text()) if path.exists() else []
        self.done = [s for s in done if s["last_step"] <= step]  # a sitting past the checkpoint was lost
        self.seconds: float | None = None  # this sitting's training time at its last checkpoint

    def seconds_now(self) -> float:
        return time.perf_counter() - self.started

    def record(self, step: int) -> None:
        """This sitting has reached `step` (written at every checkpoint: a killed sitting keeps its time)."""
        self.seconds = round(self.seconds_now(), 1)
        entry = {"first_step": self.first, "last_step": step, "seconds": self.seconds}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([*self.done, entry], indent=1))

    def total(self) -> float:
        """Training seconds of every sitting, this one up to its last checkpoint."""
        return sum(s["seconds"] for s in self.done) + (self.seconds or 0.0)

    def count(self) -> int:
        """Sittings that trained (the same command run again after the last step trains none)."""
        return len(self.done) + (self.seconds is not None)


# --- evaluation ------------------------------------------------------------------------------------------
@torch.no_grad()
def sample_r_precision(
    unet, clip, tokenizer, prompts: list[str], guidance: float, steps: int, seed: int, scheduler=None
) -> tuple[float, torch.Tensor]:
    """(toy-CLIP top-1 retrieval of one front-ish sample per prompt among all 64 toy64 prompts, the
    samples `[N, 3, s, s]` uint8). Samples are upsampled to the CLIP's 64×64 input. `scheduler`: the
    model's (default DDPM's linear ε)."""
    text = encode_captions(clip, tokenizer, [view_prompt(p, "front") for p in prompts])
    empty = encode_captions(clip, tokenizer, [""])
    size = unet.config.sample_size  # the front-ish camera: azimuth 20°, elevation 15°, the world's framing
    front = orbit_cameras(torch.full((len(prompts),), 20.0), 15.0, VIEW_DISTANCE, VIEW_FOV_DEG, size, size)
    camera = camera_input(unet, front)
    generator = torch.Generator().manual_seed(seed)
    images = sample(unet, text, empty, camera, guidance, steps, generator, training_scheduler=scheduler)
    pixels = (images * 255).round().to(torch.uint8)
    upsampled = F.interpolate(pixels.float(), size=(64, 64), mode="bilinear").round().to(torch.uint8)
    return retrieval_top1(clip, tokenizer, upsampled, prompts, toy64().texts), pixels


def evaluate(unet, clip, tokenizer, guidance: float, steps: int, out: Path, seed: int, scheduler=None) -> dict:
    """Sample every toy64 prompt; toy-CLIP R-precision of the samples; an 8×8 PNG grid of them."""
    texts = toy64().texts
    r_precision, pixels = sample_r_precision(unet, clip, tokenizer, texts, guidance, steps, seed, scheduler)
    save_image_grid(pixels.permute(0, 2, 3, 1).reshape(8, 8, *pixels.shape[2:], 3) / 255, out / "samples_toy64.png")
    return {"toy64_r_precision": r_precision, "guidance_scale": guidance}


# --- training --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyDiffusionTrainConfig:
    """A toy diffusion run's training settings (the flags below set the common ones, `--set` any of them)."""

    steps: int = 4000
    batch: int = 64
    lr: float = 1e-3
    drop_caption: float = 0.15  # share of captions replaced by the empty one (classifier-free guidance)
    drop_camera: float = 0.15  # share of cameras replaced by zeros
    drop_view: float = 0.0  # share of captions that lose their view suffix, so the camera input carries the view
    ema: float = 0.999
    snr_gamma: float | None = None  # min-SNR-γ loss weighting (Hang et al. 2023; 5 is usual); None: plain MSE
    guidance: float = 2.0  # classifier-free guidance of the evaluation's samples
    sample_steps: int = 50  # DDIM steps of the evaluation's samples
    checkpoint_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.steps, self.batch, self.sample_steps, self.checkpoint_every) < 1:
            raise ValueError("steps, batch, sample_steps and checkpoint_every must be >= 1")
        if not all(0 <= rate < 1 for rate in (self.drop_caption, self.drop_camera, self.drop_view)):
            raise ValueError("drop_caption, drop_camera and drop_view must be in [0, 1)")
        if (self.snr_gamma is not None and not self.snr_gamma > 0) or not 0 < self.ema < 1 or not self.lr > 0:
            raise ValueError("snr_gamma and lr must be positive and ema in (0, 1)")


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
    parser.add_argument(
        "--drop-view",
        type=float,
        default=0.0,
        help="share of captions that lose their view suffix, so the camera input has to carry the view",
    )
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--schedule", choices=("linear", "cosine"), help="noise schedule of a new model (linear)")
    parser.add_argument("--prediction", choices=("epsilon", "v_prediction"), help="of a new model (epsilon)")
    parser.add_argument("--snr-gamma", type=float, help="min-SNR-γ loss weighting (Hang et al. 2023; 5 is usual)")
    parser.add_argument(
        "--camera",
        choices=("view", "direction", "rays"),
        help="camera input: the whole view (a new model's default), azimuth and elevation alone, or the whole "
        "view and each pixel's ray; with --init, 'view' and 'rays' widen a model that reads less, and by "
        "default the model keeps its own",
    )
    parser.add_argument("--minutes", type=float, help="one sitting: stop at the first checkpoint after this long")
    parser.add_argument("--device", help="where to train (default: cuda when there is one, else cpu)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the UNet (on a GPU)")
    parser.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance for the evaluation")
    parser.add_argument("--sample-steps", type=int, default=50, help="DDIM steps for the evaluation samples")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="start from this model ('toy', a folder or a Hub repo id), not new weights")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    try:
        config = with_overrides(ToyDiffusionTrainConfig(**{name: getattr(args, name) for name in FLAGS}), args.set)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if args.minutes is not None and args.minutes <= 0:
        parser.error("--minutes must be positive")
    if args.data_weights is not None and (len(args.data_weights) != len(args.data) or min(args.data_weights) <= 0):
        parser.error("--data-weights needs one positive weight per --data folder")

    clip, _, tokenizer = load_clip(args.clip)
    if args.init is None:
        extra = {"direction": DIRECTION_ONLY, "rays": WITH_RAYS}.get(args.camera, {})
        unet = new_unet(config.seed, **extra)
        scheduler = new_scheduler(args.schedule or "linear", args.prediction or "epsilon")
    else:  # a fine-tune keeps the model's noise schedule and prediction type; --camera view widens its input
        unet, scheduler = load_diffusion(args.init)
        unet = widen_camera_input(unet.float()) if args.camera in ("view", "rays") else unet.float()
        unet = widen_to_rays(unet) if args.camera == "rays" else unet
        if args.camera is not None and camera_name(unet) != args.camera:
            parser.error(f"{args.init} reads the camera as '{camera_name(unet)}'; it cannot be narrowed to "
                         f"--camera {args.camera}")  # fmt: skip
        kept = (schedule_name(scheduler), scheduler.config.prediction_type)
        if (args.schedule or kept[0], args.prediction or kept[1]) != kept:
            parser.error(f"{args.init} was trained with the {kept[0]} schedule and {kept[1]}; a fine-tune keeps "
                         "them (leave out --schedule and --prediction)")  # fmt: skip
    images, caption_index, prompt_index, conditions, cameras = prepare(args.data, unet, clip, tokenizer)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    unet.to(device)
    images, cameras = images.to(device), cameras.to(device)
    caption_index, prompt_index = caption_index.to(device), prompt_index.to(device)
    conditions = TextCondition(conditions.states.to(device), conditions.pooled.to(device))
    empty = len(conditions.pooled) - 1
    weights = render_weights(args.data, args.data_weights)
    millions = sum(p.numel() for p in unet.parameters()) / 1e6
    print(f"{len(images)} renders, {empty} captions, UNet {millions:.2f} M parameters")

    ema = copy.deepcopy(unet).requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = get_cosine_schedule_with_warmup(optimizer, 100, config.steps)
    both = torch.nn.ModuleDict({"unet": unet, "ema": ema})  # one checkpoint holds the weights and their average
    checkpoint = args.out / "checkpoint"
    try:
        step = resume(checkpoint, both, optimizer, schedule)
    except RuntimeError as error:  # a size mismatch: the run was started with the other camera input
        raise SystemExit(f"{checkpoint} holds a model of another shape than this command builds ({error}); "
                         "resume with the run's own --camera, --init and model settings") from None  # fmt: skip
    sittings = Sittings(args.out / "sittings.json", step)
    # diffusers' EMA (decay min(ema, (1 + n) / (10 + n)) after n updates), resumed from the checkpointed average
    averages = EMAModel(ema.parameters(), decay=config.ema)
    averages.optimization_step = step
    generator = torch.Generator()
    unet.train()
    progress = tqdm(total=config.steps, initial=step, desc="toy diffusion")
    while step < config.steps:
        generator.manual_seed(derived_seed(config.seed, step))  # the batch depends on the step alone: resumable
        # every random number is drawn on the CPU, so a run's batches are the same on any device
        batch = torch.multinomial(weights, config.batch, replacement=True, generator=generator).to(device)
        x0 = images[batch]
        t = torch.randint(0, scheduler.config.num_train_timesteps, (config.batch,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        noisy = scheduler.add_noise(x0, noise, t)
        dropped = (torch.rand(config.batch, generator=generator) < config.drop_caption).to(device)
        kept = (torch.rand(config.batch, 1, generator=generator) >= config.drop_camera).to(device)
        chosen = caption_index[batch]
        if config.drop_view > 0:  # drawn only then, last: the batches of runs without it stay as they were
            bare = (torch.rand(config.batch, generator=generator) < config.drop_view).to(device)
            chosen = torch.where(bare, prompt_index[batch], chosen)
        text = conditions.select(torch.where(dropped, empty, chosen))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            output = unet_output(unet, noisy, t, text, cameras[batch] * kept)
        loss = diffusion_loss(output.float(), x0, noise, t, scheduler, config.snr_gamma)
        optimizer_step(loss, list(unet.parameters()), optimizer, schedule)
        averages.step(unet.parameters())
        averages.copy_to(ema.parameters())  # the module the checkpoint holds
        step += 1
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_training_state(checkpoint, both, optimizer, step, schedule=schedule)
            sittings.record(step)
            if args.minutes is not None and step < config.steps and sittings.seconds_now() > 60 * args.minutes:
                save_diffusion(copy.deepcopy(ema).cpu(), scheduler, args.out / "model")  # usable between sittings
                progress.close()
                print(f"sitting over at step {step} ({sittings.total() / 60:.1f} min of training in all); "
                      "run the same command again to resume")  # fmt: skip
                return
    progress.close()

    ema.eval().cpu()
    metrics = {"steps": config.steps, "batch": config.batch, "renders": len(images),
               "train_seconds": round(sittings.total(), 1), "sittings": sittings.count(), "init": args.init,
               "schedule": schedule_name(scheduler), "prediction": scheduler.config.prediction_type,
               "snr_gamma": config.snr_gamma, "drop_view": config.drop_view,
               "camera_input": camera_name(unet)}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    metrics |= evaluate(ema, clip, tokenizer, config.guidance, config.sample_steps, args.out, config.seed, scheduler)
    save_diffusion(ema, scheduler, args.out / "model")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_model_card(args.out / "model", "Toy diffusion model", CARD_SUMMARY, metrics, "diffusers", ("toy-world",))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
