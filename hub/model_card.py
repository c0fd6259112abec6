"""Model cards: the README.md of a model folder (Hub layout), with YAML front matter for the Hub,
the command that made the model, and what it measured."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path


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
    front = ["---", f"library_name: {library}", "license: apache-2.0", "tags:", *[f"- {t}" for t in tags], "---"]
    lines = [*front, "", f"# {title}", "", summary, "", "## Recipe", "", "```bash", recipe, "```", "",
             "## Measured", "", "```json", json.dumps(metrics, indent=2), "```"]  # fmt: skip
    if notes:
        lines += ["", "## Notes", "", notes]
    path = Path(folder) / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _module() -> str:
    """The `python -m` module name of the running script (train/toy_clip.py → train.toy_clip)."""
    main = Path(sys.argv[0]).resolve()
    parts = main.with_suffix("").parts
    return ".".join(parts[parts.index("train") :]) if "train" in parts else main.stem
