"""The DeepFloyd IF stage I backend (pixel space, 64×64, T5 text embeddings), as DreamFusion-style
pipelines use it: renders resized to 64×64, SDS directly on pixels. The IF weights are gated on the
Hub: accept the licence there and log in (`huggingface-cli login`) before the first download.
"""

from __future__ import annotations

from torch import Tensor

from guidance.pretrained import PretrainedGuidance
from guidance.text_encoder import TextEmbedding
from nerf.random import Generators


class DeepFloydIFGuidance(PretrainedGuidance):
    """SDS from IF stage I, e.g. "DeepFloyd/IF-I-XL-v1.0" (use `variant="fp16"` to download half the bytes)."""

    default_guidance_scale = 20.0  # what IF-based SDS pipelines (stable-dreamfusion, threestudio) use

    def model_input(self, images: Tensor, generator: Generators = None) -> Tensor:
        return (self.resize(images) * 2 - 1).to(self.dtype)

    def predict_noise(self, noisy: Tensor, timesteps: Tensor, text: TextEmbedding, camera: Tensor | None) -> Tensor:
        output = self.unet(noisy, timesteps, encoder_hidden_states=text.states).sample
        return output[:, : noisy.shape[1]]  # IF also predicts the variance in the other channels
