"""PIL stage 2: semantic alignment. A Transformer encoder-decoder from a CLIP embedding to the 14 token
latents of `pil.vae`, predicted one token after another: the decoder reads a zero [BOS] token and the
tokens so far (teacher forcing in training, its own predictions in greedy decoding) and cross-attends
to the embedding, spread over a few source tokens.

`decoding="parallel"` predicts the 14 tokens at once instead, from one learned query per token. Measured
(`evaluation.pil_aligner`, docs/PIL.md): the autoregressive aligner learns to read each token off the true
tokens before it (teacher-forced, 0.10 of the latents' variance left on its training objects) and not off the
image, so greedy decoding, fed its own predictions, leaves 0.95: next to nothing learned from the image.
A parallel decoder cannot lean on the answer's earlier tokens.

The embedding alone (the paper's input) holds little of an object's geometry: it is trained to match
captions, which name a category, a colour and a few parts. With `patch_tokens` > 0 the aligner also reads the
CLIP image tower's patch tokens (what the embedding is pooled from; `pil.views.embed_images_and_patches`),
as image-to-3D models cross-attend to an image encoder's patch features. A text prompt has no patches: the
tokens are then left out (`patches=None`), and training hides them for a share of the views
(`hide_patches`) so that the aligner learns both.

Saved and loaded as a Hub repo (`config.json` + `model.safetensors`): `Aligner.from_pretrained(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from nerf.checks import check_float_tensor
from nerf.saving import HubModel, config_from

DECODINGS = ("autoregressive", "parallel")


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
    patch_tokens: int = 0  # the image tower's patch tokens also read (0: the embedding alone, as the paper)
    patch_width: int = 0  # their width
    decoding: str = "autoregressive"  # or "parallel": every token at once (see the module's docstring)

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {self.decoding!r}")
        if min(self.embed_dim, self.latent_dim, self.num_tokens, self.source_tokens, self.d_model) < 1:
            raise ValueError("embed_dim, latent_dim, num_tokens, source_tokens and d_model must be >= 1")
        if self.patch_tokens < 0 or (self.patch_tokens > 0) != (self.patch_width > 0):
            raise ValueError(f"patch_tokens and patch_width are both 0 or both >= 1, got {self.patch_tokens}, "
                             f"{self.patch_width}")  # fmt: skip
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
        if config.patch_tokens:
            self.patch = nn.Linear(config.patch_width, config.d_model)
            self.patch_position = nn.Parameter(torch.randn(config.patch_tokens, config.d_model) * 0.02)
        if config.decoding == "autoregressive":  # a parallel decoder reads no tokens: its queries are positions
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

    def _memory(self, embeddings: Tensor, patches: Tensor | None, hide: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(the encoded source tokens `[B, S, d]`, the mask of the hidden ones `[B, S]` or None)."""
        check_float_tensor(embeddings, "embeddings", ndim=2)
        if embeddings.shape[1] != self.config.embed_dim:
            raise ValueError(f"embeddings must be [B, {self.config.embed_dim}], got {tuple(embeddings.shape)}")
        tokens = self.source(embeddings).view(-1, self.config.source_tokens, self.config.d_model)
        tokens = tokens + self.source_position
        if patches is None:
            return self.encoder(tokens), None
        if not self.config.patch_tokens:
            raise ValueError("this aligner reads the embedding alone (patch_tokens 0); give no patches")
        check_float_tensor(patches, "patches", ndim=3)
        expected = (len(embeddings), self.config.patch_tokens, self.config.patch_width)
        if patches.shape != expected:
            raise ValueError(f"patches must be {list(expected)}, got {tuple(patches.shape)}")
        tokens = torch.cat((tokens, self.patch(patches) + self.patch_position), dim=1)
        mask = None
        if hide is not None:  # rows whose patches are hidden see the embedding's tokens only, as a text prompt
            mask = torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
            mask[:, self.config.source_tokens :] = hide.view(-1, 1)
        return self.encoder(tokens, src_key_padding_mask=mask), mask

    def _decode(self, memory: Tensor, mask: Tensor | None, previous: Tensor) -> Tensor:
        """Predictions `[B, t, latent]` for the first t positions from [BOS] + `previous` `[B, t-1, latent]`;
        a parallel decoder: all T positions from their queries (`previous` unread)."""
        if self.config.decoding == "parallel":
            queries = self.target_position.expand(len(memory), -1, -1)
            return self.head(self.decoder(queries, memory, memory_key_padding_mask=mask))
        bos = previous.new_zeros(previous.shape[0], 1, self.config.latent_dim)
        inputs = torch.cat((bos, previous), dim=1)
        t = inputs.shape[1]
        hidden = self.target(inputs) + self.target_position[:t]
        out = self.decoder(hidden, memory, tgt_mask=self.causal_mask[:t, :t], tgt_is_causal=True,
                           memory_key_padding_mask=mask)  # fmt: skip
        return self.head(out)

    def forward(
        self, embeddings: Tensor, latents: Tensor, patches: Tensor | None = None, hide_patches: Tensor | None = None
    ) -> Tensor:
        """Teacher forcing: embeddings `[B, embed]`, true latents `[B, T, latent]` (and the image's patch tokens
        `[B, P, W]`, hidden for the rows where the bool `hide_patches [B]` is set) → predictions
        `[B, T, latent]` (position i sees only the true tokens before it; a parallel decoder sees none)."""
        memory, mask = self._memory(embeddings, patches, hide_patches)
        return self._decode(memory, mask, latents[:, :-1])

    @torch.no_grad()
    def generate(self, embeddings: Tensor, patches: Tensor | None = None) -> Tensor:
        """Greedy decoding: embeddings `[B, embed]` (and patch tokens `[B, P, W]`, if the aligner reads them
        and the prompt is an image) → latents `[B, T, latent]`, each token predicted from [BOS] and the
        predictions before it."""
        memory, mask = self._memory(embeddings, patches, None)
        if self.config.decoding == "parallel":
            return self._decode(memory, mask, memory.new_zeros(0))
        latents = memory.new_zeros(embeddings.shape[0], 0, self.config.latent_dim)
        for _ in range(self.config.num_tokens):
            latents = torch.cat((latents, self._decode(memory, mask, latents)[:, -1:]), dim=1)
        return latents
