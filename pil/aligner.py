"""PIL stage 2: semantic alignment. A Transformer encoder-decoder from a CLIP embedding to the 14 token
latents of `pil.vae`, predicted one token after another: the decoder reads a zero [BOS] token and the
tokens so far (teacher forcing in training, its own predictions in greedy decoding) and cross-attends
to the embedding, spread over a few source tokens.

Saved and loaded as a Hub repo (`config.json` + `model.safetensors`): `Aligner.from_pretrained(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nerf.checks import check_float_tensor
from nerf.saving import HubModel, config_from


@dataclass(frozen=True)
class AlignerConfig:
    embed_dim: int = 128  # the CLIP embedding's width
    latent_dim: int = 128  # the VAE's latent width
    num_tokens: int = 14  # latent tokens to predict
    source_tokens: int = 4  # the embedding is projected into this many tokens for cross-attention
    d_model: int = 256
    num_heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 3
    feedforward_dim: int = 512
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if min(self.embed_dim, self.latent_dim, self.num_tokens, self.source_tokens, self.d_model) < 1:
            raise ValueError("embed_dim, latent_dim, num_tokens, source_tokens and d_model must be >= 1")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of num_heads ({self.num_heads})")


class Aligner(nn.Module, HubModel, tags=["image-to-3d", "text-to-3d", "nerf", "prompt2nerf-pil"]):
    """CLIP embeddings `[B, embed]` → token latents `[B, T, latent]`."""

    model_type = "pil_aligner"

    def __init__(self, config: AlignerConfig | dict) -> None:
        super().__init__()
        config = config_from(AlignerConfig, config)
        self.config = config
        self.record_config(config)
        self.source = nn.Linear(config.embed_dim, config.source_tokens * config.d_model)
        self.source_position = nn.Parameter(torch.zeros(config.source_tokens, config.d_model))
        self.target = nn.Linear(config.latent_dim, config.d_model)
        self.target_position = nn.Parameter(torch.randn(config.num_tokens, config.d_model) * 0.02)
        layer = {"d_model": config.d_model, "nhead": config.num_heads, "dim_feedforward": config.feedforward_dim,
                 "dropout": config.dropout, "batch_first": True, "norm_first": True}  # fmt: skip
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(**layer), config.encoder_layers, nn.LayerNorm(config.d_model),
            enable_nested_tensor=False,  # nested tensors do not apply to pre-norm layers
        )  # fmt: skip
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(**layer), config.decoder_layers, nn.LayerNorm(config.d_model)
        )
        self.head = nn.Linear(config.d_model, config.latent_dim)
        causal = nn.Transformer.generate_square_subsequent_mask(config.num_tokens)
        self.register_buffer("causal_mask", causal, persistent=False)

    def _source(self, embeddings: Tensor) -> Tensor:
        check_float_tensor(embeddings, "embeddings", ndim=2)
        if embeddings.shape[1] != self.config.embed_dim:
            raise ValueError(f"embeddings must be [B, {self.config.embed_dim}], got {tuple(embeddings.shape)}")
        tokens = self.source(embeddings).view(-1, self.config.source_tokens, self.config.d_model)
        return tokens + self.source_position

    def _decode(self, memory: Tensor, previous: Tensor) -> Tensor:
        """Predictions `[B, t, latent]` for the first t positions from [BOS] + `previous` `[B, t-1, latent]`."""
        bos = previous.new_zeros(previous.shape[0], 1, self.config.latent_dim)
        inputs = torch.cat((bos, previous), dim=1)
        t = inputs.shape[1]
        hidden = self.target(inputs) + self.target_position[:t]
        out = self.decoder(hidden, memory, tgt_mask=self.causal_mask[:t, :t], tgt_is_causal=True)
        return self.head(out)

    def forward(self, embeddings: Tensor, latents: Tensor) -> Tensor:
        """Teacher forcing: embeddings `[B, embed]`, true latents `[B, T, latent]` → predictions `[B, T, latent]`
        (position i sees only the true tokens before it)."""
        memory = self.encoder(self._source(embeddings))
        return self._decode(memory, latents[:, :-1])

    @torch.no_grad()
    def generate(self, embeddings: Tensor) -> Tensor:
        """Greedy decoding: embeddings `[B, embed]` → latents `[B, T, latent]`, each token predicted from
        [BOS] and the predictions before it."""
        memory = self.encoder(self._source(embeddings))
        latents = memory.new_zeros(embeddings.shape[0], 0, self.config.latent_dim)
        for _ in range(self.config.num_tokens):
            latents = torch.cat((latents, self._decode(memory, latents)[:, -1:]), dim=1)
        return latents
