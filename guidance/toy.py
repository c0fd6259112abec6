"""The toy backend: the bundled pixel-space toy diffusion model (`toyworld.diffusion`) and the toy
CLIP text encoder it was trained with. It is the only backend that takes the camera directly (its
time embedding adds the camera: its direction, or the whole view for newer models, which may also read
each pixel's ray), besides the view suffix in the prompt. A v-prediction model's output is converted to ε.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from guidance.base import Guidance
from guidance.sds import epsilon_from_v
from guidance.text_encoder import TextEmbedding, TextEncoder, ToyCLIPTextEncoder, default_device
from nerf.cameras import Cameras
from nerf.random import Generators
from toyworld.diffusion import TextCondition, camera_input, load_diffusion, unet_output
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
        self.v_prediction = scheduler.config.prediction_type == "v_prediction"
        self.resolution = self.unet.config.sample_size
        self.background = BACKGROUND

    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        return self.resize(images) * 2 - 1

    def camera_input(self, cameras: Cameras) -> Tensor:
        return camera_input(self.unet, cameras)

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: TextEmbedding, camera: Tensor | None) -> Tensor:
        output = unet_output(self.unet, noisy, timesteps, TextCondition(text.states, text.pooled), camera)
        return epsilon_from_v(output, noisy, self.alphas_cumprod[timesteps]) if self.v_prediction else output
