"""ATT3D's mapping network (Eq. 4-5 of the paper): a prompt's token embeddings → one NeRF's grid.

    v = SiLU(SN-Linear(flatten(c)))            c: [B, L, W] token embeddings of the text encoder
    w = gain · SN-Linear_no_bias(v)            w: [B, n_params], a hash grid's or voxel grid's parameters

Spectral normalisation (SN) keeps each layer's largest singular value at 1, which steadies training
against a moving SDS target (the paper needed it). It also bounds how far apart two prompts' outputs
can be: ‖w(c1) − w(c2)‖ ≤ gain · 1.1 · ‖c1 − c2‖ (SiLU's slope is at most 1.1), so the RMS difference
per grid number is at most gain · 1.1 · ‖c1 − c2‖ / √n_params. With gain 1 and a 32³ voxel grid that
is ~0.2 logits for the toy CLIP's embeddings: every prompt gets nearly the same object, silently
(the prototype, ../shared/notes/att3d-prototype.md, saw the same with one-hot embeddings). So the
output has a gain, by default √(n_params / hidden_dim): each output number then starts at about the
scale of one hidden unit, and the bound above becomes ~9 logits. `prompt_spread` measures the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class MappingConfig:
    """Sizes of the mapping network. `output_gain` None: √(output_dim / hidden_dim)."""

    input_dim: int  # L·W, the flattened token embeddings
    output_dim: int  # the grid's parameters per prompt
    hidden_dim: int = 64
    spectral_norm: bool = True
    output_gain: float | None = None

    def __post_init__(self) -> None:
        if min(self.input_dim, self.output_dim, self.hidden_dim) < 1:
            raise ValueError(f"input_dim, output_dim and hidden_dim must be >= 1, got {self}")
        if self.output_gain is not None and self.output_gain <= 0:
            raise ValueError(f"output_gain must be > 0, got {self.output_gain}")

    @property
    def gain(self) -> float:
        return self.output_gain if self.output_gain is not None else math.sqrt(self.output_dim / self.hidden_dim)


class MappingNetwork(nn.Module):
    """Token embeddings `[B, L, W]` (or already flat `[B, L·W]`) → grid parameters `[B, output_dim]`."""

    def __init__(self, config: MappingConfig) -> None:
        super().__init__()
        self.config = config
        hidden = nn.Linear(config.input_dim, config.hidden_dim)
        output = nn.Linear(config.hidden_dim, config.output_dim, bias=False)
        if config.spectral_norm:
            hidden, output = spectral_norm(hidden), spectral_norm(output)
        self.hidden, self.output = hidden, output

    def forward(self, embeddings: Tensor) -> Tensor:
        flat = embeddings.flatten(1)
        if flat.shape[1] != self.config.input_dim:
            raise ValueError(
                f"embeddings must flatten to {self.config.input_dim} numbers per prompt, got {tuple(embeddings.shape)}"
            )
        v = nn.functional.silu(self.hidden(flat))
        return self.config.gain * self.output(v)


@torch.no_grad()
def prompt_spread(outputs: Tensor) -> float:
    """How different a batch of prompts' outputs `[B, n]` are, in the grid's own units (logits,
    features): the RMS deviation from their mean. Well below 1: every prompt gets the same object."""
    return (outputs - outputs.mean(0, keepdim=True)).square().mean().sqrt().item()
