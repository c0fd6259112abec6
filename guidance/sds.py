"""Score Distillation Sampling (DreamFusion, Poole et al. 2022), independent of any diffusion model.

A rendered image x (pixels, or a latent for latent diffusion) is noised at a random timestep t,
x_t = √ᾱ_t·x + √(1−ᾱ_t)·ε; the frozen model predicts ε̂ with classifier-free guidance; the gradient
w(t)·(ε̂ − ε) is injected into x as if it were ∂loss/∂x, skipping the U-Net's Jacobian. The backends
in this folder supply ε̂; everything else (timesteps, weighting, guidance mix, clipping, injection)
is here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from nerf import random
from nerf.random import Generators

Weighting = Literal["dreamfusion", "uniform"]


@dataclass(frozen=True)
class SDSConfig:
    """What an SDS step does. Fractions of the diffusion's T timesteps: t is drawn uniformly from
    [t_min, t_max]; `TimestepSchedule` anneals t_max over a run."""

    guidance_scale: float = 100.0  # DreamFusion's; each backend has its own `default_guidance_scale`
    t_min: float = 0.02
    t_max: float = 0.98
    weighting: Weighting = "dreamfusion"  # w(t) = 1 − ᾱ_t; "uniform": w(t) = 1
    grad_clip: float | None = None  # clamp each element of w(t)·(ε̂ − ε) to [−grad_clip, grad_clip]

    def __post_init__(self) -> None:
        if not 0 <= self.t_min <= self.t_max <= 1:
            raise ValueError(f"need 0 <= t_min <= t_max <= 1, got t_min={self.t_min}, t_max={self.t_max}")
        if self.guidance_scale < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {self.guidance_scale}")
        if self.weighting not in ("dreamfusion", "uniform"):
            raise ValueError(f"weighting must be 'dreamfusion' or 'uniform', got {self.weighting!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")


@dataclass(frozen=True)
class TimestepSchedule:
    """t_max annealed linearly from `t_max_start` to `t_max_end` over `steps` (then held): large noise
    early shapes the object, small noise late refines it (the prototype annealed 0.98 → 0.5)."""

    t_max_start: float = 0.98
    t_max_end: float = 0.5
    steps: int = 300

    def t_max(self, step: int) -> float:
        progress = min(max(step / max(self.steps, 1), 0.0), 1.0)
        return self.t_max_start + (self.t_max_end - self.t_max_start) * progress


@dataclass
class SDSOutput:
    """`loss`: backpropagate it; `timesteps [B]`; `grad [B, C, h, w]`: what reaches the model input."""

    loss: Tensor
    timesteps: Tensor
    grad: Tensor


def sample_timesteps(batch: int, config: SDSConfig, num_train_timesteps: int, generator: Generators = None) -> Tensor:
    """Integer timesteps `[B]` uniform in [t_min·T, t_max·T] (clipped to 1..T−1)."""
    low = min(max(round(config.t_min * num_train_timesteps), 1), num_train_timesteps - 1)
    high = min(max(round(config.t_max * num_train_timesteps), low), num_train_timesteps - 1)
    return random.randint(low, high + 1, batch, generator)


def epsilon_from_v(v: Tensor, noisy: Tensor, alphas_cumprod_t: Tensor) -> Tensor:
    """ε from a v-prediction: with x_t = √ᾱ·x + √(1−ᾱ)·ε and v = √ᾱ·ε − √(1−ᾱ)·x, ε = √ᾱ·v + √(1−ᾱ)·x_t."""
    alpha = alphas_cumprod_t.view(-1, *([1] * (v.ndim - 1))).to(v)
    return alpha.sqrt() * v + (1 - alpha).sqrt() * noisy


def guided_noise(conditional: Tensor, unconditional: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: ε̂ = ε_u + s·(ε_c − ε_u)."""
    return unconditional + scale * (conditional - unconditional)


def sds_weight(alphas_cumprod_t: Tensor, weighting: Weighting) -> Tensor:
    """w(t) `[B]` from ᾱ_t `[B]`."""
    return 1 - alphas_cumprod_t if weighting == "dreamfusion" else torch.ones_like(alphas_cumprod_t)


def inject_gradient(x: Tensor, grad: Tensor) -> Tensor:
    """A loss whose gradient with respect to `x [B, ...]` is `grad / B` (the mean over the batch of
    per-image gradients), whatever graph produced x."""
    target = (x - grad).detach()
    return 0.5 * F.mse_loss(x, target, reduction="sum") / x.shape[0]


def sds_step(
    x: Tensor,
    predict_noise,
    alphas_cumprod: Tensor,
    config: SDSConfig,
    generator: Generators = None,
) -> SDSOutput:
    """One SDS step on model inputs `x [B, C, h, w]` (requires grad).

    `predict_noise(x_t [B, C, h, w], t [B]) -> (ε_conditional, ε_unconditional)`, both `[B, C, h, w]`,
    computed without gradient. `generator`: one for the batch, or one per image (then image b's
    timestep and noise are the same however the batch is split).
    """
    timesteps = sample_timesteps(x.shape[0], config, len(alphas_cumprod), generator).to(x.device)
    noise = random.randn(*x.shape, generator=generator).to(x)
    alpha = alphas_cumprod.to(x.device, torch.float32)[timesteps].view(-1, *([1] * (x.ndim - 1)))
    with torch.no_grad():
        noisy = (alpha.sqrt() * x.float() + (1 - alpha).sqrt() * noise.float()).to(x.dtype)
        conditional, unconditional = predict_noise(noisy, timesteps)
        predicted = guided_noise(conditional.float(), unconditional.float(), config.guidance_scale)
        grad = sds_weight(alpha, config.weighting) * (predicted - noise.float())
        grad = torch.nan_to_num(grad)
        if config.grad_clip is not None:
            grad = grad.clamp(-config.grad_clip, config.grad_clip)
    return SDSOutput(inject_gradient(x.float(), grad), timesteps, grad)
