"""The DeepFloyd IF stage I backend (pixel space, 64×64, T5 text embeddings), as DreamFusion-style
pipelines use it: renders resized to 64×64, SDS directly on pixels. The IF weights are gated on the
Hub: accept the licence there and log in (`huggingface-cli login`) before the first download.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import T5EncoderModel

from guidance.pretrained import PretrainedGuidance
from nerf.random import Generators

MAX_TOKENS = 77  # what IFPipeline pads and truncates prompts to


class DeepFloydIFGuidance(PretrainedGuidance):
    """SDS from IF stage I, e.g. "DeepFloyd/IF-I-XL-v1.0" (use `variant="fp16"` to download half the bytes)."""

    text_encoder_class = T5EncoderModel
    default_guidance_scale = 20.0  # what IF-based SDS pipelines (stable-dreamfusion, threestudio) use

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str]) -> dict[str, Tensor]:
        tokens = self.tokenizer(
            prompts, padding="max_length", max_length=MAX_TOKENS, truncation=True, add_special_tokens=True,
            return_tensors="pt",
        )  # fmt: skip
        mask = tokens.attention_mask.to(self.device)
        return {"states": self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]}

    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        return (self.resize(images) * 2 - 1).to(self.dtype)

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: dict[str, Tensor], camera: Tensor | None) -> Tensor:
        output = self.unet(noisy, timesteps, encoder_hidden_states=text["states"]).sample
        return output[:, : noisy.shape[1]]  # IF also predicts the variance in the other channels
