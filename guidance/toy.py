"""The toy backend: the bundled pixel-space toy diffusion model (`toyworld.diffusion`) and the toy
CLIP text encoder it was trained with. It is the only backend that takes the camera directly (its
time embedding adds (sin, cos) of azimuth and elevation), besides the view suffix in the prompt.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from guidance.base import Guidance
from guidance.text_encoder import TextEmbedding, TextEncoder, ToyCLIPTextEncoder, default_device
from nerf.cameras import Cameras
from nerf.random import Generators
from toyworld.diffusion import TextCondition, camera_condition, load_diffusion, unet_condition
from toyworld.render_gt import BACKGROUND


class ToyGuidance(Guidance):
    """SDS from the toy diffusion model (`source`: "toy", a folder or a Hub repo id) and the toy CLIP
    (`clip`), or a toy CLIP text encoder already loaded (`text_encoder`, to share it)."""

    default_guidance_scale = 7.5  # sweeps in docs/DREAMFUSION.md: at 20 a cube and a torus were lost

    def __init__(
        self,
        source: str | Path = "toy",
        clip: str | Path = "toy",
        device: str | torch.device | None = None,
        cache_root: Path | None = None,
        use_cache: bool = True,
        text_encoder: TextEncoder | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = torch.float32  # 1.5 M parameters: half precision would save nothing worth its risk
        self.unet, scheduler = load_diffusion(source, self.device)
        self.unet.requires_grad_(False)
        self.text_encoder = text_encoder or ToyCLIPTextEncoder(clip, self.device, cache_root, use_cache)
        self.alphas_cumprod = scheduler.alphas_cumprod.to(self.device)
        self.resolution = self.unet.config.sample_size
        self.background = BACKGROUND

    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        return self.resize(images) * 2 - 1

    def camera_input(self, cameras: Cameras) -> Tensor:
        azimuth, elevation = cameras.azimuth_elevation()
        return camera_condition(azimuth.flatten(), elevation.flatten())

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: TextEmbedding, camera: Tensor | None) -> Tensor:
        condition = unet_condition(TextCondition(text.states, text.pooled), camera)
        return self.unet(noisy, timesteps, **condition).sample
