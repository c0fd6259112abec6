"""The toy CLIP: a small open_clip model (custom config, open_clip's own BPE tokenizer) trained on
toy-world renders and captions. It plays the internet-scale CLIP of the papers: PIL's image and text
embeddings, and the evaluation model for R-precision everywhere in the toy world.

A trained model is a folder in open_clip's Hub layout (`open_clip_config.json` + `open_clip_model.safetensors`),
loaded like any OpenCLIP checkpoint by `guidance.clip.load_clip` ("toy" is the bundled one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import Tensor, nn

NAME = "toy-clip"
# the model's definition, shipped as open_clip reads it: {"model_cfg": ..., "preprocess_cfg": ...}
CONFIG_FOLDER = Path(__file__).resolve().parent / "clip_config"
CONFIG_FILE = "open_clip_config.json"
PREPROCESS = json.loads((CONFIG_FOLDER / CONFIG_FILE).read_text())["preprocess_cfg"]
BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / NAME


def text_token_states(model: nn.Module, tokens: Tensor) -> Tensor:
    """Per-token hidden states `[B, L, width]` of the text tower after its final layer norm: what a
    diffusion model cross-attends to, as Stable Diffusion does with its CLIP text encoder's last layer."""
    x = model.token_embedding(tokens) + model.positional_embedding
    return model.ln_final(model.transformer(x, attn_mask=model.attn_mask))


def new_toy_clip(seed: int = 0) -> tuple[nn.Module, object]:
    """An untrained toy CLIP and its tokenizer, built by open_clip from the shipped config."""
    torch.manual_seed(seed)
    name = f"local-dir:{CONFIG_FOLDER}"
    import open_clip  # here, not at start-up: about 3 s to import

    model = open_clip.create_model(name, pretrained=None, load_weights=False, output_dict=True)
    return model, open_clip.get_tokenizer(name)


def save_clip(model: nn.Module, folder: Path, half: bool = True) -> Path:
    """Write a trained toy CLIP in open_clip's Hub layout (weights in fp16 unless `half` is False)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG_FOLDER / CONFIG_FILE, folder / CONFIG_FILE)
    dtype = torch.float16 if half else torch.float32
    state = model.state_dict()
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).detach().contiguous() for k, v in state.items()}
    save_file(tensors, folder / "open_clip_model.safetensors")
    return folder


# --- zero-shot retrieval: CLIP R-precision and R-probability -------------------------------------------
def normalise(images: Tensor) -> Tensor:
    """uint8 `[N, 3, H, W]` → the float input open_clip's preprocess would give (same mean and std)."""
    mean = torch.tensor(PREPROCESS["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(PREPROCESS["std"]).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


@torch.no_grad()
def retrieval_scores(
    model: torch.nn.Module,
    tokenizer,
    images: Tensor,
    prompts: list[str],
    candidates: list[str],
    text: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Zero-shot caption retrieval of uint8 images `[N, 3, H, W]` among `candidates` (distinct captions,
    which include each image's prompt): (hit `[N]`: its own caption is the most similar one; probability
    `[N]` that CLIP's softmax over the candidates gives its own caption). These are CLIP R-precision and
    R-probability per image. `text`: the candidates' unit text features, if the caller has them."""
    if text is None:
        text = text_features(model, tokenizer, candidates)
    index = {caption: i for i, caption in enumerate(candidates)}
    own = torch.tensor([index[p] for p in prompts])
    hits, probabilities = [], []
    for start in range(0, len(images), 256):
        features = model.encode_image(normalise(images[start : start + 256]), normalize=True)
        logits = model.logit_scale.exp() * features @ text.T
        target = own[start : start + 256]
        hits.append(logits.argmax(dim=1) == target)
        probabilities.append(logits.softmax(dim=1).gather(1, target[:, None])[:, 0])
    return torch.cat(hits), torch.cat(probabilities)


@torch.no_grad()
def text_features(model: torch.nn.Module, tokenizer, captions: list[str]) -> Tensor:
    """Unit text features `[N, E]` of captions."""
    return torch.cat([model.encode_text(tokenizer(captions[i : i + 512]), normalize=True)
                      for i in range(0, len(captions), 512)])  # fmt: skip


def retrieval_top1(
    model: torch.nn.Module, tokenizer, images: Tensor, prompts: list[str], candidates: list[str] | None = None
) -> float:
    """Zero-shot caption retrieval: the share of images whose most similar caption, among `candidates`
    (default: every distinct prompt given), is their own."""
    hits, _ = retrieval_scores(model, tokenizer, images, prompts, sorted(set(candidates or prompts)))
    return hits.float().mean().item()
