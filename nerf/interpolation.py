"""Interpolation between two conditionings: the one way every method here blends two prompts or images,
ATT3D's text embeddings (in training, and the app's slider) as PIL's latents: `(1-α)·first + α·second`,
which gives each end back exactly at α = 0 and α = 1."""

from __future__ import annotations

import torch
from torch import Tensor

from nerf.checks import check_alpha


def interpolation_weights(alphas: list[float] | Tensor, device: torch.device | str | None = None) -> Tensor:
    """Weights α `[N]` (float32) from numbers a caller gave, each checked to lie in [0, 1]."""
    return torch.tensor([check_alpha(float(a)) for a in alphas], dtype=torch.float32, device=device)


def interpolate(first: Tensor, second: Tensor, alpha: Tensor | float) -> Tensor:
    """`(1-α)·first + α·second` for tensors `[B, ...]` and α `[B]` (or one number)."""
    alpha = torch.as_tensor(alpha, dtype=first.dtype, device=first.device)
    alpha = alpha.view(-1, *([1] * (first.ndim - 1))) if alpha.ndim else alpha
    return (1 - alpha) * first + alpha * second
