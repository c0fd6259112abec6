"""The DeepFloyd IF stage I backend (pixel space, 64×64, T5 text embeddings), as DreamFusion-style
pipelines use it: renders resized to 64×64, SDS directly on pixels. The IF weights are gated on the
Hub: accept the licence there and log in (`huggingface-cli login`) before the first download.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from torch import Tensor
from transformers import AutoTokenizer, T5EncoderModel

from guidance.base import Guidance, default_device

MAX_TOKENS = 77  # what IFPipeline pads and truncates prompts to


class DeepFloydIFGuidance(Guidance):
    """SDS from IF stage I, e.g. "DeepFloyd/IF-I-XL-v1.0" (use `variant="fp16"` to download half the bytes)."""

    def __init__(
        self,
        source: str | Path,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        variant: str | None = None,
        cache_root: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        load = {"torch_dtype": self.dtype, "variant": variant}
        self.tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
        self.text_encoder = T5EncoderModel.from_pretrained(source, subfolder="text_encoder", **load)
        self.unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", **load)
        for model in (self.text_encoder, self.unet):
            model.to(self.device).eval().requires_grad_(False)
        self.scheduler = DDPMScheduler.from_pretrained(source, subfolder="scheduler")
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device)
        self.resolution = self.unet.config.sample_size
        self.init_cache(f"if-{source}", self.text_encoder, cache_root, use_cache)

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]) -> dict[str, Tensor]:
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=MAX_TOKENS, truncation=True, add_special_tokens=True,
            return_tensors="pt",
        )  # fmt: skip
        mask = tokens.attention_mask.to(self.device)
        return {"states": self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]}

    def model_input(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return (self.resize(images) * 2 - 1).to(self.dtype)

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: dict[str, Tensor], camera: Tensor | None) -> Tensor:
        output = self.unet(noisy, timesteps, encoder_hidden_states=text["states"]).sample
        return output[:, : noisy.shape[1]]  # IF also predicts the variance in the other channels
