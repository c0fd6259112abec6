"""Score distillation guidance behind one interface (`Guidance.sds_loss`), with three backends:
the toy world's pixel-space model, Stable Diffusion (latent) and DeepFloyd IF stage I (pixel).

    guidance = load_guidance("toy")                       # the bundled toy model
    guidance = load_guidance("stable-diffusion-v1-5/stable-diffusion-v1-5")
    guidance = load_guidance("DeepFloyd/IF-I-XL-v1.0", variant="fp16")
    output = guidance.sds_loss(images, prompts, cameras, SDSConfig(guidance.default_guidance_scale))
    output.loss.backward()

    text_encoder = load_text_encoder("toy")               # the text encoder alone (what ATT3D needs)
    guidance = load_guidance("toy", text_encoder=text_encoder)   # ... shared with a backend
"""

from __future__ import annotations

import json
from pathlib import Path

from guidance.base import Guidance
from guidance.sds import SDSConfig, SDSOutput, TimestepSchedule
from guidance.text_encoder import TextEmbedding, TextEncoder, load_text_encoder
from hub.source import model_markers

__all__ = [
    "Guidance", "SDSConfig", "SDSOutput", "TextEmbedding", "TextEncoder", "TimestepSchedule", "load_guidance",
    "load_text_encoder", "pipeline_class",
]  # fmt: skip


def pipeline_class(source: str | Path) -> str:
    """The `_class_name` in a diffusers folder's or Hub repo's `model_index.json`, or "toy" for the toy
    model's folder (`unet/` and `scheduler/` without a model index) and for "toy" itself."""
    if str(source) == "toy":
        return "toy"
    folder, markers = model_markers(source)
    if "model_index.json" in markers:
        return json.loads((folder / "model_index.json").read_text())["_class_name"]
    if "unet/config.json" in markers:
        return "toy"
    raise ValueError(f"{source} is neither a diffusers pipeline (model_index.json) nor a toy model (unet/)")


def load_guidance(source: str | Path = "toy", **options) -> Guidance:
    """The SDS backend for `source`: "toy", a local folder or a Hub repo id; the kind (toy, Stable
    Diffusion, DeepFloyd IF) is read from the model itself. `options` go to the backend (device, dtype,
    variant, cache_root, use_cache, text_encoder (one already loaded, to share it); `clip` for the
    toy one)."""
    kind = pipeline_class(source)
    if kind == "toy":
        from guidance.toy import ToyGuidance

        return ToyGuidance(source, **options)
    if kind == "StableDiffusionPipeline":
        from guidance.stable_diffusion import StableDiffusionGuidance

        return StableDiffusionGuidance(source, **options)
    if kind == "IFPipeline":
        from guidance.deepfloyd import DeepFloydIFGuidance

        return DeepFloydIFGuidance(source, **options)
    raise ValueError(f"{source}: a {kind} is not supported; use the toy model, Stable Diffusion 1.x/2.x or IF stage I")
