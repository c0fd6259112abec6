"""One packaging scheme: every weighted object saves with the same mixin (`nerf.saving.HubModel`), records
its `model_type`, and loads back from its folder alone through the one registry (`hub.registry`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from att3d import ATT3D, ATT3DConfig
from hub.registry import MODEL_TYPES, load_model, model_class
from nerf.field import VoxelGridField, VoxelGridFieldConfig
from nerf.mlp_nerf import MLPNeRFConfig
from nerf.saving import HubModel, config_from
from pil.aligner import Aligner, AlignerConfig
from pil.vae import WeightVAE, WeightVAEConfig

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_every_registered_type_is_a_hub_model_of_that_type(model_type: str) -> None:
    cls = model_class(model_type)
    assert issubclass(cls, HubModel) and issubclass(cls, torch.nn.Module) and cls.model_type == model_type


def small_models() -> list[torch.nn.Module]:
    torch.manual_seed(0)
    mlp = MLPNeRFConfig(num_frequencies=2, hidden_dim=8)
    return [
        ATT3D(ATT3DConfig(voxel=VoxelGridFieldConfig(resolution=4), hidden_dim=8, text_tokens=3, text_width=5)),
        WeightVAE(WeightVAEConfig(mlp=mlp, latent_dim=6, hidden_dim=8)),
        Aligner(
            AlignerConfig(
                embed_dim=6,
                latent_dim=6,
                num_tokens=14,
                d_model=8,
                num_heads=2,
                feedforward_dim=16,
                encoder_layers=1,
                decoder_layers=1,
            )
        ),
    ]


@pytest.mark.parametrize("index", range(3))
def test_models_round_trip_through_the_registry(index: int, tmp_path: Path) -> None:
    model = small_models()[index]
    model.save_pretrained(tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")
    assert type(loaded) is type(model) and loaded.config == model.config
    original, again = model.state_dict(), loaded.state_dict()
    assert original.keys() == again.keys() and all(torch.equal(original[k], again[k]) for k in original)


@pytest.mark.parametrize(("folder", "cls"), [("toy-att3d", ATT3D), ("toy-pil/vae", WeightVAE),
                                             ("toy-pil/aligner", Aligner)])  # fmt: skip
def test_bundled_checkpoints_load_by_their_model_type(folder: str, cls: type) -> None:
    assert isinstance(load_model(ROOT / "checkpoints" / folder), cls)


def test_unknown_or_missing_types_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"resolution": 4}')
    with pytest.raises(ValueError, match="records no model_type; known: voxel_grid_field"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "teapot"}')
    with pytest.raises(ValueError, match="unknown model_type 'teapot'"):
        load_model(tmp_path)


def test_configs_are_read_back_from_json_nested_and_checked() -> None:
    config = ATT3DConfig(voxel=VoxelGridFieldConfig(resolution=8), training_words=("a", "red"))
    saved = json.loads(json.dumps({"model_type": "att3d", **asdict(config)}))  # lists and dicts, plus a key
    assert config_from(ATT3DConfig, saved) == config
    assert config_from(ATT3DConfig, config) is config
    with pytest.raises(ValueError, match="backbone"):
        config_from(ATT3DConfig, {**saved, "backbone": "mesh"})
    with pytest.raises(ValueError, match="resolution"):
        config_from(ATT3DConfig, {**saved, "voxel": {**saved["voxel"], "resolution": "big"}})


def test_loading_is_strict(tmp_path: Path) -> None:
    field = VoxelGridField(VoxelGridFieldConfig(resolution=4), num_objects=1)
    field.save_pretrained(tmp_path / "field")
    tensors = load_file(tmp_path / "field" / "model.safetensors")
    save_file({**tensors, "stray": torch.zeros(2)}, tmp_path / "field" / "model.safetensors")
    with pytest.raises(RuntimeError, match="stray"):
        load_model(tmp_path / "field")
