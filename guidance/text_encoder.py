"""Text encoders, a component of their own: a tokenizer, a frozen text model and the on-disk cache of
their embeddings. A diffusion backend holds one; ATT3D's pipeline loads only this, never a U-Net.

    encoder = load_text_encoder("toy")                                     # the toy CLIP
    encoder = load_text_encoder("stable-diffusion-v1-5/stable-diffusion-v1-5")  # tokenizer/ + text_encoder/ only
    embedding = encoder.encode(["a red cube", "a blue sphere"])   # embedding.states: [2, L, W]
    encoder.save_pretrained("my-encoder")                        # load_text_encoder("my-encoder") reads it back

A text encoder's folder is the diffusers pipeline layout restricted to `tokenizer/` and
`text_encoder/` (so any Stable Diffusion or IF folder is one), or open_clip's layout for the toy CLIP.
The model class comes from `text_encoder/config.json` ("architectures"), as transformers records it.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import Tensor, nn

from guidance.cache import EmbeddingCache, files_key, model_key
from hub.source import model_folder, model_markers

# What diffusers' pipelines pad and truncate prompts to, per transformers text model class (None: the
# tokenizer's own). transformers itself is imported when such a model is loaded: it takes longer to
# import (about 1.7 s here) than the toy world takes to make an object.
TRANSFORMERS_ENCODERS: dict[str, int | None] = {
    "CLIPTextModel": None,  # Stable Diffusion 1.x / 2.x
    "T5EncoderModel": 77,  # DeepFloyd IF (IFPipeline's max length)
}
TOY_CLIP = "toy-clip"  # the kind of the toy world's open_clip text tower


@dataclass(frozen=True)
class TextEmbedding:
    """What a diffusion model (and ATT3D's mapping network) reads of a batch of B prompts."""

    states: Tensor  # [B, L, W] per-token hidden states, cross-attended by the U-Net
    pooled: Tensor | None = None  # [B, E] one unit vector per prompt (the toy CLIP's); None for SD and IF

    def __len__(self) -> int:
        return len(self.states)

    def apply(self, function: Callable[..., Tensor], *others: TextEmbedding) -> TextEmbedding:
        """`function` applied to each field (with the same field of `others`), e.g. an interpolation."""
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = None if value is None else function(value, *(getattr(o, item.name) for o in others))
        return TextEmbedding(**values)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> TextEmbedding:
        return self.apply(lambda t: t.to(device, dtype))

    def select(self, index: Tensor | slice | list[int]) -> TextEmbedding:
        """The embeddings of some prompts (an index may repeat them)."""
        return self.apply(lambda t: t[index])

    def cat(self, *others: TextEmbedding) -> TextEmbedding:
        return self.apply(lambda *ts: torch.cat(ts), *others)

    def tensors(self) -> dict[str, Tensor]:
        """The fields that are set, by name (what the on-disk cache stores)."""
        return {item.name: getattr(self, item.name) for item in fields(self) if getattr(self, item.name) is not None}


class TextEncoder(ABC):
    """Prompts → `TextEmbedding`, cached on disk by model and prompt (a large encoder runs once per
    prompt, ever). Subclasses set `model` (or load it when first asked for), `device`, `dtype` and `cache`
    (`init_cache` keys it by the loaded model's weights)."""

    model: nn.Module
    device: torch.device
    dtype: torch.dtype
    cache: EmbeddingCache

    def init_cache(self, name: str, cache_root: Path | None, use_cache: bool) -> None:
        self.model.eval().requires_grad_(False)
        self.cache = EmbeddingCache(model_key(name, self.model), cache_root, enabled=use_cache)

    @abstractmethod
    def encode_uncached(self, prompts: list[str]) -> TextEmbedding:
        """The embeddings of `prompts`, computed by the model."""

    @abstractmethod
    def save_pretrained(self, folder: str | Path) -> Path:
        """Write this encoder where `load_text_encoder(folder)` reads it back."""

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> TextEmbedding:
        """The embeddings of `prompts` on this encoder's device, from the cache when it can."""
        missing = [p for p in dict.fromkeys(prompts) if self.cache.get(p) is None]
        if missing:
            encoded = self.encode_uncached(missing).tensors()
            for index, prompt in enumerate(missing):
                self.cache.put(prompt, {name: value[index] for name, value in encoded.items()})
        entries = [self.cache.get(prompt) for prompt in prompts]
        stacked = {name: torch.stack([e[name] for e in entries]) for name in entries[0]}
        return TextEmbedding(**stacked).to(self.device, self.dtype)


class ToyCLIPTextEncoder(TextEncoder):
    """The toy CLIP's text tower (`source`: "toy", an open_clip folder or Hub repo): its per-token states
    after the final layer norm and its pooled, unit-length text embedding. The model (and open_clip, about
    3 s to import here) is loaded when a prompt is not in the cache, whose key comes from the model's files."""

    def __init__(
        self,
        source: str | Path = "toy",
        device: str | torch.device = "cpu",
        cache_root: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        from guidance.clip import clip_folder

        self.device, self.dtype = torch.device(device), torch.float32
        self.source, self._loaded, self._loading = source, None, threading.Lock()
        folder = clip_folder(source)
        key = files_key(f"toy-clip-{Path(str(source)).name}", sorted(folder.glob("open_clip_*")))
        self.cache = EmbeddingCache(key, cache_root, enabled=use_cache)

    @property
    def model(self) -> nn.Module:
        return self._load()[0]

    @property
    def tokenizer(self):
        return self._load()[1]

    def _load(self) -> tuple[nn.Module, object]:
        """(the open_clip model, frozen on this encoder's device, its tokenizer), loaded once, when first needed."""
        with self._loading:  # two of the app's requests for uncached prompts load it once
            if self._loaded is None:
                from guidance.clip import load_clip

                model, _, tokenizer = load_clip(self.source, self.device)
                self._loaded = model.eval().requires_grad_(False), tokenizer
        return self._loaded

    def encode_uncached(self, prompts: list[str]) -> TextEmbedding:
        from toyworld.diffusion import encode_captions

        text = encode_captions(self.model, lambda texts: self.tokenizer(texts).to(self.device), prompts)
        return TextEmbedding(text.states, text.pooled)

    def save_pretrained(self, folder: str | Path) -> Path:
        from toyworld.clip import save_clip

        return save_clip(self.model, Path(folder), half=False)


class TransformersTextEncoder(TextEncoder):
    """A pipeline's `tokenizer/` and `text_encoder/` (CLIP for Stable Diffusion, T5 for IF), frozen, in
    half precision on CUDA and float32 on the CPU; prompts padded as the diffusers pipeline pads them."""

    def __init__(
        self,
        source: str | Path,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        variant: str | None = None,
        cache_root: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        self.device, self.dtype = device_and_dtype(device, dtype)
        folder = model_folder(source, parts=("tokenizer", "text_encoder"), variant=variant)
        import transformers

        self.architecture = transformers_architecture(folder)
        self.max_length = TRANSFORMERS_ENCODERS[self.architecture]
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(folder, subfolder="tokenizer")
        model_class = getattr(transformers, self.architecture)
        self.model = model_class.from_pretrained(folder, subfolder="text_encoder", torch_dtype=self.dtype,
                                                 variant=variant).to(self.device)  # fmt: skip
        self.init_cache(f"{self.architecture}-{source}", cache_root, use_cache)

    def encode_uncached(self, prompts: list[str]) -> TextEmbedding:
        length = self.max_length or self.tokenizer.model_max_length
        tokens = self.tokenizer(prompts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        mask = tokens.attention_mask.to(self.device) if self.architecture == "T5EncoderModel" else None
        return TextEmbedding(self.model(tokens.input_ids.to(self.device), attention_mask=mask)[0])

    def save_pretrained(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder / "tokenizer")
        self.model.save_pretrained(folder / "text_encoder")
        return folder


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_and_dtype(device: str | torch.device | None, dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    """Where a pretrained model runs, and in what precision: CUDA when present, half precision on CUDA
    and float32 on the CPU, unless told otherwise."""
    device = torch.device(device) if device is not None else default_device()
    return device, dtype or (torch.float16 if device.type == "cuda" else torch.float32)


def transformers_architecture(folder: Path) -> str:
    """The text model class recorded in `folder/text_encoder/config.json`, if supported."""
    config = json.loads((folder / "text_encoder" / "config.json").read_text())
    architecture = (config.get("architectures") or [None])[0]
    if architecture not in TRANSFORMERS_ENCODERS:
        supported = ", ".join(TRANSFORMERS_ENCODERS)
        raise ValueError(f"{folder}: text_encoder/ holds a {architecture}; supported: {supported}")
    return architecture


def text_encoder_kind(source: str | Path) -> tuple[str, str | Path]:
    """(kind, the source to load it from): the toy CLIP for "toy", an open_clip folder or the toy
    diffusion model (whose captions the bundled toy CLIP encoded); else the class in `text_encoder/`."""
    if str(source) == "toy":
        return TOY_CLIP, "toy"
    folder, markers = model_markers(source)
    if "open_clip_config.json" in markers:
        return TOY_CLIP, source
    if "text_encoder/config.json" in markers:
        return transformers_architecture(folder), source
    if "unet/config.json" in markers:
        return TOY_CLIP, "toy"
    raise ValueError(
        f"{source} holds no text encoder: need text_encoder/ and tokenizer/ (a diffusers pipeline), "
        "an open_clip model (open_clip_config.json) or the toy diffusion model (unet/)"
    )


def load_text_encoder(
    source: str | Path = "toy",
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    variant: str | None = None,
    cache_root: Path | None = None,
    use_cache: bool = True,
) -> TextEncoder:
    """The text encoder of `source` ("toy", a folder or a Hub repo id of a diffusers pipeline, a text
    encoder saved by `save_pretrained`, or an open_clip model). Only the text parts are read."""
    kind, where = text_encoder_kind(source)
    if kind == TOY_CLIP:
        return ToyCLIPTextEncoder(where, device or default_device(), cache_root, use_cache)
    return TransformersTextEncoder(where, device, dtype, variant, cache_root, use_cache)
