"""Backgrounds: the colour a ray sees where the object lets light through, as a function of its direction."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from nerf.encoding import FrequencyEncoding


class ConstantBackground(nn.Module):
    """One fixed colour for every ray (the toy world renders on light grey)."""

    def __init__(self, colour: float | Sequence[float] = 1.0) -> None:
        super().__init__()
        rgb = [float(colour)] * 3 if isinstance(colour, (int, float)) else [float(c) for c in colour]
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise ValueError(f"background colour must be a number or 3 numbers in [0, 1], got {colour!r}")
        self.register_buffer("colour", torch.tensor(rgb))

    def forward(self, directions: Tensor) -> Tensor:
        """directions `[..., 3]` → rgb `[..., 3]`."""
        return self.colour.to(directions).expand_as(directions)  # default backgrounds live on the CPU


class MLPBackground(nn.Module):
    """A tiny learned environment: frequency-encoded ray direction → MLP → rgb (DreamFusion's background)."""

    def __init__(self, num_frequencies: int = 2, hidden_dim: int = 32) -> None:
        super().__init__()
        self.encoding = FrequencyEncoding(num_frequencies)
        self.mlp = nn.Sequential(
            nn.Linear(self.encoding.output_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 3), nn.Sigmoid()
        )

    def forward(self, directions: Tensor) -> Tensor:
        """directions `[..., 3]` (unit) → rgb `[..., 3]` in [0, 1]."""
        return self.mlp(self.encoding(directions))
