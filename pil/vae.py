"""PIL stage 1: the implicit latent. One small VAE per weight token (14 for the 7-layer MLP NeRF), each
mapping its token to a Gaussian latent the size of the CLIP embedding and back.

Tokens are standardized first: minus the dataset's mean weights, divided by one scale per token (the
RMS of its centred values), so a 4096-number weight matrix and a 4-number bias weigh alike in the
loss. The statistics are buffers, saved with the model.

Saved and loaded as a Hub repo (`config.json` + `model.safetensors`): `WeightVAE.from_pretrained(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from nerf.checks import check_float_tensor
from nerf.mlp_nerf import MLPNeRFConfig
from nerf.saving import HubModel, config_from


@dataclass(frozen=True)
class WeightVAEConfig:
    mlp: MLPNeRFConfig = field(default_factory=MLPNeRFConfig)  # the NeRF whose tokens are encoded
    latent_dim: int = 128  # the CLIP embedding's width: the aligner predicts latents in CLIP's size
    hidden_dim: int = 128

    def __post_init__(self) -> None:
        if min(self.latent_dim, self.hidden_dim) < 1:
            raise ValueError(f"latent_dim and hidden_dim must be >= 1, got {self.latent_dim}, {self.hidden_dim}")


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers between `widths`, ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class TokenVAE(nn.Module):
    """One token `[B, size]` ↔ latent `[B, latent]`: 3-layer MLP encoder, mean and log-variance heads,
    3-layer MLP decoder (the paper's supplementary)."""

    def __init__(self, size: int, hidden: int, latent: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(_mlp([size, hidden, hidden, hidden]), nn.ReLU())
        self.mean = nn.Linear(hidden, latent)
        self.log_variance = nn.Linear(hidden, latent)
        self.decoder = _mlp([latent, hidden, hidden, size])

    def encode(self, token: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.encoder(token)
        return self.mean(hidden), self.log_variance(hidden).clamp(-20.0, 10.0)

    def decode(self, latent: Tensor) -> Tensor:
        return self.decoder(latent)


@dataclass
class VAEOutput:
    params: Tensor  # [B, n_params] reconstructed weights
    mean: Tensor  # [B, T, latent]
    log_variance: Tensor  # [B, T, latent]
    standardized: Tensor  # [B, n_params] the reconstruction before un-standardizing (what the loss compares)


class WeightVAE(nn.Module, HubModel, tags=["image-to-3d", "text-to-3d", "nerf", "prompt2nerf-pil"]):
    """Weight sets `[B, n_params]` ↔ token latents `[B, 14, latent]`."""

    model_type = "pil_weight_vae"

    def __init__(self, config: WeightVAEConfig | dict) -> None:
        super().__init__()
        config = config_from(WeightVAEConfig, config)
        self.config = config
        self.record_config(config)
        sizes = config.mlp.token_sizes
        self.tokens = nn.ModuleList(TokenVAE(size, config.hidden_dim, config.latent_dim) for size in sizes)
        self.register_buffer("weight_mean", torch.zeros(config.mlp.n_params))
        self.register_buffer("token_scale", torch.ones(len(sizes)))

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @torch.no_grad()
    def set_statistics(self, params: Tensor) -> None:
        """Standardize with the training set's weights `[N, n_params]`: their mean, and each token's RMS
        around it."""
        params = self._check(params)
        self.weight_mean.copy_(params.mean(0))
        centred = (params - self.weight_mean).split(self.config.mlp.token_sizes, dim=1)
        self.token_scale.copy_(torch.stack([token.square().mean().sqrt().clamp(min=1e-8) for token in centred]))

    def standardize(self, params: Tensor) -> list[Tensor]:
        """`[B, n_params]` → the standardized tokens, a list of `[B, size_t]`."""
        centred = (self._check(params) - self.weight_mean).split(self.config.mlp.token_sizes, dim=1)
        return [token / scale for token, scale in zip(centred, self.token_scale, strict=True)]

    def unstandardize(self, tokens: list[Tensor]) -> Tensor:
        """The inverse of `standardize`: a list of `[B, size_t]` → `[B, n_params]`."""
        return torch.cat([t * s for t, s in zip(tokens, self.token_scale, strict=True)], dim=1) + self.weight_mean

    def encode(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """Weights `[B, n_params]` → mean, log-variance `[B, T, latent]`."""
        pairs = [vae.encode(token) for vae, token in zip(self.tokens, self.standardize(params), strict=True)]
        return torch.stack([m for m, _ in pairs], dim=1), torch.stack([v for _, v in pairs], dim=1)

    def decode_standardized(self, latents: Tensor) -> list[Tensor]:
        check_float_tensor(latents, "latents", ndim=3)
        if latents.shape[1:] != (self.num_tokens, self.config.latent_dim):
            raise ValueError(
                f"latents must be [B, {self.num_tokens}, {self.config.latent_dim}], got {tuple(latents.shape)}"
            )
        return [vae.decode(latents[:, i]) for i, vae in enumerate(self.tokens)]

    def decode(self, latents: Tensor) -> Tensor:
        """Token latents `[B, T, latent]` → weights `[B, n_params]`."""
        return self.unstandardize(self.decode_standardized(latents))

    def forward(self, params: Tensor, generator: torch.Generator | None = None, sample: bool = True) -> VAEOutput:
        """Encode, draw a latent (the mean when `sample` is False) and decode."""
        mean, log_variance = self.encode(params)
        latents = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device if generator is None else "cpu")
            latents = mean + noise.to(mean) * (0.5 * log_variance).exp()
        standardized = torch.cat(self.decode_standardized(latents), dim=1)
        tokens = list(standardized.split(self.config.mlp.token_sizes, dim=1))
        return VAEOutput(self.unstandardize(tokens), mean, log_variance, standardized)

    def loss(self, params: Tensor, output: VAEOutput, kl_weight: float) -> tuple[Tensor, Tensor, Tensor]:
        """(total, MSE of the standardized tokens, KL to N(0, I) per latent number)."""
        target = torch.cat(self.standardize(params), dim=1)
        mse = (output.standardized - target).square().mean()
        kl = 0.5 * (output.mean.square() + output.log_variance.exp() - 1 - output.log_variance).mean()
        return mse + kl_weight * kl, mse, kl

    def _check(self, params: Tensor) -> Tensor:
        check_float_tensor(params, "params", ndim=2)
        if params.shape[1] != self.config.mlp.n_params:
            raise ValueError(f"params must be [B, {self.config.mlp.n_params}] MLP weights, got {tuple(params.shape)}")
        return params
