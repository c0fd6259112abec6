"""Every type of weighted object, by the `model_type` its config.json records (`nerf.saving`): load any
saved object from its folder alone, e.g. a DreamFusion run's `field/` that may be a voxel grid, a hash
grid or PIL's MLP NeRF.

    field = load_model("runs/dreamfusion/red-cube/field")

Classes are named, not imported, so loading one type never imports the others' packages.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch
from torch import nn

from hub.source import model_folder

MODEL_TYPES = {
    "voxel_grid_field": "nerf.field:VoxelGridField",
    "hash_grid_field": "nerf.field:HashGridField",
    "mlp_nerf_field": "nerf.mlp_nerf:MLPNeRF",
    "att3d": "att3d.model:ATT3D",
    "pil_weight_vae": "pil.vae:WeightVAE",
    "pil_aligner": "pil.aligner:Aligner",
}


def model_class(model_type: str) -> type[nn.Module]:
    """The class saved under `model_type`."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"unknown model_type {model_type!r}; known: {', '.join(MODEL_TYPES)}")
    module, _, name = MODEL_TYPES[model_type].partition(":")
    return getattr(importlib.import_module(module), name)


def load_model(source: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The object saved in `source` (a folder or a Hub repo id), of whichever registered type it is."""
    folder = model_folder(source)
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (no config.json)")
    model_type = json.loads(config.read_text()).get("model_type")
    if model_type is None:
        raise ValueError(f"{config} records no model_type; known: {', '.join(MODEL_TYPES)}")
    return model_class(model_type).from_pretrained(folder).to(device)
