"""The Stable Diffusion backend (latent diffusion; any SD 1.x / 2.x repo id or local folder in
diffusers' layout). Renders are resized to the U-Net's image size, encoded by the VAE with gradient,
and SDS acts on the latents; v-prediction models (SD 2.x 768) are converted to ε.
"""

from __future__ import annotations

from pathlib import Path

from diffusers import AutoencoderKL
from torch import Tensor

from guidance.pretrained import PretrainedGuidance
from guidance.sds import epsilon_from_v
from guidance.text_encoder import TextEmbedding
from nerf.random import Generators


class StableDiffusionGuidance(PretrainedGuidance):
    """SDS from Stable Diffusion, e.g. "stable-diffusion-v1-5/stable-diffusion-v1-5" or a local folder.

    Half precision on CUDA (unless `dtype` says otherwise), float32 on the CPU.
    """

    parts = ("unet", "scheduler", "vae")

    def __init__(self, source: str | Path, **options) -> None:
        """`options`: device, dtype, variant, cache_root, use_cache, text_encoder (see `PretrainedGuidance`)."""
        super().__init__(source, **options)
        self.vae = self.freeze(AutoencoderKL.from_pretrained(self.folder, subfolder="vae", **self.load_options))
        self.resolution = self.unet.config.sample_size * 2 ** (len(self.vae.config.block_out_channels) - 1)

    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        pixels = (self.resize(images) * 2 - 1).to(self.dtype)
        latents = self.vae.encode(pixels).latent_dist.sample(generator)
        return latents * self.vae.config.scaling_factor

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: TextEmbedding, camera: Tensor | None) -> Tensor:
        output = self.unet(noisy, timesteps, encoder_hidden_states=text.states).sample
        if self.scheduler.config.prediction_type == "v_prediction":
            return epsilon_from_v(output, noisy, self.alphas_cumprod[timesteps])
        return output
