"""PIL's models: the MLP NeRF and its tokens, the per-token VAE, the aligner."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hub.registry import load_model
from nerf.mlp_nerf import MLPNeRF, MLPNeRFConfig, initial_params, split_tokens
from pil.aligner import Aligner, AlignerConfig
from pil.vae import WeightVAE, WeightVAEConfig

SMALL = MLPNeRFConfig(num_frequencies=2, hidden_dim=8, num_layers=7)


def test_fourteen_tokens_in_order():
    config = MLPNeRFConfig()
    assert len(config.token_names) == 14 and config.token_names[:3] == ["weight_0", "bias_0", "weight_1"]
    assert config.token_sizes[0] == 64 * 39 and config.token_sizes[-1] == 4
    assert config.n_params == sum(config.token_sizes)
    params = torch.arange(config.n_params, dtype=torch.float32).unsqueeze(0)
    tokens = split_tokens(params, config)
    assert [t.shape[1:] for t in tokens[:2]] == [(64, 39), (64,)]
    assert tokens[1][0, 0] == 64 * 39  # the first bias follows the first weight, row-major


def test_batched_forward_matches_a_float64_loop_per_object():
    field = MLPNeRF(SMALL, num_objects=3).double()
    points = torch.rand(3, 50, 3, dtype=torch.float64) * 2 - 1
    out = field(points)
    for b in range(3):
        tokens = [t[0] for t in split_tokens(field.params[b : b + 1], SMALL)]
        x = points[b]
        hidden = [x] + [f(2.0**k * torch.pi * x) for k in range(SMALL.num_frequencies) for f in (torch.sin, torch.cos)]
        h = torch.cat(hidden, dim=-1)
        for layer in range(SMALL.num_layers):
            h = h @ tokens[2 * layer].T + tokens[2 * layer + 1]
            if layer < SMALL.num_layers - 1:
                h = h.clamp(min=0)
        torch.testing.assert_close(out.density[b], nn.functional.softplus(h[:, 0]))
        torch.testing.assert_close(out.albedo[b], torch.sigmoid(h[:, 1:]))


def test_bound_weights_render_like_owned_ones_and_reach_gradients():
    owned = MLPNeRF(SMALL, num_objects=2)
    params = owned.params.detach().clone().requires_grad_(True)
    bound = MLPNeRF(SMALL, num_objects=None).bind(params)
    points = torch.rand(2, 20, 3) * 2 - 1
    torch.testing.assert_close(bound(points).density, owned(points).density)
    bound(points).density.sum().backward()
    assert params.grad is not None and params.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="owns no weights"):
        MLPNeRF(SMALL, num_objects=None)(points)
    with pytest.raises(ValueError, match="params must be"):
        MLPNeRF(SMALL, num_objects=None).bind(torch.zeros(2, 5))


def test_default_initialization_is_pytorchs_and_seeded():
    a = initial_params(SMALL, 2, torch.Generator().manual_seed(1))
    b = initial_params(SMALL, 2, torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert not torch.equal(a[0], a[1])  # each object draws its own
    first = split_tokens(a, SMALL)[0]
    assert first.abs().max() <= 1 / SMALL.input_dim**0.5


def test_save_and_load_round_trip(tmp_path):
    field = MLPNeRF(SMALL, num_objects=2)
    field.save_pretrained(tmp_path / "f")
    loaded = load_model(tmp_path / "f")
    assert isinstance(loaded, MLPNeRF) and loaded.config == SMALL and loaded.num_objects == 2
    torch.testing.assert_close(loaded.params, field.params, rtol=0, atol=0)
    with pytest.raises(ValueError, match="only a MLPNeRF that owns its weights"):
        MLPNeRF(SMALL, num_objects=None).save_pretrained(tmp_path / "g")


# --- the VAE ----------------------------------------------------------------------------------------------
def small_vae() -> WeightVAE:
    return WeightVAE(WeightVAEConfig(mlp=SMALL, latent_dim=6, hidden_dim=16))


def test_standardization_inverts_and_equalizes_tokens():
    vae = small_vae()
    params = torch.randn(10, SMALL.n_params) * torch.linspace(0.01, 3, SMALL.n_params) + 2
    vae.set_statistics(params)
    tokens = vae.standardize(params)
    for token in tokens:
        assert token.square().mean().item() == pytest.approx(1.0, rel=1e-4)
    torch.testing.assert_close(vae.unstandardize(tokens), params, atol=1e-5, rtol=1e-5)


def test_vae_shapes_and_kl_against_torch_distributions():
    vae = small_vae()
    params = torch.randn(4, SMALL.n_params)
    out = vae(params, generator=torch.Generator().manual_seed(0))
    assert out.mean.shape == (4, 14, 6) and out.params.shape == params.shape
    _, _, kl = vae.loss(params, out, kl_weight=1.0)
    posterior = torch.distributions.Normal(out.mean, (0.5 * out.log_variance).exp())
    reference = torch.distributions.kl_divergence(posterior, torch.distributions.Normal(0.0, 1.0)).mean()
    torch.testing.assert_close(kl, reference)
    deterministic = vae(params, sample=False)
    torch.testing.assert_close(deterministic.params, vae.decode(deterministic.mean))


def test_vae_learns_to_reconstruct_a_few_weight_sets():
    torch.manual_seed(0)
    vae = small_vae()
    params = torch.randn(4, SMALL.n_params)
    vae.set_statistics(params)
    optimizer = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss, mse, _ = vae.loss(params, out := vae(params, sample=False), kl_weight=0.0)
        first = first if first is not None else mse.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert mse.item() < 0.1 * first
    del out


def test_vae_hub_round_trip(tmp_path):
    vae = small_vae()
    vae.set_statistics(torch.randn(5, SMALL.n_params))
    vae.save_pretrained(tmp_path / "vae")
    loaded = WeightVAE.from_pretrained(tmp_path / "vae")
    assert loaded.config == vae.config
    torch.testing.assert_close(loaded.token_scale, vae.token_scale)
    latents = torch.randn(2, 14, 6)
    torch.testing.assert_close(loaded.decode(latents), vae.decode(latents))


# --- the aligner ------------------------------------------------------------------------------------------
def small_aligner(**options) -> Aligner:
    config = AlignerConfig(embed_dim=8, latent_dim=6, num_tokens=5, d_model=16, num_heads=2, feedforward_dim=32,
                           encoder_layers=1, decoder_layers=2, dropout=0.0, **options)  # fmt: skip
    return Aligner(config).eval()


def test_aligner_is_causal():
    aligner = small_aligner()
    embeddings, latents = torch.randn(2, 8), torch.randn(2, 5, 6)
    changed = latents.clone()
    changed[:, 2] += 1.0
    before, after = aligner(embeddings, latents), aligner(embeddings, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])  # position i sees the tokens before i only
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output():
    aligner = small_aligner()
    embeddings = torch.randn(3, 8)
    generated = aligner.generate(embeddings)
    assert generated.shape == (3, 5, 6)
    torch.testing.assert_close(aligner(embeddings, generated), generated, atol=1e-5, rtol=1e-5)
    other = aligner.generate(torch.randn(3, 8))
    assert not torch.allclose(other, generated)  # the embedding matters


def test_aligner_rejects_wrong_embeddings_and_round_trips(tmp_path):
    aligner = small_aligner()
    with pytest.raises(ValueError, match=r"embeddings must be \[B, 8\]"):
        aligner.generate(torch.randn(2, 9))
    aligner.save_pretrained(tmp_path / "aligner")
    loaded = Aligner.from_pretrained(tmp_path / "aligner").eval()
    embeddings = torch.randn(2, 8)
    torch.testing.assert_close(loaded.generate(embeddings), aligner.generate(embeddings))


def test_an_aligner_reading_patches_sees_only_the_embedding_where_they_are_hidden(tmp_path):
    torch.manual_seed(0)
    aligner = small_aligner(patch_tokens=4, patch_width=3)
    embeddings, latents, patches = torch.randn(4, 8), torch.randn(4, 5, 6), torch.randn(4, 4, 3)
    hide = torch.tensor([True, False, True, False])
    mixed = aligner(embeddings, latents, patches, hide)
    # a hidden row is what the embedding alone gives (a text prompt); a shown row is what its patches give
    torch.testing.assert_close(mixed[hide], aligner(embeddings, latents)[hide], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mixed[~hide], aligner(embeddings, latents, patches)[~hide])
    assert not torch.allclose(aligner(embeddings, latents, patches), aligner(embeddings, latents), atol=1e-3)
    generated = aligner.generate(embeddings, patches)  # greedy decoding reads them too
    torch.testing.assert_close(aligner(embeddings, generated, patches), generated, atol=1e-5, rtol=1e-5)
    aligner.save_pretrained(tmp_path / "aligner")
    torch.testing.assert_close(Aligner.from_pretrained(tmp_path / "aligner").eval().generate(embeddings, patches),
                               generated)  # fmt: skip
    with pytest.raises(ValueError, match=r"patches must be \[4, 4, 3\]"):
        aligner.generate(embeddings, torch.randn(4, 5, 3))
    with pytest.raises(ValueError, match="embedding alone"):
        small_aligner().generate(embeddings, patches)
    with pytest.raises(ValueError, match="both 0 or both"):
        AlignerConfig(patch_tokens=4)


def test_a_parallel_aligner_predicts_every_token_from_the_embedding_alone(tmp_path):
    torch.manual_seed(0)
    aligner = small_aligner(decoding="parallel")
    embeddings, latents = torch.randn(3, 8), torch.randn(3, 5, 6)
    generated = aligner.generate(embeddings)
    # the true tokens are not read: teacher forcing and generation are the same prediction
    torch.testing.assert_close(aligner(embeddings, latents), generated)
    torch.testing.assert_close(aligner(embeddings, torch.zeros_like(latents)), generated)
    assert not torch.allclose(aligner.generate(torch.randn(3, 8)), generated)
    assert not hasattr(aligner, "target")
    aligner.save_pretrained(tmp_path / "aligner")
    torch.testing.assert_close(Aligner.from_pretrained(tmp_path / "aligner").eval().generate(embeddings), generated)
    with pytest.raises(ValueError, match="decoding must be one of autoregressive, parallel"):
        AlignerConfig(decoding="beam")
