"""The one interface every SDS backend implements: encode prompts (cached, view-suffixed), and an SDS
loss on rendered images. A backend supplies four things: how to encode a batch of prompts, how to
turn images into the model's input (resize; VAE-encode for latent diffusion), how to condition on a
camera (if it can), and how to predict ε.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from guidance.cache import EmbeddingCache, model_key
from guidance.sds import SDSConfig, SDSOutput, sds_step
from nerf.cameras import Cameras, view_prompt
from nerf.random import Generators


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Guidance(ABC):
    """A frozen text-to-image diffusion model used as a critic of rendered images.

    Subclasses set `resolution` (the side, in pixels, that renders are resized to), `alphas_cumprod
    [T]`, `device` and `dtype` (and `background` if their world has a fixed one), then call
    `init_cache` with their text encoder.
    """

    resolution: int
    background: float | None = None  # the grey the model's training images had behind objects; None: learn it
    # What SDS runs use unless told otherwise: DreamFusion used 100 (Imagen; also the usual choice for
    # Stable Diffusion), DeepFloyd IF is commonly run at 20, the toy model does best at 7.5 (measured).
    default_guidance_scale: float = 100.0
    alphas_cumprod: Tensor
    device: torch.device
    dtype: torch.dtype
    cache: EmbeddingCache

    def init_cache(self, name: str, encoder: nn.Module, cache_root: Path | None, use_cache: bool) -> None:
        self.cache = EmbeddingCache(model_key(name, encoder), cache_root, enabled=use_cache)

    # --- what a backend provides ------------------------------------------------------------------------
    @abstractmethod
    def encode_uncached(self, prompts: list[str]) -> dict[str, Tensor]:
        """Text conditioning of `prompts`, each tensor `[len(prompts), ...]`."""

    @abstractmethod
    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        """Differentiable map from images `[B, 3, H, W]` in [0, 1] to what the U-Net denoises."""

    @abstractmethod
    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: dict[str, Tensor], camera: Tensor | None) -> Tensor:
        """ε̂ `[B, C, h, w]` for noisy inputs, timesteps `[B]`, text conditioning and camera input."""

    def camera_input(self, cameras: Cameras) -> Tensor | None:
        """The model's camera conditioning `[B, D]`, or None for models that take none (SD, IF)."""
        return None

    # --- shared ------------------------------------------------------------------------------------------
    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        """Text conditioning of `prompts` (each tensor `[len(prompts), ...]`), from the cache when it can."""
        missing = [p for p in dict.fromkeys(prompts) if self.cache.get(p) is None]
        if missing:
            encoded = self.encode_uncached(missing)
            for index, prompt in enumerate(missing):
                self.cache.put(prompt, {name: value[index] for name, value in encoded.items()})
        entries = [self.cache.get(prompt) for prompt in prompts]
        return {name: torch.stack([e[name] for e in entries]).to(self.device, self.dtype) for name in entries[0]}

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
    ) -> dict[str, Tensor]:
        """Text conditioning of one image per prompt: with cameras and `view_dependent`, each prompt
        gets its camera's view suffix ("…, front view")."""
        if cameras is not None and cameras.c2w.shape[:-2].numel() != len(prompts):
            raise ValueError(f"need one camera per prompt: {cameras.c2w.shape[:-2].numel()} cameras, {len(prompts)}")
        if cameras is not None and view_dependent:
            prompts = [view_prompt(p, label) for p, label in zip(prompts, cameras.view_labels(), strict=True)]
        return self.encode(prompts)

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
        text: dict[str, Tensor],
        cameras: Cameras | None = None,
        config: SDSConfig = SDSConfig(),
        generator: Generators = None,
    ) -> SDSOutput:
        """`sds_loss` with the text conditioning given (each tensor `[B, ...]`), e.g. ATT3D's interpolated
        embeddings `(1-α)c1 + αc2`."""
        if any(len(value) != len(images) for value in text.values()):
            raise ValueError(f"need text conditioning for each of the {len(images)} images")
        if cameras is not None and cameras.c2w.shape[:-2].numel() != len(images):
            raise ValueError(f"need one camera per image: {cameras.c2w.shape[:-2].numel()} cameras, {len(images)}")
        empty = self.encode([""])
        both = {name: torch.cat((value, empty[name].expand_as(value))) for name, value in text.items()}
        camera = None if cameras is None else self.camera_input(cameras.to(self.device))
        if camera is not None:
            camera = torch.cat((camera, camera)).to(self.dtype)

        def predict(noisy: Tensor, timesteps: Tensor) -> tuple[Tensor, Tensor]:
            noise = self.predict_noise(torch.cat((noisy, noisy)), torch.cat((timesteps, timesteps)), both, camera)
            return noise.chunk(2)

        x = self.model_input(images.to(self.device), generator)
        return sds_step(x, predict, self.alphas_cumprod, config, generator)
