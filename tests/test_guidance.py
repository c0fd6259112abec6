"""Score distillation: the SDS formula and its injection, the guidance mix, timesteps and schedules,
the on-disk text cache, and the three backends built from tiny random components (no downloads):
the gradient that reaches each model's input must equal w(t)·(ε̂ − ε) / B computed from what the
U-Net actually predicted."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_deepfloyd, tiny_stable_diffusion, tiny_toy
from transformers import AutoTokenizer, CLIPTextModel

from guidance import Guidance, SDSConfig, TimestepSchedule, load_guidance, pipeline_class
from guidance.cache import EmbeddingCache, model_key
from guidance.sds import epsilon_from_v, guided_noise, inject_gradient, sample_timesteps, sds_step, sds_weight
from nerf.cameras import orbit_cameras
from toyworld.diffusion import load_diffusion, new_scheduler, ray_map, save_diffusion, widen_to_rays


# --- the SDS core ------------------------------------------------------------------------------------------
def test_injected_loss_has_the_given_gradient_divided_by_batch() -> None:
    x = torch.randn(3, 4, 5, 5, requires_grad=True)
    grad = torch.randn(3, 4, 5, 5)
    (2 * x).sum().mul(0).add(inject_gradient(x * 1.0, grad)).backward()
    assert torch.allclose(x.grad, grad / 3, atol=1e-6)


def test_classifier_free_guidance_mix() -> None:
    conditional, unconditional = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
    assert torch.allclose(guided_noise(conditional, unconditional, 7.5), torch.tensor([4.25, -21.5]))
    assert torch.equal(guided_noise(conditional, unconditional, 1.0), conditional)
    assert torch.equal(guided_noise(conditional, unconditional, 0.0), unconditional)


def test_timesteps_stay_in_the_configured_range() -> None:
    config = SDSConfig(t_min=0.2, t_max=0.3)
    t = sample_timesteps(10_000, config, 1000, torch.Generator().manual_seed(0))
    assert t.min() == 200 and t.max() == 300
    assert sample_timesteps(100, SDSConfig(t_min=0.0, t_max=1.0), 1000).max() <= 999
    assert sample_timesteps(100, SDSConfig(t_min=0.0, t_max=0.0), 1000).min() >= 1


def test_timestep_schedule_anneals_linearly_then_holds() -> None:
    schedule = TimestepSchedule(t_max_start=0.98, t_max_end=0.5, steps=100)
    assert schedule.t_max(0) == 0.98 and math.isclose(schedule.t_max(50), 0.74) and schedule.t_max(500) == 0.5


@pytest.mark.parametrize(
    "bad",
    [{"t_min": 0.5, "t_max": 0.4}, {"t_max": 1.5}, {"guidance_scale": -1}, {"weighting": "snr"}, {"grad_clip": 0}],
)
def test_bad_sds_config_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SDSConfig(**bad)


@pytest.mark.parametrize("weighting", ["dreamfusion", "uniform"])
def test_sds_step_gradient_is_weighted_guided_noise_residual(weighting: str) -> None:
    alphas = new_scheduler().alphas_cumprod
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    calls = []

    def predict(noisy: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(noisy)
        return 0.3 * noisy + t.view(-1, 1, 1, 1) / 1000, -0.2 * noisy

    config = SDSConfig(guidance_scale=20.0, weighting=weighting)
    output = sds_step(x, predict, alphas, config, torch.Generator().manual_seed(1))
    output.loss.backward()
    a = alphas[output.timesteps].view(-1, 1, 1, 1)
    noisy = calls[0]
    noise = (noisy - a.sqrt() * x.detach()) / (1 - a).sqrt()
    conditional, unconditional = predict(noisy, output.timesteps)
    weight = (1 - a) if weighting == "dreamfusion" else torch.ones_like(a)
    expected = weight * (unconditional + 20.0 * (conditional - unconditional) - noise)
    assert torch.allclose(output.grad, expected, atol=1e-4)
    assert torch.allclose(x.grad, expected / 4, atol=1e-4)
    assert torch.equal(
        sds_weight(torch.tensor([0.25]), weighting), torch.tensor([0.75 if weighting == "dreamfusion" else 1.0])
    )


def test_gradient_clipping_bounds_every_element() -> None:
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    output = sds_step(x, lambda n, t: (100 * n, -100 * n), new_scheduler().alphas_cumprod, SDSConfig(grad_clip=0.5))
    assert output.grad.abs().max() <= 0.5 and (output.grad.abs() == 0.5).any()


# --- the cache ---------------------------------------------------------------------------------------------
def test_cache_round_trips_through_disk_and_checks_the_prompt(tmp_path: Path) -> None:
    cache = EmbeddingCache("model-abc", tmp_path)
    value = {"states": torch.randn(5, 8), "pooled": torch.randn(8)}
    cache.put("a red cube", value)
    fresh = EmbeddingCache("model-abc", tmp_path)  # another process
    loaded = fresh.get("a red cube")
    assert loaded is not None and all(torch.equal(loaded[k], value[k]) for k in value)
    assert fresh.get("a blue cube") is None and EmbeddingCache("model-xyz", tmp_path).get("a red cube") is None
    fresh.path("a blue cube").write_bytes(fresh.path("a red cube").read_bytes())  # a forged collision
    assert EmbeddingCache("model-abc", tmp_path).get("a blue cube") is None


def test_model_key_changes_with_the_weights() -> None:
    encoder = torch.nn.Linear(3, 2)
    key = model_key("toy", encoder)
    assert model_key("toy", encoder) == key
    with torch.no_grad():
        encoder.weight[0, 0] += 0.5
    assert model_key("toy", encoder) != key and model_key("other", encoder) != model_key("toy", encoder)


# --- tiny backends -----------------------------------------------------------------------------------------
def check_sds_gradient(guidance: Guidance, monkeypatch: pytest.MonkeyPatch, cameras=None) -> dict:
    """Run sds_loss on random images; the gradient at the model input must equal w(t)·(ε̂ − ε) / B with
    ε̂ the guided mix of what the U-Net returned. Returns what predict_noise was called with."""
    seen: dict = {}
    model_input, predict_noise = guidance.model_input, guidance.predict_noise

    def recording_input(images, generator=None):
        seen["x"] = model_input(images, generator)
        seen["x"].retain_grad()
        return seen["x"]

    def recording_predict(noisy, timesteps, text, camera):
        seen.update(noisy=noisy, timesteps=timesteps, text=text, camera=camera)
        seen["output"] = predict_noise(noisy, timesteps, text, camera)
        return seen["output"]

    monkeypatch.setattr(guidance, "model_input", recording_input)
    monkeypatch.setattr(guidance, "predict_noise", recording_predict)
    images = torch.rand(2, 3, 20, 20, requires_grad=True)
    config = SDSConfig(guidance_scale=10.0)
    output = guidance.sds_loss(images, ["a red cube", "a blue sphere"], cameras, config, generator=torch.Generator())
    output.loss.backward()
    x = seen["x"].detach()
    a = guidance.alphas_cumprod[output.timesteps].view(-1, 1, 1, 1)
    noise = (seen["noisy"][:2] - a.sqrt() * x) / (1 - a).sqrt()
    conditional, unconditional = seen["output"].chunk(2)
    expected = (1 - a) * (guided_noise(conditional, unconditional, 10.0) - noise)
    assert torch.allclose(seen["x"].grad, expected / 2, atol=1e-4)
    assert images.grad is not None and images.grad.abs().sum() > 0
    return seen


def test_toy_backend_gradient_view_prompts_and_camera(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    guidance = load_guidance(diffusion, clip=clip, device="cpu", cache_root=tmp_path / "cache")
    assert guidance.resolution == 16
    cameras = orbit_cameras(torch.tensor([0.0, 180.0]), 15.0, 3.0, 40.0, 16, 16)
    seen = check_sds_gradient(guidance, monkeypatch, cameras)
    expected = guidance.text_encoder.encode_uncached(["a red cube, front view", "a blue sphere, back view", ""])
    assert torch.allclose(seen["text"].pooled, expected.pooled[[0, 1, 2, 2]], atol=1e-5)
    assert torch.allclose(seen["camera"][:2, :2], torch.tensor([[0.0, 1.0], [0.0, -1.0]]), atol=1e-5)  # sin, cos az
    assert torch.equal(seen["camera"][2:], seen["camera"][:2])  # the unconditional branch keeps the camera


def test_toy_backend_gives_a_model_that_reads_rays_each_pixels_ray(tmp_path: Path, monkeypatch) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    unet, scheduler = load_diffusion(diffusion)
    unet = widen_to_rays(unet.float())
    with torch.no_grad():
        unet.conv_in.weight[:, 3:] = 0.5 * torch.randn_like(unet.conv_in.weight[:, 3:])
    save_diffusion(unet, scheduler, tmp_path / "rays", half=False)
    guidance = load_guidance(tmp_path / "rays", clip=clip, device="cpu", use_cache=False)
    cameras = orbit_cameras(torch.tensor([0.0, 180.0]), 15.0, 3.0, 40.0, 16, 16)
    seen = check_sds_gradient(guidance, monkeypatch, cameras)
    noisy, t, text, camera = seen["noisy"], seen["timesteps"], seen["text"], seen["camera"]
    with torch.no_grad():
        inputs = torch.cat((noisy, ray_map(camera, 16)), dim=1)
        classes = torch.cat((camera, text.pooled), dim=-1)
        expected = guidance.unet(inputs, t, encoder_hidden_states=text.states, class_labels=classes).sample
    assert torch.allclose(seen["output"], expected, atol=1e-5)


def test_stable_diffusion_backend_gradient_through_the_vae(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tiny_stable_diffusion(tmp_path / "sd", "epsilon")
    assert pipeline_class(folder) == "StableDiffusionPipeline"
    guidance = load_guidance(folder, device="cpu", cache_root=tmp_path / "cache")
    assert guidance.resolution == 16 and guidance.dtype == torch.float32  # 8 latent pixels × VAE factor 2
    seen = check_sds_gradient(guidance, monkeypatch)
    assert seen["x"].shape == (2, 4, 8, 8) and seen["camera"] is None
    tokenizer = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer")
    tokens = tokenizer(["a red cube", "a blue sphere", "", ""], padding="max_length", max_length=16,
                       return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        states = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder")(tokens.input_ids)[0]
    assert torch.allclose(seen["text"].states, states, atol=1e-5)


def test_v_prediction_is_converted_to_epsilon() -> None:
    x, noise, a = torch.randn(3, 4, 2, 2), torch.randn(3, 4, 2, 2), torch.tensor([0.9, 0.5, 0.01])
    s = a.view(-1, 1, 1, 1)
    noisy, v = s.sqrt() * x + (1 - s).sqrt() * noise, s.sqrt() * noise - (1 - s).sqrt() * x
    assert torch.allclose(epsilon_from_v(v, noisy, a), noise, atol=1e-5)


def test_stable_diffusion_v_prediction_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    guidance = load_guidance(tiny_stable_diffusion(tmp_path / "sd", "v_prediction"), cache_root=tmp_path / "c")
    noisy, t = torch.randn(2, 4, 8, 8), torch.tensor([100, 700])
    text = guidance.text_encoder.encode(["a cube", ""])
    with torch.no_grad():
        v = guidance.unet(noisy, t, encoder_hidden_states=text.states).sample
        assert torch.allclose(guidance.predict_noise(noisy, t, text, None),
                              epsilon_from_v(v, noisy, guidance.alphas_cumprod[t]))  # fmt: skip


def test_deepfloyd_backend_uses_t5_and_the_epsilon_half(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tiny_deepfloyd(tmp_path / "if")
    assert pipeline_class(folder) == "IFPipeline"
    guidance = load_guidance(folder, device="cpu", cache_root=tmp_path / "cache")
    assert guidance.resolution == 8
    seen = check_sds_gradient(guidance, monkeypatch)
    assert seen["x"].shape == (2, 3, 8, 8) and seen["output"].shape == (4, 3, 8, 8)
    assert seen["text"].states.shape == (4, 77, 24) and seen["text"].pooled is None


def test_encode_caches_on_disk_by_model_and_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    guidance = load_guidance(diffusion, clip=clip, device="cpu", cache_root=tmp_path / "cache")
    first = guidance.text_encoder.encode(["a red cube", "a red cube, front view"])
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 2
    again = load_guidance(diffusion, clip=clip, device="cpu", cache_root=tmp_path / "cache").text_encoder
    monkeypatch.setattr(again, "encode_uncached", lambda prompts: pytest.fail(f"encoded {prompts} again"))
    second = again.encode(["a red cube, front view", "a red cube"])
    assert torch.equal(second.states, first.states.flip(0)) and torch.equal(second.pooled, first.pooled.flip(0))


def test_sds_loss_refuses_mismatched_inputs(tmp_path: Path) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    guidance = load_guidance(diffusion, clip=clip, device="cpu", use_cache=False)
    with pytest.raises(ValueError, match="one prompt per image"):
        guidance.sds_loss(torch.rand(2, 3, 16, 16), ["a red cube"])
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        guidance.sds_loss(torch.rand(1, 16, 16, 3), ["a red cube"])


def test_unknown_model_folders_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="neither a diffusers pipeline"):
        pipeline_class(tmp_path)
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "KandinskyPipeline"}))
    with pytest.raises(ValueError, match="not supported"):
        load_guidance(tmp_path)
