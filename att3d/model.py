"""The amortized text-to-3D model: mapping network + shared field (decoder, density activation, blob)
+ background. Text embeddings of a batch of prompts in, a radiance field of as many objects out, in
one forward pass.

Saved and loaded as a Hub repo with huggingface_hub's `PyTorchModelHubMixin` (`config.json` +
`model.safetensors`): `ATT3D.from_pretrained("user/repo")` or `ATT3D.from_pretrained("folder")`.

Two backbones for the per-prompt grid that the mapping network writes:
- "hashgrid": the paper's Instant-NGP multiresolution hash grid, read by a shared MLP;
- "voxel": a dense grid of density and albedo logits (no decoder). The paper calls its point encoders
  "voxel/hash grids"; on a CPU this one renders a training batch 8-30× faster (docs/BENCHMARKS.md), so
  the toy world's models and per-prompt baselines use it, and both methods render and score alike (the
  paper's Fig. 5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from att3d.mapping import MappingConfig, MappingNetwork
from nerf.background import ConstantBackground, MLPBackground
from nerf.field import BoundField, HashGridField, HashGridFieldConfig, VoxelGridField, VoxelGridFieldConfig
from nerf.saving import HubModel, config_from

Backbone = Literal["voxel", "hashgrid"]
BACKBONES: tuple[str, ...] = ("voxel", "hashgrid")


@dataclass(frozen=True)
class ATT3DConfig:
    """What an ATT3D model is. `text_encoder` names the guidance model whose text encoder produced the
    training embeddings ("toy", or a Stable Diffusion / IF repo id): generation must use the same one."""

    text_encoder: str = "toy"
    text_tokens: int = 32  # L of the token embeddings [L, W]
    text_width: int = 128  # W
    backbone: Backbone = "voxel"
    voxel: VoxelGridFieldConfig = field(default_factory=VoxelGridFieldConfig)
    hashgrid: HashGridFieldConfig = field(default_factory=HashGridFieldConfig)
    hidden_dim: int = 64
    spectral_norm: bool = True
    output_gain: float | None = None  # None: √(n_params / hidden_dim), see att3d.mapping
    background: float | None = None  # a fixed grey (the guidance model's); None: a learned MLP background
    training_words: tuple[str, ...] = ()  # the words of the training prompts, to flag prompts outside them
    training_prompts: tuple[str, ...] = ()  # the prompts themselves: the app's random prompt draws from them

    def __post_init__(self) -> None:
        object.__setattr__(self, "training_words", tuple(self.training_words))
        object.__setattr__(self, "training_prompts", tuple(self.training_prompts))
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if min(self.text_tokens, self.text_width, self.hidden_dim) < 1:
            raise ValueError("text_tokens, text_width and hidden_dim must be >= 1")
        if self.background is not None and not 0 <= self.background <= 1:
            raise ValueError(f"background must be a grey level in [0, 1] or None, got {self.background}")

    @property
    def field_config(self) -> VoxelGridFieldConfig | HashGridFieldConfig:
        return self.voxel if self.backbone == "voxel" else self.hashgrid

    def unknown_words(self, prompt: str) -> list[str]:
        """The words of `prompt` that no training prompt used (empty if the model records no vocabulary)."""
        if not self.training_words:
            return []
        known = set(self.training_words)
        return [word for word in dict.fromkeys(prompt_words(prompt)) if word not in known]


def prompt_words(text: str) -> list[str]:
    """Lower-case words of a prompt, punctuation dropped."""
    return re.findall(r"[a-z0-9']+", text.lower())


class ATT3D(nn.Module, HubModel, tags=["text-to-3d", "nerf", "att3d"]):
    """Token embeddings `[B, L, W]` → a radiance field of B objects (`BoundField`)."""

    model_type = "att3d"

    def __init__(self, config: ATT3DConfig | dict) -> None:
        super().__init__()
        config = config_from(ATT3DConfig, config)
        self.config = config
        self.record_config(config)
        self.field: VoxelGridField | HashGridField = (
            VoxelGridField(config.voxel, num_objects=None)
            if config.backbone == "voxel"
            else HashGridField(config.hashgrid, num_objects=None)
        )
        self.mapping = MappingNetwork(
            MappingConfig(
                config.text_tokens * config.text_width,
                config.field_config.n_params,
                config.hidden_dim,
                config.spectral_norm,
                config.output_gain,
            )
        )
        self.background = ConstantBackground(config.background) if config.background is not None else MLPBackground()

    def forward(self, embeddings: Tensor) -> Tensor:
        """Token embeddings `[B, L, W]` → grid parameters `[B, n_params]` (what `bind` turns into a field)."""
        if embeddings.ndim != 3 or embeddings.shape[1:] != (self.config.text_tokens, self.config.text_width):
            raise ValueError(
                f"embeddings must be [B, {self.config.text_tokens}, {self.config.text_width}] token embeddings "
                f"of {self.config.text_encoder!r}, got {tuple(embeddings.shape)}"
            )
        return self.mapping(embeddings)

    def bind(self, params: Tensor) -> BoundField:
        """Grid parameters `[B, n_params]` (from `forward`) as a field of B objects."""
        return self.field.bind(params)

    def fields(self, embeddings: Tensor) -> BoundField:
        """Token embeddings `[B, L, W]` → a field of B objects: `bind(forward(embeddings))`."""
        return self.bind(self(embeddings))

    def regularizers(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """Total variation of density and of albedo of the grids `params [B, n_params]` (zero for the
        hash grid, whose MLP decoder already smooths)."""
        if isinstance(self.field, VoxelGridField):
            return self.field.total_variation(params=params), self.field.total_variation(slice(1, 4), params)
        zero = params.new_zeros(())
        return zero, zero

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
