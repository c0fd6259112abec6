"""Text encoders as a component of their own: each kind saves and loads back to the same embeddings, a
pipeline's folder is read for its text parts only (ATT3D loads no U-Net), backends share one given to
them, and the app holds one text encoder for the tabs that use the same source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DConditionModel
from tiny_models import tiny_deepfloyd, tiny_stable_diffusion, tiny_toy
from transformers import AutoTokenizer, T5EncoderModel

from att3d import ATT3D, ATT3DConfig
from att3d.generate import ATT3DPipeline
from guidance import TextEmbedding, load_guidance, load_text_encoder
from guidance.text_encoder import ToyCLIPTextEncoder, TransformersTextEncoder
from nerf.field import VoxelGridFieldConfig
from toyworld.clip import new_toy_clip, save_clip
from webui.models import Models

PROMPTS = ["a red cube", "a blue sphere, side view", ""]


def no_unet(*args, **kwargs):
    pytest.fail("a U-Net was loaded")


@pytest.mark.parametrize("kind", ["toy", "stable-diffusion", "deepfloyd"])
def test_every_kind_saves_and_loads_back_to_the_same_embeddings(kind: str, tmp_path: Path, monkeypatch) -> None:
    builders = {"toy": lambda: tiny_toy(tmp_path)[1], "deepfloyd": lambda: tiny_deepfloyd(tmp_path / "if"),
                "stable-diffusion": lambda: tiny_stable_diffusion(tmp_path / "sd", "epsilon")}  # fmt: skip
    source = builders[kind]()
    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", no_unet)
    encoder = load_text_encoder(source, device="cpu", use_cache=False)
    assert isinstance(encoder, ToyCLIPTextEncoder if kind == "toy" else TransformersTextEncoder)
    first = encoder.encode(PROMPTS)
    assert first.states.ndim == 3 and len(first) == 3 and (first.pooled is not None) == (kind == "toy")
    assert not torch.equal(first.states[0], first.states[1])  # the prompts' words change the embedding
    again = load_text_encoder(encoder.save_pretrained(tmp_path / "saved"), device="cpu", use_cache=False)
    second = again.encode(PROMPTS)
    assert torch.allclose(second.states, first.states, atol=1e-6)
    if kind == "toy":
        assert torch.allclose(second.pooled, first.pooled, atol=1e-6)


def test_t5_prompts_are_padded_to_77_tokens_with_their_mask(tmp_path: Path) -> None:
    folder = tiny_deepfloyd(tmp_path / "if")
    encoder = load_text_encoder(folder, device="cpu", use_cache=False)
    tokens = AutoTokenizer.from_pretrained(folder, subfolder="tokenizer")(
        ["a red cube"], padding="max_length", max_length=77, return_tensors="pt"
    )
    with torch.no_grad():
        model = T5EncoderModel.from_pretrained(folder, subfolder="text_encoder")
        expected = model(tokens.input_ids, attention_mask=tokens.attention_mask)[0]
        unmasked = model(tokens.input_ids)[0]
    states = encoder.encode(["a red cube"]).states
    assert torch.allclose(states, expected, atol=1e-6) and not torch.allclose(states, unmasked, atol=1e-3)


def test_the_toy_diffusion_folder_names_the_bundled_toy_clip(tmp_path: Path) -> None:
    diffusion, _ = tiny_toy(tmp_path)
    from_folder = load_text_encoder(diffusion, device="cpu", use_cache=False).encode(PROMPTS)
    bundled = load_text_encoder("toy", device="cpu", use_cache=False).encode(PROMPTS)
    assert torch.equal(from_folder.states, bundled.states) and torch.equal(from_folder.pooled, bundled.pooled)


def test_a_folder_without_a_text_encoder_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no text encoder"):
        load_text_encoder(tmp_path)
    (tmp_path / "text_encoder").mkdir()
    (tmp_path / "text_encoder" / "config.json").write_text('{"architectures": ["BertModel"]}')
    with pytest.raises(ValueError, match="holds a BertModel; supported: CLIPTextModel, T5EncoderModel"):
        load_text_encoder(tmp_path)


def test_embedding_select_cat_and_apply() -> None:
    embedding = TextEmbedding(torch.arange(24.0).view(3, 2, 4), torch.arange(6.0).view(3, 2))
    picked = embedding.select([2, 0, 2])
    assert torch.equal(picked.states[1], embedding.states[0]) and torch.equal(picked.pooled[0], embedding.pooled[2])
    both = embedding.cat(picked)
    assert len(both) == 6 and torch.equal(both.pooled[3:], picked.pooled)
    mixed = embedding.apply(lambda a, b: 0.25 * a + 0.75 * b, picked)
    assert torch.allclose(mixed.states[1], 0.25 * embedding.states[1] + 0.75 * embedding.states[0])
    assert TextEmbedding(torch.zeros(1, 2, 3)).apply(lambda t: t + 1).pooled is None


def test_att3d_from_a_stable_diffusion_model_loads_only_its_text_encoder(tmp_path: Path, monkeypatch) -> None:
    sd = tiny_stable_diffusion(tmp_path / "sd", "epsilon")
    config = ATT3DConfig(text_encoder=str(sd), text_tokens=16, text_width=32, hidden_dim=8,
                         voxel=VoxelGridFieldConfig(resolution=8), background=0.5)  # fmt: skip
    ATT3D(config).save_pretrained(tmp_path / "att3d")
    monkeypatch.setattr(UNet2DConditionModel, "from_pretrained", no_unet)
    pipe = ATT3DPipeline.from_pretrained(tmp_path / "att3d")
    assert isinstance(pipe.text_encoder, TransformersTextEncoder)
    assert pipe("a red cube").field.num_objects == 1
    expected = load_text_encoder(sd, use_cache=False).encode(["a red cube"]).states
    assert torch.allclose(pipe.embed(["a red cube"]), expected, atol=1e-6)


def test_a_backend_uses_the_text_encoder_it_is_given(tmp_path: Path) -> None:
    sd = tiny_stable_diffusion(tmp_path / "sd", "epsilon")
    encoder = load_text_encoder(sd, device="cpu", use_cache=False)
    assert load_guidance(sd, device="cpu", text_encoder=encoder).text_encoder is encoder
    diffusion, clip = tiny_toy(tmp_path)
    toy_encoder = load_text_encoder(clip, device="cpu", use_cache=False)
    assert load_guidance(diffusion, device="cpu", text_encoder=toy_encoder).text_encoder is toy_encoder


def test_the_app_shares_one_text_encoder_between_its_tabs() -> None:
    models = Models(device="cpu")
    assert models.att3d().text_encoder is models.guidance().text_encoder


def test_a_cached_toy_prompt_needs_neither_the_model_nor_open_clip(tmp_path: Path) -> None:
    _, clip = tiny_toy(tmp_path)
    first = ToyCLIPTextEncoder(clip, cache_root=tmp_path / "cache")
    expected = first.encode(["a red cube"])
    again = ToyCLIPTextEncoder(clip, cache_root=tmp_path / "cache")  # another process: the same files, the same key
    assert again.cache.folder == first.cache.folder
    assert torch.equal(again.encode(["a red cube"]).states, expected.states) and again._loaded is None
    clip_model, _ = new_toy_clip(seed=1)  # the model retrained into the same folder: another key, never a stale one
    save_clip(clip_model, clip, half=False)
    assert ToyCLIPTextEncoder(clip, cache_root=tmp_path / "cache").cache.folder != first.cache.folder
    # the command line's whole path, in a fresh process: a cached prompt makes its object without open_clip
    script = ("import sys\nfrom att3d.generate import ATT3DPipeline\n"
              "ATT3DPipeline.from_pretrained()('a red cube')\nprint('open_clip' in sys.modules)")  # fmt: skip
    environment = os.environ | {"AMORTIZED3D_CACHE": str(tmp_path / "cli"), "OMP_NUM_THREADS": "1"}
    runs = [subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parent.parent, check=True) for _ in range(2)]  # fmt: skip
    assert [run.stdout.split()[-1] for run in runs] == ["True", "False"]  # loaded for the first time only
