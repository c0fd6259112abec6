"""Any OpenCLIP model from a source: "toy" (the bundled toy CLIP), a local folder in open_clip's Hub
layout or a Hub repo id (downloaded by `hub.source`, with its clear errors), then created by open_clip
itself (`create_model_and_transforms`) as a local folder. PIL's image and text embeddings, the toy
diffusion model's text encoder and the evaluations' R-precision all come from here.
"""

from __future__ import annotations

from pathlib import Path

import open_clip
import torch
from torch import nn

from hub.source import model_folder
from toyworld.clip import BUNDLED, CONFIG_FILE


def clip_source(source: str | Path) -> str:
    """open_clip model name for "toy" (the bundled checkpoint), a local folder, or a Hub repo id (downloaded
    by `hub.source`, with its clear errors, then read by open_clip as a local folder)."""
    folder = model_folder(source, BUNDLED)
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"CLIP source {source!r} holds no open_clip model ({CONFIG_FILE})")
    return f"local-dir:{folder}"


def load_clip(source: str | Path = "toy", device: str | torch.device = "cpu") -> tuple[nn.Module, nn.Module, object]:
    """(model in eval mode, image preprocess, tokenizer) of a trained CLIP from `clip_source(source)`."""
    name = clip_source(source)
    model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    return model.eval(), preprocess, open_clip.get_tokenizer(name)
