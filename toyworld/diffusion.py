"""The toy diffusion model: a pixel-space diffusers `UNet2DConditionModel` that cross-attends to the
toy CLIP's text token states and adds the pooled text embedding and the camera's direction to its
time embedding (as SDXL adds its pooled text embedding). Score distillation uses it as DeepFloyd IF
stage I is used (pixel space, classifier-free guidance).

Camera conditioning is what lets SDS tell a cube from a sphere from a few views (see
`../shared/notes/toy-sds-prototype.md`): the caption's view suffix says front/side/back/overhead,
the continuous camera says exactly where. Both are dropped at random in training, so the model also
works without them (and classifier-free guidance has an unconditional branch). Two camera inputs
exist: the first models read the direction alone (`camera_condition`, 4 numbers); newer ones read the
whole view score distillation renders (`view_condition`: direction, distance, field of view, where
the world's origin falls in the frame and the camera's roll), so that a sample can match the truth at
a camera. `camera_input` gives a loaded model the one it was trained with (by its input width).

A model added to the time embedding can ignore the camera, and the first ones did (the caption's view
suffix told them enough; docs/TOYWORLD.md measured the camera moving their prediction by under 1 %). So
a model can also read the camera where the pixels are (`ray_map`: each pixel's ray, six Plücker
channels beside the noisy image, as the multi-view models after Zero-1-to-3 condition on rays).
`unet_output` is the one call of a toy UNet, and gives each model the inputs it reads.

A trained model is a folder in diffusers' layout: `unet/` and `scheduler/`, loaded with
`from_pretrained` from a local folder or a Hub repo.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from torch import Tensor, nn

from hub.source import model_folder
from nerf.cameras import VIEW_DISTANCE, VIEW_FOV_DEG, Cameras, look_at, spherical_position
from toyworld.clip import text_token_states

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "toy-diffusion"
CAMERA_DIM = 4  # `camera_condition`: sin and cos of azimuth and elevation (the first models)
VIEW_DIM = 9  # `view_condition`: the whole view
RAY_CHANNELS = 6  # `ray_map`: a pixel's ray direction and moment, input channels beside the image's 3
TEXT_DIM = 128  # the toy CLIP's text embedding
Schedule = Literal["linear", "cosine"]
Prediction = Literal["epsilon", "v_prediction"]

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
    "projection_class_embeddings_input_dim": VIEW_DIM + TEXT_DIM,
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


def camera_dim(unet: UNet2DConditionModel) -> int:
    """How many numbers of camera input `unet` reads: `CAMERA_DIM` or `VIEW_DIM` (anything else is no toy UNet)."""
    dim = unet.config.projection_class_embeddings_input_dim - TEXT_DIM
    if dim not in (CAMERA_DIM, VIEW_DIM):
        raise ValueError(f"a toy UNet reads {CAMERA_DIM} or {VIEW_DIM} camera numbers, this one {dim}")
    return dim


def unet_condition(text: TextCondition, camera: Tensor | None, dim: int = VIEW_DIM) -> dict[str, Tensor]:
    """Keyword arguments of the UNet for captions and cameras `[B, dim]` (None: no camera, i.e. zeros)."""
    if camera is None:
        camera = text.pooled.new_zeros(len(text.pooled), dim)
    return {"encoder_hidden_states": text.states, "class_labels": torch.cat((camera, text.pooled), dim=-1)}


def new_unet(seed: int = 0, **overrides: object) -> UNet2DConditionModel:
    """An untrained toy UNet (`overrides` change the config, e.g. for tiny test models)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(**{**UNET_CONFIG, **overrides})


def new_scheduler(schedule: Schedule = "linear", prediction: Prediction = "epsilon") -> DDPMScheduler:
    """T = 1000 noise levels. "linear" is DDPM's schedule (what DreamFusion and DeepFloyd IF use); at 32×32
    its last quarter is nearly pure noise, so "cosine" (Nichol & Dhariwal's, diffusers' squaredcos_cap_v2)
    spends more of the range on noise levels where the image still shows. The prediction type is
    saved with the model; score distillation converts a v-prediction to ε."""
    if schedule not in ("linear", "cosine") or prediction not in ("epsilon", "v_prediction"):
        raise ValueError(f"schedule must be linear or cosine and prediction epsilon or v_prediction, got "
                         f"{schedule!r}, {prediction!r}")  # fmt: skip
    betas = {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}
    if schedule == "cosine":
        betas = {"beta_schedule": "squaredcos_cap_v2"}
    return DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction, clip_sample=False, **betas)


def camera_condition(azimuth_deg: Tensor, elevation_deg: Tensor) -> Tensor:
    """The first models' camera input `[B, 4]`: (sin, cos) of azimuth and of elevation."""
    azimuth, elevation = torch.deg2rad(azimuth_deg), torch.deg2rad(elevation_deg)
    return torch.stack((azimuth.sin(), azimuth.cos(), elevation.sin(), elevation.cos()), dim=-1)


def view_condition(cameras: Cameras) -> Tensor:
    """The whole view as the model's camera input `[B, 9]` (cameras flattened): (sin, cos) of azimuth and
    of elevation; distance and vertical field of view as offsets from the world's framing (2.8, 30°)
    in units of their sampling range; where the world's origin falls in the frame (x right, y up, in
    half-frames, ×10: the look-at jitter moves it by about 0.07); and the roll, the camera's right axis'
    rise (×10). Each part is of order one over the views score distillation renders."""
    cameras = cameras.reshape(-1)
    azimuth, elevation = (torch.deg2rad(a) for a in cameras.azimuth_elevation())
    distance = cameras.position.norm(dim=-1)
    fov = torch.rad2deg(cameras.fov_y)
    local = -cameras.position.unsqueeze(-2) @ cameras.c2w[:, :3, :3]  # the origin in the camera's frame
    depth = -local[:, 0, 2]
    half_frame = depth * torch.tan(0.5 * cameras.fov_y)
    offset = local[:, 0, :2] / half_frame.unsqueeze(-1)
    roll = cameras.c2w[:, 1, 0]
    return torch.stack(
        (azimuth.sin(), azimuth.cos(), elevation.sin(), elevation.cos(), (distance - VIEW_DISTANCE) / 0.2,
         (fov - VIEW_FOV_DEG) / 2.0, 10 * offset[:, 0], 10 * offset[:, 1], 10 * roll),
        dim=-1,
    )  # fmt: skip


def camera_input(unet: UNet2DConditionModel, cameras: Cameras) -> Tensor:
    """The camera input `unet` was trained with, for `cameras` (flattened): `view_condition` or, for the
    first models, `camera_condition`."""
    if camera_dim(unet) == VIEW_DIM:
        return view_condition(cameras)
    azimuth, elevation = cameras.azimuth_elevation()
    return camera_condition(azimuth.flatten(), elevation.flatten())


def reads_rays(unet: UNet2DConditionModel) -> bool:
    """Whether `unet` reads each pixel's ray (`ray_map`) beside the noisy image."""
    channels = unet.config.in_channels
    if channels not in (3, 3 + RAY_CHANNELS) or unet.config.out_channels != 3:
        raise ValueError(f"a toy UNet reads 3 or {3 + RAY_CHANNELS} channels and predicts 3, this one "
                         f"{channels} and {unet.config.out_channels}")  # fmt: skip
    return channels == 3 + RAY_CHANNELS


def ray_map(view: Tensor, size: int) -> Tensor:
    """Each pixel's ray for whole-view camera inputs `view [B, 9]` (`view_condition`), `[B, 6, size, size]`:
    the unit direction and the moment (camera centre × direction, the ray's Plücker coordinates, about
    unit size at the world's framing), in world coordinates. The camera is rebuilt from its direction,
    distance and field of view, looking at the world's origin: the look-at jitter and the roll (about a
    pixel) stay with the vector input. A dropped camera (all zeros) gives zero channels."""
    azimuth = torch.rad2deg(torch.atan2(view[:, 0], view[:, 1]))
    elevation = torch.rad2deg(torch.atan2(view[:, 2], view[:, 3]))
    eye = spherical_position(azimuth, elevation, VIEW_DISTANCE + 0.2 * view[:, 4])
    fov = torch.deg2rad(VIEW_FOV_DEG + 2.0 * view[:, 5])
    origins, directions = Cameras(look_at(eye, torch.zeros_like(eye)), fov, size, size).rays()
    rays = torch.cat((directions, torch.cross(origins, directions, dim=-1)), dim=-1)  # [B, H·W, 6]
    present = view.abs().amax(dim=-1) > 0
    return (rays * present[:, None, None]).transpose(1, 2).reshape(len(view), RAY_CHANNELS, size, size)


def unet_output(
    unet: UNet2DConditionModel, noisy: Tensor, timesteps: Tensor, text: TextCondition, camera: Tensor | None
) -> Tensor:
    """The UNet's prediction (ε or v) for noisy images `[B, 3, H, W]`, with the inputs the model reads: the
    caption, the camera vector (`camera_input`, None for none) and, where it reads rays, `ray_map`."""
    dim = camera_dim(unet)
    if reads_rays(unet):
        if noisy.shape[-1] != noisy.shape[-2]:
            raise ValueError(f"a model that reads rays takes square images, got {tuple(noisy.shape[-2:])}")
        rays = noisy.new_zeros(len(noisy), RAY_CHANNELS, *noisy.shape[-2:])
        if camera is not None:
            rays = ray_map(camera.float(), noisy.shape[-1]).to(noisy)
        noisy = torch.cat((noisy, rays), dim=1)
    return unet(noisy, timesteps, **unet_condition(text, camera, dim)).sample


@torch.no_grad()
def widen_to_rays(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """A whole-view model taught to read each pixel's ray as well: its first convolution gets
    `RAY_CHANNELS` more input channels, all zero, so it computes exactly what it did until training moves
    them. Changed in place and returned; a model that already reads rays is returned as it is."""
    if camera_dim(unet) != VIEW_DIM:
        raise ValueError("only a model that reads the whole view (widen_camera_input) can read rays")
    if reads_rays(unet):
        return unet
    old = unet.conv_in
    new = nn.Conv2d(3 + RAY_CHANNELS, old.out_channels, old.kernel_size, padding=old.padding).to(old.weight)
    new.weight.zero_()
    new.weight[:, :3] = old.weight
    new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=3 + RAY_CHANNELS)
    return unet


@torch.no_grad()
def widen_camera_input(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """A model that reads the camera's direction alone, taught to read the whole view (`view_condition`):
    its class-embedding projection gets five more input columns, all zero, so it computes exactly what it
    did (the first four numbers of `view_condition` are `camera_condition`) until training moves them.
    Changed in place and returned; a model that already reads the whole view is returned as it is."""
    if camera_dim(unet) == VIEW_DIM:
        return unet
    old = unet.class_embedding.linear_1
    new = nn.Linear(VIEW_DIM + TEXT_DIM, old.out_features).to(old.weight)
    new.weight.zero_()
    new.weight[:, :CAMERA_DIM] = old.weight[:, :CAMERA_DIM]
    new.weight[:, VIEW_DIM:] = old.weight[:, CAMERA_DIM:]
    new.bias.copy_(old.bias)
    unet.class_embedding.linear_1 = new
    unet.register_to_config(projection_class_embeddings_input_dim=VIEW_DIM + TEXT_DIM)
    return unet


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
    training_scheduler: DDPMScheduler | None = None,
) -> Tensor:
    """Images `[B, 3, H, W]` in [0, 1] by DDIM with classifier-free guidance.

    text: the B prompts; empty: the empty caption (B = 1); camera `[B, D]` (both branches) or None;
    `training_scheduler`: the model's own (its noise schedule and prediction type; default DDPM's linear
    ε). The predicted clean image is clipped to [-1, 1] at every step, as DDPM does: a small model's
    errors at high noise would otherwise swamp the first steps.
    """
    batch = len(text.pooled)
    scheduler = DDIMScheduler.from_config((training_scheduler or new_scheduler()).config, clip_sample=True)
    scheduler.set_timesteps(steps)
    size = unet.config.sample_size
    x = torch.randn(batch, 3, size, size, generator=generator).to(text.states)
    both = TextCondition(
        torch.cat((text.states, empty.states.expand(batch, -1, -1))),
        torch.cat((text.pooled, empty.pooled.expand(batch, -1))),
    )
    cameras = None if camera is None else torch.cat((camera, camera))  # the unconditional branch keeps the camera
    for t in scheduler.timesteps:
        noise = unet_output(unet, torch.cat((x, x)), t, both, cameras)
        conditional, unconditional = noise.chunk(2)
        x = scheduler.step(unconditional + guidance_scale * (conditional - unconditional), t, x).prev_sample
    return (x.clamp(-1, 1) + 1) / 2
