"""A run killed right after it wrote a checkpoint, for the trainers' resume tests: the trainer's own
`save_training_state` writes the checkpoint, then the run dies, as under SIGKILL."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors.torch import load_file

from nerf.checkpoint import STATE_FILE, TENSORS_FILE


class Killed(Exception):
    """The run died here."""


def kill_after_checkpoint(monkeypatch: pytest.MonkeyPatch, trainer: ModuleType, step: int) -> None:
    """Make `trainer`'s runs die just after writing the checkpoint of `step` (the next call is unaffected
    once `monkeypatch.undo()` ran)."""
    write = trainer.save_training_state

    def write_then_die(folder, model, optimizer, at, *args, **kwargs):
        write(folder, model, optimizer, at, *args, **kwargs)
        if at == step:
            raise Killed(f"killed after the checkpoint of step {step}")

    monkeypatch.setattr(trainer, "save_training_state", write_then_die)


def assert_same_training_state(unbroken: Path, resumed: Path) -> None:
    """Both checkpoints hold bitwise the same weights, optimizer moments and RNG, and the same schedule."""
    expected, actual = load_file(unbroken / TENSORS_FILE), load_file(resumed / TENSORS_FILE)
    assert expected.keys() == actual.keys()
    different = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert not different, f"resumed run differs from the unbroken one in {different[:5]}"
    assert (unbroken / STATE_FILE).read_text() == (resumed / STATE_FILE).read_text()
