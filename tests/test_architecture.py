"""docs/ARCHITECTURE.md names each data path by `file.py::name`: every one of them must exist, so the page
cannot drift from the code unnoticed."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"`([\w/]+)\.py::([\w.]+)`")


def references() -> list[tuple[str, str]]:
    return sorted(set(REFERENCE.findall((ROOT / "docs" / "ARCHITECTURE.md").read_text())))


def test_the_page_names_the_data_paths() -> None:
    named = {f"{path}::{name}" for path, name in references()}
    assert len(named) >= 40
    for step in ("att3d/generate::ATT3DPipeline.embed", "pil/aligner::Aligner.generate", "att3d/training::Trainer.step",
                 "distillation/step::SDSUpdate.update", "hub/push::push_folder",
                 "nerf/export::export_rendered_surface"):  # fmt: skip
        assert step in named


@pytest.mark.parametrize(("path", "name"), references())
def test_every_named_function_exists(path: str, name: str) -> None:
    assert (ROOT / f"{path}.py").exists(), f"{path}.py is gone"
    target = importlib.import_module(path.replace("/", "."))
    for part in name.split("."):
        assert hasattr(target, part), f"{path}.py has no {name}"
        target = getattr(target, part)
    assert callable(target), f"{path}.py::{name} is not a function or class"
