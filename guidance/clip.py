"""Any OpenCLIP model from a source: "toy" (the bundled toy CLIP), a local folder in open_clip's Hub
layout or a Hub repo id (downloaded by `hub.source`, with its clear errors), then created by open_clip
itself (`create_model_and_transforms`) as a local folder. PIL's image and text embeddings, the toy
diffusion model's text encoder and the evaluations' R-precision all come from here.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hub.source import model_folder
from toyworld.clip import BUNDLED, CONFIG_FILE


def clip_folder(source: str | Path) -> Path:
    """The local folder of "toy" (the bundled checkpoint), a local folder, or a Hub repo id (downloaded by
    `hub.source`, with its clear errors), checked to hold an open_clip model."""
    folder = model_folder(source, BUNDLED)
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(f"CLIP source {source!r} holds no open_clip model ({CONFIG_FILE})")
    return folder


def clip_source(source: str | Path) -> str:
    """open_clip model name of `clip_folder(source)` (read by open_clip as a local folder)."""
    return f"local-dir:{clip_folder(source)}"


def load_clip(source: str | Path = "toy", device: str | torch.device = "cpu") -> tuple[nn.Module, nn.Module, object]:
    """(model in eval mode, image preprocess, tokenizer) of a trained CLIP from `clip_source(source)`."""
    import open_clip  # here, not at start-up: about 3 s to import, and a cached text embedding needs none

    name = clip_source(source)
    model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    return model.eval(), preprocess, open_clip.get_tokenizer(name)
