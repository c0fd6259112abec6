"""The pinned stack imports on this machine: the libraries later parts of the project load models with."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["torch", "torchvision", "diffusers", "transformers", "open_clip", "gradio", "trimesh"]
)
def test_library_imports(module: str) -> None:
    importlib.import_module(module)


def test_torchvision_operators_are_registered_with_this_torch() -> None:
    # a torch/torchvision mismatch shows as "operator torchvision::nms does not exist"
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.9]])
    assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
