"""What the Stable Diffusion and DeepFloyd IF backends share: a diffusers pipeline's text encoder (or
one given, to share it), U-Net and scheduler from a Hub repo id or a local folder, frozen, in half
precision on CUDA and float32 on the CPU."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel

from guidance.base import Guidance
from guidance.text_encoder import TextEncoder, TransformersTextEncoder, device_and_dtype
from hub.source import model_folder


class PretrainedGuidance(Guidance):
    """A backend whose parts are subfolders of a diffusers pipeline (`tokenizer/`, `text_encoder/`,
    `unet/`, `scheduler/`); subclasses name and load any further part."""

    parts: tuple[str, ...] = ("unet", "scheduler")  # what is read of the pipeline besides its text encoder

    def __init__(
        self,
        source: str | Path,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        variant: str | None = None,
        cache_root: Path | None = None,
        use_cache: bool = True,
        text_encoder: TextEncoder | None = None,
    ) -> None:
        self.device, self.dtype = device_and_dtype(device, dtype)
        self.load_options = {"torch_dtype": self.dtype, "variant": variant}
        self.text_encoder = text_encoder or TransformersTextEncoder(
            source, self.device, self.dtype, variant, cache_root, use_cache
        )
        self.folder = model_folder(source, parts=self.parts, variant=variant)
        self.unet = self.freeze(
            UNet2DConditionModel.from_pretrained(self.folder, subfolder="unet", **self.load_options)
        )
        self.scheduler = DDPMScheduler.from_pretrained(self.folder, subfolder="scheduler")
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device)
        self.resolution = self.unet.config.sample_size

    def freeze(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` on this backend's device, in eval mode, without gradients for its weights."""
        return model.to(self.device).eval().requires_grad_(False)
