"""The one interface every SDS backend implements: view-suffixed text conditioning from the backend's
text encoder (`guidance.text_encoder`), and an SDS loss on rendered images. A backend supplies its
text encoder and three things: how to turn images into the model's input (resize; VAE-encode for
latent diffusion), how to condition on a camera (if it can), and how to predict ε.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor

from guidance.sds import SDSConfig, SDSOutput, sds_step
from guidance.text_encoder import TextEmbedding, TextEncoder
from nerf.cameras import Cameras, view_prompt
from nerf.random import Generators


class Guidance(ABC):
    """A frozen text-to-image diffusion model used as a critic of rendered images.

    Subclasses set `text_encoder`, `resolution` (the side, in pixels, that renders are resized to),
    `alphas_cumprod [T]`, `device` and `dtype` (and `background` if their world has a fixed one).
    """

    resolution: int
    background: float | None = None  # the grey the model's training images had behind objects; None: learn it
    # What SDS runs use unless told otherwise: DreamFusion used 100 (Imagen; also the usual choice for
    # Stable Diffusion), DeepFloyd IF is commonly run at 20, the toy model does best at 7.5 (measured).
    default_guidance_scale: float = 100.0
    alphas_cumprod: Tensor
    device: torch.device
    dtype: torch.dtype
    text_encoder: TextEncoder

    # --- what a backend provides ------------------------------------------------------------------------
    @abstractmethod
    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        """Differentiable map from images `[B, 3, H, W]` in [0, 1] to what the U-Net denoises."""

    @abstractmethod
    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: TextEmbedding, camera: Tensor | None) -> Tensor:
        """ε̂ `[B, C, h, w]` for noisy inputs, timesteps `[B]`, text conditioning and camera input."""

    def camera_input(self, cameras: Cameras) -> Tensor | None:
        """The model's camera conditioning `[B, D]`, or None for models that take none (SD, IF)."""
        return None

    # --- shared ------------------------------------------------------------------------------------------
    def resize(self, images: Tensor) -> Tensor:
        """Images `[B, 3, H, W]` resized to the model's resolution (anti-aliased when shrinking)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got shape {tuple(images.shape)}")
        if images.shape[-2:] == (self.resolution, self.resolution):
            return images
        shrink = min(images.shape[-2:]) > self.resolution
        return F.interpolate(images, size=(self.resolution,) * 2, mode="bilinear", antialias=shrink)

    def view_conditioning(
        self, prompts: list[str], cameras: Cameras | None, view_dependent: bool = True
    ) -> TextEmbedding:
        """Text conditioning of one image per prompt: with cameras and `view_dependent`, each prompt
        gets its camera's view suffix ("…, front view")."""
        if cameras is not None and cameras.c2w.shape[:-2].numel() != len(prompts):
            raise ValueError(f"need one camera per prompt: {cameras.c2w.shape[:-2].numel()} cameras, {len(prompts)}")
        if cameras is not None and view_dependent:
            prompts = [view_prompt(p, label) for p, label in zip(prompts, cameras.view_labels(), strict=True)]
        return self.text_encoder.encode(prompts)

    def sds_loss(
        self,
        images: Tensor,
        prompts: list[str],
        cameras: Cameras | None = None,
        config: SDSConfig = SDSConfig(),
        view_dependent: bool = True,
        generator: Generators = None,
    ) -> SDSOutput:
        """SDS on images `[B, 3, H, W]` in [0, 1] rendered from `cameras` (B of them, or None).

        `prompts` has one prompt per image; with cameras and `view_dependent`, each gets its view suffix
        ("…, front view"). The unconditional branch is the empty prompt seen from the same camera:
        guidance amplifies what the text adds, and the toy model saw that pairing 6× more often in
        training than an empty prompt without camera (caption and camera are dropped independently).
        `generator`: one for the batch, or one per image.
        """
        if len(prompts) != len(images):
            raise ValueError(f"need one prompt per image: {len(prompts)} prompts, {len(images)} images")
        text = self.view_conditioning(prompts, cameras, view_dependent)
        return self.sds_loss_from_text(images, text, cameras, config, generator)

    def sds_loss_from_text(
        self,
        images: Tensor,
        text: TextEmbedding,
        cameras: Cameras | None = None,
        config: SDSConfig = SDSConfig(),
        generator: Generators = None,
    ) -> SDSOutput:
        """`sds_loss` with the text conditioning given (each tensor `[B, ...]`), e.g. ATT3D's interpolated
        embeddings `(1-α)c1 + αc2`."""
        if len(text) != len(images):
            raise ValueError(f"need text conditioning for each of the {len(images)} images")
        if cameras is not None and cameras.c2w.shape[:-2].numel() != len(images):
            raise ValueError(f"need one camera per image: {cameras.c2w.shape[:-2].numel()} cameras, {len(images)}")
        empty = self.text_encoder.encode([""]).select([0] * len(text)).to(self.device, self.dtype)
        both = text.to(self.device, self.dtype).cat(empty)
        camera = None if cameras is None else self.camera_input(cameras.to(self.device))
        if camera is not None:
            camera = torch.cat((camera, camera)).to(self.dtype)

        def predict(noisy: Tensor, timesteps: Tensor) -> tuple[Tensor, Tensor]:
            noise = self.predict_noise(torch.cat((noisy, noisy)), torch.cat((timesteps, timesteps)), both, camera)
            return noise.chunk(2)

        x = self.model_input(images.to(self.device), generator)
        return sds_step(x, predict, self.alphas_cumprod, config, generator)
