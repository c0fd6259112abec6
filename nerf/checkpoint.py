"""Resumable training state on disk, without pickles: model and optimizer tensors in safetensors,
everything else (step, hyperparameters, the learning-rate schedule's own state, RNG states) in JSON.
Every trainer resumes through `save_training_state` / `load_training_state`, so a killed and resumed
run makes the same updates as an unbroken one. Written to a temporary folder and
renamed into place, so a run killed at any moment (even by SIGKILL) leaves the last whole checkpoint.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

STATE_FILE, TENSORS_FILE = "state.json", "tensors.safetensors"


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state → (tensors keyed "optimizer.<param>.<name>", the JSON-able rest)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{index}.{name}"] = value.cpu().contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for key, value in rest["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


Schedule = torch.optim.lr_scheduler.LRScheduler


def save_training_state(
    folder: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    extra: dict | None = None,
    schedule: Schedule | None = None,
) -> None:
    """Atomically write `folder` with the model, the optimizer, the step, torch's RNG state, the
    learning-rate schedule's `state_dict` (when the run has one) and `extra`."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_tensors, optimizer_rest = _flatten_optimizer(optimizer)
    tensors.update(optimizer_tensors)
    tensors["rng.cpu"] = torch.get_rng_state()
    save_file(tensors, partial / TENSORS_FILE)
    state = {"step": step, "optimizer": optimizer_rest, "extra": extra or {}}
    if schedule is not None:
        state["schedule"] = schedule.state_dict()
    (partial / STATE_FILE).write_text(json.dumps(state, indent=1))
    previous = folder.with_name(folder.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if folder.exists():
        folder.rename(previous)
    partial.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)


def load_training_state(
    folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule | None = None
) -> tuple[int, dict]:
    """Restore model, optimizer, RNG and (when given) the learning-rate schedule from `folder`; returns
    (step, extra). A checkpoint written without a schedule (per-prompt DreamFusion's, before its step was
    shared with ATT3D) gets the given schedule stepped to its step. Falls back to the `.previous` copy if a
    crash hit between the two renames of `save_training_state`."""
    folder = Path(folder)
    if not (folder / STATE_FILE).exists() and folder.with_name(folder.name + ".previous").exists():
        folder = folder.with_name(folder.name + ".previous")
    tensors = load_file(folder / TENSORS_FILE)
    state = json.loads((folder / STATE_FILE).read_text())
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
    torch.set_rng_state(tensors["rng.cpu"])
    if schedule is not None and "schedule" in state:
        schedule.load_state_dict(state["schedule"])
    elif schedule is not None:  # written by a run without a schedule object (per-prompt DreamFusion until
        # 2026-12): a schedule is a function of the step alone, so stepping a fresh one there restores it
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
            for _ in range(state["step"]):
                schedule.step()
    return state["step"], state["extra"]


def has_training_state(folder: Path) -> bool:
    folder = Path(folder)
    return (folder / STATE_FILE).exists() or (folder.with_name(folder.name + ".previous") / STATE_FILE).exists()


def resume(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule | None = None) -> int:
    """The step a run continues from: 0 for a new run, else the checkpoint's, with the model, optimizer,
    RNG and learning-rate schedule restored to it."""
    if not has_training_state(folder):
        return 0
    step, _ = load_training_state(folder, model, optimizer, schedule)
    print(f"resumed at step {step}")
    return step
