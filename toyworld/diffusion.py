"""The toy diffusion model: a pixel-space diffusers `UNet2DConditionModel` that cross-attends to the
toy CLIP's text token states and adds the pooled text embedding and the camera's direction to its
time embedding (as SDXL adds its pooled text embedding). Score distillation uses it as DeepFloyd IF
stage I is used (pixel space, classifier-free guidance).

Camera conditioning is what lets SDS tell a cube from a sphere from a few views (see
`../shared/notes/toy-sds-prototype.md`): the caption's view suffix says front/side/back/overhead,
the continuous camera says exactly where. Both are dropped at random in training, so the model also
works without them (and classifier-free guidance has an unconditional branch).

A trained model is a folder in diffusers' layout: `unet/` and `scheduler/`, loaded with
`from_pretrained` from a local folder or a Hub repo.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch import Tensor, nn

from hub.source import model_folder
from toyworld.clip import text_token_states

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "toy-diffusion"
CAMERA_DIM = 4  # sin and cos of azimuth and elevation
TEXT_DIM = 128  # the toy CLIP's text embedding

# 32×32 pixels: on a 2-core CPU a 64×64 UNet of useful width costs ~2 s per training image-batch of 16,
# ten times the 32×32 one, and the prototype showed 32×32 is enough for SDS to get shapes right.
# Attention only at 8×8 (and the middle): at 16×16 it made a training step 2.5× slower. The pooled
# text embedding in the time embedding conditions every resolution at no cost.
UNET_CONFIG = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "layers_per_block": 1,
    "block_out_channels": (32, 64, 64),
    "down_block_types": ("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 128,  # the toy CLIP's text width
    "attention_head_dim": 32,
    "norm_num_groups": 16,
    "class_embed_type": "projection",
    "projection_class_embeddings_input_dim": CAMERA_DIM + TEXT_DIM,
}


@dataclass(frozen=True)
class TextCondition:
    """What the UNet reads of a caption: per-token states `[B, L, W]` (cross-attended) and the pooled,
    unit-length CLIP text embedding `[B, E]` (added to the time embedding)."""

    states: Tensor
    pooled: Tensor

    def select(self, index: Tensor | slice) -> TextCondition:
        """The conditions of some captions (an index tensor may repeat them)."""
        return TextCondition(self.states[index], self.pooled[index])


@torch.no_grad()
def encode_captions(clip: nn.Module, tokenizer, captions: list[str], chunk: int = 256) -> TextCondition:
    """The toy CLIP's conditioning for `captions` (the empty caption "" is the unconditional one)."""
    parts = []
    for start in range(0, len(captions), chunk):
        tokens = tokenizer(captions[start : start + chunk])
        parts.append((text_token_states(clip, tokens), clip.encode_text(tokens, normalize=True)))
    return TextCondition(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))


def unet_condition(text: TextCondition, camera: Tensor | None) -> dict[str, Tensor]:
    """Keyword arguments of the UNet for captions and cameras `[B, 4]` (None: no camera, i.e. zeros)."""
    if camera is None:
        camera = text.pooled.new_zeros(len(text.pooled), CAMERA_DIM)
    return {"encoder_hidden_states": text.states, "class_labels": torch.cat((camera, text.pooled), dim=-1)}


def new_unet(seed: int = 0, **overrides: object) -> UNet2DConditionModel:
    """An untrained toy UNet (`overrides` change the config, e.g. for tiny test models)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def new_scheduler() -> DDPMScheduler:
    """DDPM's linear schedule, T = 1000, ε-prediction: what DreamFusion and DeepFloyd IF use."""
    return DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
        prediction_type="epsilon", clip_sample=False,
    )  # fmt: skip


def camera_condition(azimuth_deg: Tensor, elevation_deg: Tensor) -> Tensor:
    """The continuous camera input `[B, 4]`: (sin, cos) of azimuth and of elevation."""
    azimuth, elevation = torch.deg2rad(azimuth_deg), torch.deg2rad(elevation_deg)
    return torch.stack((azimuth.sin(), azimuth.cos(), elevation.sin(), elevation.cos()), dim=-1)


def load_diffusion(
    source: str | Path = "toy", device: str | torch.device = "cpu"
) -> tuple[UNet2DConditionModel, DDPMScheduler]:
    """(UNet in eval mode, scheduler) from "toy" (the bundled checkpoint), a folder or a Hub repo id."""
    folder = model_folder(source, BUNDLED)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").to(device).eval()
    return unet, DDPMScheduler.from_pretrained(folder, subfolder="scheduler")


def save_diffusion(unet: UNet2DConditionModel, scheduler: DDPMScheduler, folder: Path, half: bool = True) -> Path:
    """Write `unet/` (fp16 safetensors unless `half` is False) and `scheduler/` in diffusers' layout."""
    folder = Path(folder)
    copy.deepcopy(unet).to(torch.float16 if half else torch.float32).save_pretrained(folder / "unet")
    scheduler.save_pretrained(folder / "scheduler")
    return folder


@torch.no_grad()
def sample(
    unet: UNet2DConditionModel,
    text: TextCondition,
    empty: TextCondition,
    camera: Tensor | None,
    guidance_scale: float = 7.5,
    steps: int = 50,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Images `[B, 3, H, W]` in [0, 1] by DDIM with classifier-free guidance.

    text: the B prompts; empty: the empty caption (B = 1); camera `[B, 4]` (both branches) or None. The
    predicted clean image is clipped to [-1, 1] at every step, as DDPM does: a small model's ε errors
    at high noise would otherwise swamp the first steps.
    """
    batch = len(text.pooled)
    scheduler = DDIMScheduler.from_config(new_scheduler().config, clip_sample=True)
    scheduler.set_timesteps(steps)
    size = unet.config.sample_size
    x = torch.randn(batch, 3, size, size, generator=generator).to(text.states)
    both = TextCondition(
        torch.cat((text.states, empty.states.expand(batch, -1, -1))),
        torch.cat((text.pooled, empty.pooled.expand(batch, -1))),
    )
    cameras = None if camera is None else torch.cat((camera, camera))  # the unconditional branch keeps the camera
    condition = unet_condition(both, cameras)
    for t in scheduler.timesteps:
        noise = unet(torch.cat((x, x)), t, **condition).sample
        conditional, unconditional = noise.chunk(2)
        x = scheduler.step(unconditional + guidance_scale * (conditional - unconditional), t, x).prev_sample
    return (x.clamp(-1, 1) + 1) / 2
