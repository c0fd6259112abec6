"""Learning-rate schedules shared by the training scripts."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, steps: int, warmup: int = 100) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over `warmup` steps, then cosine decay to zero at `steps`."""

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step / steps, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def optimizer_step(
    loss: torch.Tensor,
    parameters: list[torch.nn.Parameter],
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    max_norm: float = 1.0,
) -> None:
    """Backpropagate `loss`, clip the gradient norm to `max_norm`, step the optimizer and the schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    optimizer.step()
    schedule.step()
