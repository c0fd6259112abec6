"""Where a per-prompt DreamFusion run starts: DreamFusion's own random field, a saved field, or an
amortized model's output for the prompt (Prompt2NeRF-PIL's warm start, and ATT3D's).

    --init-from pil                 PIL's NeRF for the prompt (text through the nearest training scene)
    --init-from pil:USER/REPO       ... from another PIL model (a Hub repo id or a folder)
    --init-from att3d[:MODEL]       ATT3D's NeRF for the prompt
    --init-from scene:DATASET       the fitted NeRF of the training scene nearest to the prompt in CLIP
                                    space (the paper's baseline P), from a PIL weight dataset folder
    --init-from FOLDER              a saved field (`field/` of an earlier run)

Saved fields carry a `model_type` in their `config.json`: hash or voxel grids (`nerf.field`) or PIL's
MLP NeRF (`nerf.mlp_nerf`); each saves with `save_pretrained` and `hub.registry.load_model` loads any.
"""

from __future__ import annotations

from pathlib import Path

import torch

from att3d.generate import ATT3DPipeline
from hub.registry import load_model
from nerf.field import HashGridField, VoxelGridField
from nerf.mlp_nerf import MLPNeRF
from pil.dataset import load_weight_dataset
from pil.generate import PILPipeline

TrainableField = HashGridField | VoxelGridField | MLPNeRF  # fields that own their parameters
WARM_STARTS = ("pil", "att3d", "scene")
WARM_START_FORMS = "'pil', 'att3d' (optionally ':MODEL'), 'scene:DATASET_FOLDER', or a saved field folder"


def load_trained_field(folder: str | Path, device: str | torch.device = "cpu") -> TrainableField:
    """A field saved with `save_pretrained` (any of the three kinds)."""
    field = load_model(folder, device)
    if not isinstance(field, TrainableField):
        raise ValueError(f"{folder} holds a {type(field).__name__}, not a field")
    return field


def warm_start_field(init: str | Path, prompt: str, device: str | torch.device = "cpu") -> TrainableField:
    """The field a run for `prompt` starts from, owning its parameters (see the module docstring)."""
    text = str(init)
    kind, _, source = text.partition(":")
    if kind == "pil":
        return PILPipeline.from_pretrained(source or "toy", device)(text=prompt).field.owned()
    if kind == "att3d":
        return ATT3DPipeline.from_pretrained(source or "toy", device)(prompt).field.owned()
    if kind == "scene":
        if not source:
            raise ValueError("scene: needs a PIL weight dataset folder, e.g. scene:data/pil-nerfs")
        return nearest_scene_field(prompt, source, PILPipeline.from_pretrained("toy", device))
    if (Path(text) / "config.json").is_file():
        return load_trained_field(text, device)
    raise ValueError(f"--init-from must be {WARM_START_FORMS}; got {text!r}")


def nearest_scene_field(prompt: str, dataset: str | Path, pipe: PILPipeline) -> MLPNeRF:
    """The dataset's fitted NeRF of the training scene nearest to `prompt` in CLIP space (by the view
    embeddings of the training scenes that `pipe`, a PIL model trained on that dataset, keeps)."""
    scene, _ = pipe.nearest_scene(pipe.embed_text(prompt))
    params, records, config = load_weight_dataset(dataset, "train")
    wanted = pipe.scene_records[scene]
    rows = [i for i, r in enumerate(records) if (r["category"], r["seed"]) == (wanted["category"], wanted["seed"])]
    if not rows:
        raise ValueError(f"the nearest scene {wanted['caption']!r} is not in the dataset {dataset}")
    return MLPNeRF(config.mlp, num_objects=None).with_params(params[rows[0] : rows[0] + 1]).to(pipe.device)
