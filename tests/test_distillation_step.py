"""The score-distillation step that DreamFusion and ATT3D share (`distillation/step.py`): its schedules are
diffusers' own, clipping bounds the gradient, a checkpoint resumes exactly (one written before runs kept
a schedule too), Accelerate and plain PyTorch update alike, and each method's defaults are the optimiser
it always had."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from diffusers.optimization import get_cosine_schedule_with_warmup

from att3d.training import ATT3DTrainConfig
from distillation.step import SDSRunSettings, SDSUpdate
from dreamfusion import DreamFusionConfig
from nerf.checkpoint import save_training_state


def model() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def loss_at(net: torch.nn.Module, step: int) -> torch.Tensor:
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(step))
    return (net(x) - x.sum(1, keepdim=True)).square().mean() * 100


def train(
    settings: SDSRunSettings, steps: int, total: int, folder: Path | None = None, accelerator: Accelerator | None = None
) -> tuple[SDSUpdate, list]:
    """`steps` updates of a fresh model (resumed from `folder` when it holds a checkpoint); the lr of each."""
    update = SDSUpdate(settings, model(), 0.05, total, accelerator)
    start = update.resume(folder)[0] if folder is not None else 0
    rates = []
    for step in range(start, steps):
        update.update(loss_at(update.wrapped, step))
        rates.append(update.lr)
    if folder is not None:
        update.save(folder, steps)
    return update, rates


def test_each_method_keeps_its_optimiser() -> None:
    dreamfusion, att3d = DreamFusionConfig(), ATT3DTrainConfig()
    assert (dreamfusion.beta1, dreamfusion.lr_schedule, dreamfusion.warmup, dreamfusion.grad_clip) == (
        0.9, "constant", 0, None)  # fmt: skip
    assert (att3d.beta1, att3d.lr_schedule, att3d.warmup, att3d.grad_clip) == (0.0, "cosine", 50, 1.0)


def test_the_schedule_is_diffusers_cosine_with_warmup() -> None:
    settings = SDSRunSettings(lr_schedule="cosine", warmup=3)
    rates = train(settings, 12, 12)[1]
    reference = torch.optim.SGD(model().parameters(), lr=0.05)
    schedule = get_cosine_schedule_with_warmup(reference, 3, 12)
    expected = []
    for _ in range(12):
        reference.step()
        schedule.step()
        expected.append(schedule.get_last_lr()[0])
    assert rates == pytest.approx(expected, rel=1e-12)
    assert train(SDSRunSettings(), 5, 5)[1] == [0.05] * 5  # DreamFusion's: constant


def test_clipping_bounds_the_gradient_norm() -> None:
    clipped = train(SDSRunSettings(grad_clip=0.01), 1, 1)[0]
    unclipped = train(SDSRunSettings(), 1, 1)[0]
    norm = lambda net: torch.cat([p.grad.flatten() for p in net.parameters()]).norm().item()  # noqa: E731
    assert norm(unclipped.model) > 0.1
    assert norm(clipped.model) == pytest.approx(0.01, rel=1e-4)


def test_accelerate_and_plain_pytorch_make_the_same_updates() -> None:
    """ATT3D steps through Accelerate, DreamFusion without it (no process-wide state): one process, one result."""
    settings = SDSRunSettings(lr_schedule="cosine", warmup=2, grad_clip=0.5)
    plain = train(settings, 6, 6)[0]
    accelerated = train(settings, 6, 6, accelerator=Accelerator(cpu=True))[0]
    assert accelerated.accelerator is not None and plain.accelerator is None
    for a, b in zip(plain.model.parameters(), accelerated.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resumed_run_is_the_unbroken_run(tmp_path: Path) -> None:
    settings = SDSRunSettings(lr_schedule="cosine", warmup=2, grad_clip=0.5)
    unbroken = train(settings, 10, 10)[0]
    train(settings, 4, 10, tmp_path / "checkpoint")
    resumed, rates = train(settings, 10, 10, tmp_path / "checkpoint")
    assert len(rates) == 6
    for a, b in zip(unbroken.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_without_a_schedule_resumes_it(tmp_path: Path) -> None:
    """Per-prompt DreamFusion saved no schedule before the step was shared: its runs resume all the same."""
    settings = SDSRunSettings(lr_schedule="cosine", warmup=2)
    unbroken = train(settings, 9, 9)[0]
    first = train(settings, 5, 9)[0]
    save_training_state(tmp_path / "old", first.model, first.optimizer, 5)  # no schedule, as it used to be
    resumed, rates = train(settings, 9, 9, tmp_path / "old")
    assert rates[0] == unbroken.schedule.base_lrs[0] * unbroken.schedule.lr_lambdas[0](6)
    for a, b in zip(unbroken.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"lr_schedule": "exponential"}, "lr_schedule must be one of"),
        ({"warmup": 5}, "0 with the constant"),
        ({"grad_clip": 0.0}, "grad_clip must be > 0"),
        ({"beta1": 1.0}, "beta1"),
    ],
)
def test_bad_optimiser_settings_are_refused_by_name(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SDSRunSettings(**change)
