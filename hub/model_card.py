"""Model cards: the README.md of a model folder (Hub layout), with YAML front matter for the Hub,
the command that made the model, and what it measured."""

from __future__ import annotations

import json
import platform
import shlex
import sys
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData


def write_model_card(
    folder: Path,
    title: str,
    summary: str,
    metrics: dict,
    library: str,
    tags: tuple[str, ...] = (),
    command: list[str] | str | None = None,
    notes: str = "",
) -> Path:
    """Write `folder/README.md`. `command` (the recipe: an argument list, or a shell line such as several
    commands joined by `&&`) defaults to this process's own command line."""
    command = command if command is not None else [Path(sys.executable).name, "-m", _module(), *sys.argv[1:]]
    recipe = command if isinstance(command, str) else shlex.join(command)
    data = ModelCardData(library_name=library, license="apache-2.0", tags=list(tags))
    body = [f"# {title}", "", summary, "", "## Recipe", "", "```bash", recipe, "```", "",
            "## Measured", "", "```json", json.dumps(metrics, indent=2), "```"]  # fmt: skip
    if notes:
        body += ["", "## Notes", "", notes]
    card = ModelCard("\n".join(["---", data.to_yaml(), "---", "", *body]) + "\n")
    path = Path(folder) / "README.md"
    card.save(path)
    return path


def machine(device: torch.device | str | None = None) -> str:
    """Where this process computes, in words, as a card or a benchmark says it: the GPU's name, or the CPU
    and its thread count (each with torch's version). `device`: the one in use (default: CUDA when present)."""
    device = torch.device(device if device is not None else "cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    processor = platform.processor() or platform.machine()
    return f"CPU ({processor}), {torch.get_num_threads()} threads (torch {torch.__version__})"


def _module() -> str:
    """The `python -m` module name of the running script (e.g. train.toy_clip), else the script's name."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem
