"""Text embeddings cached on disk, keyed by model and prompt: an amortized model trains on thousands
of prompts (× view suffixes), and a large text encoder (T5-XXL) should run once per prompt, ever.

One safetensors file per (model, prompt) under `<root>/<model key>/`; the prompt is stored in the
file's metadata and checked on read, so a hash collision can never return another prompt's embedding.
Writes are atomic (temporary file, then rename), so concurrent runs can share a cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from nerf.files import atomic_path

ENV_VARIABLE = "AMORTIZED3D_CACHE"


def default_cache_root() -> Path:
    """`$AMORTIZED3D_CACHE/text-embeddings`, else `~/.cache/amortized3d/text-embeddings`."""
    root = os.environ.get(ENV_VARIABLE)
    return (Path(root) if root else Path.home() / ".cache" / "amortized3d") / "text-embeddings"


@torch.no_grad()
def model_key(name: str, encoder: nn.Module) -> str:
    """A key that changes when the text encoder's weights do: its name, its config and a checksum of
    its parameters (so retraining a model into the same folder never serves stale embeddings)."""
    sums = torch.stack([p.detach().double().abs().sum() for p in encoder.parameters()]).cpu().tolist()
    config = getattr(encoder, "config", None)
    config_json = config.to_json_string() if hasattr(config, "to_json_string") else ""
    return _key(name, json.dumps([name, config_json, sums]).encode())


def files_key(name: str, files: list[Path]) -> str:
    """A key that changes when a model's files do: its name and a checksum of the files' bytes. It is known
    before the model is loaded, so a cached prompt needs neither the model nor its library (the toy CLIP's
    open_clip takes longer to import than an object takes to make)."""
    digest = hashlib.sha256(name.encode())
    for file in files:
        digest.update(Path(file).read_bytes())
    return _key(name, digest.digest())


def _key(name: str, payload: bytes) -> str:
    safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-48:]
    return f"{safe_name}-{hashlib.sha256(payload).hexdigest()[:16]}"


class EmbeddingCache:
    """Embeddings of prompts for one model: in memory for this process, on disk across processes."""

    def __init__(self, key: str, root: Path | None = None, enabled: bool = True) -> None:
        self.folder = (root or default_cache_root()) / key
        self.enabled = enabled
        self.memory: dict[str, dict[str, Tensor]] = {}

    def path(self, prompt: str) -> Path:
        return self.folder / f"{hashlib.sha256(prompt.encode()).hexdigest()[:32]}.safetensors"

    def get(self, prompt: str) -> dict[str, Tensor] | None:
        if prompt in self.memory:
            return self.memory[prompt]
        path = self.path(prompt)
        if not self.enabled or not path.exists():
            return None
        with safe_open(path, framework="pt") as file:
            if file.metadata().get("prompt") != prompt:
                return None
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (safe_open is no dict)
        self.memory[prompt] = tensors
        return tensors

    def put(self, prompt: str, tensors: dict[str, Tensor]) -> None:
        tensors = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
        self.memory[prompt] = tensors
        if not self.enabled:
            return
        with atomic_path(self.path(prompt)) as partial:
            save_file(tensors, partial, metadata={"prompt": prompt})
