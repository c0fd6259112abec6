"""The models the app serves, loaded once, on first use, from the bundled toy checkpoints or from the
sources the deployer picks (`--att3d`, `--pil`, `--guidance`, or the `AMORTIZED3D_*` environment
variables): a Hub repo id or a local folder each."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch

from att3d.generate import ATT3DPipeline
from guidance import Guidance, TextEncoder, load_guidance, load_text_encoder
from pil.generate import PILPipeline
from toyworld.prompts import toy64

T = TypeVar("T")
ENVIRONMENT = {"att3d": "AMORTIZED3D_ATT3D", "pil": "AMORTIZED3D_PIL", "guidance": "AMORTIZED3D_GUIDANCE"}


@dataclass(frozen=True)
class ModelSources:
    att3d: str = "toy"
    pil: str = "toy"
    guidance: str = "toy"  # the diffusion model of the warm-start tab's DreamFusion

    @classmethod
    def from_environment(cls) -> ModelSources:
        return cls(**{name: os.environ.get(variable, "toy") for name, variable in ENVIRONMENT.items()})


class Models:
    """Lazily loaded, shared pipelines. Loading is serialized (two first requests load once) and a
    failure is not cached, so a fixed network lets the next request succeed. Tabs whose models use the
    same text encoder source share one text encoder (with Stable Diffusion: one CLIP text model, not two)."""

    def __init__(self, sources: ModelSources = ModelSources(), device: str | None = None) -> None:
        self.sources = sources
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._loaded: dict[str, object] = {}
        self._lock = threading.RLock()  # re-entrant: loading a pipeline loads its text encoder

    def _get(self, name: str, load: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load()
            return self._loaded[name]  # type: ignore[return-value]

    def text_encoder(self, source: str) -> TextEncoder:
        return self._get(f"text_encoder:{source}", lambda: load_text_encoder(source, device=self.device))

    def att3d(self) -> ATT3DPipeline:
        return self._get("att3d", lambda: ATT3DPipeline.from_pretrained(self.sources.att3d, self.device,
                                                                        text_encoders=self.text_encoder))  # fmt: skip

    def pil(self) -> PILPipeline:
        return self._get("pil", lambda: PILPipeline.from_pretrained(self.sources.pil, self.device))

    def guidance(self) -> Guidance:
        source = self.sources.guidance
        return self._get("guidance", lambda: load_guidance(source, device=self.device,
                                                           text_encoder=self.text_encoder(source)))  # fmt: skip

    def training_prompts(self) -> list[str]:
        """The ATT3D model's training prompts: every model `train.att3d` writes keeps them in its config; the
        bundled model of before keeps none, and was trained on its world ("a {colour} {shape}"); else none."""
        trained = list(self.att3d().model.config.training_prompts)
        if not trained and self.sources.att3d == "toy":
            return [prompt.text for prompt in toy64().prompts]
        return trained

    def example_prompts(self) -> list[str]:
        """Prompts for the random-prompt button: the ATT3D model's training prompts, else a few simple ones."""
        return self.training_prompts() or ["a red cube", "a green torus", "a blue star"]
