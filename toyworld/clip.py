"""The toy CLIP: a small open_clip model (custom config, open_clip's own BPE tokenizer) trained on
toy-world renders and captions. It plays the internet-scale CLIP of the papers: PIL's image and text
embeddings, and the evaluation model for R-precision everywhere in the toy world.

A trained model is a folder in open_clip's Hub layout (`open_clip_config.json` + `open_clip_model.safetensors`),
loaded by open_clip itself from a local folder (`local-dir:`) or a Hub repo (`hf-hub:`), exactly as a
real OpenCLIP checkpoint is.
"""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file
from torch import nn

NAME = "toy-clip"
CONFIG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "layers": 4, "width": 192, "patch_size": 8, "head_width": 48},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 4, "layers": 4},
}
PREPROCESS = {"size": 64, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bilinear"}
BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / NAME


def model_source(source: str | Path) -> str:
    """open_clip model name for "toy" (the bundled checkpoint), a local folder, or a Hub repo id."""
    if str(source) == "toy":
        source = BUNDLED
    path = Path(source)
    if path.is_dir():
        return f"local-dir:{path}"
    if "/" in str(source) and not path.exists() and not str(source).startswith((".", "/")):
        return f"hf-hub:{source}"
    raise ValueError(f"CLIP source must be 'toy', a folder with open_clip_config.json, or a Hub repo id; got {source!r}")


def load_clip(source: str | Path = "toy", device: str | torch.device = "cpu") -> tuple[nn.Module, nn.Module, object]:
    """(model in eval mode, image preprocess, tokenizer) of a trained CLIP from `model_source(source)`."""
    name = model_source(source)
    model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
    return model.eval(), preprocess, open_clip.get_tokenizer(name)


def new_toy_clip(seed: int = 0) -> tuple[nn.Module, object]:
    """An untrained toy CLIP and its tokenizer, built from the config by open_clip."""
    torch.manual_seed(seed)
    model = open_clip.create_model(
        "local-dir:" + str(_config_folder()), pretrained=None, load_weights=False, output_dict=True
    )
    return model, open_clip.get_tokenizer("local-dir:" + str(_config_folder()))


def _config_folder() -> Path:
    """A folder holding only the toy config, so open_clip builds the model from it."""
    folder = Path(__file__).resolve().parent / "clip_config"
    folder.mkdir(exist_ok=True)
    path = folder / "open_clip_config.json"
    text = json.dumps({"model_cfg": CONFIG, "preprocess_cfg": PREPROCESS}, indent=2)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return folder


def save_clip(model: nn.Module, folder: Path, half: bool = True) -> Path:
    """Write a trained toy CLIP in open_clip's Hub layout (weights in fp16 unless `half` is False)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": CONFIG, "preprocess_cfg": PREPROCESS}, indent=2))
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}
    tensors |= {k: v.contiguous() for k, v in model.state_dict().items() if not v.is_floating_point()}
    save_file(tensors, folder / "open_clip_model.safetensors")
    return folder
