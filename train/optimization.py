"""The update step the toy-model trainers share (their learning-rate schedule is diffusers'
`get_cosine_schedule_with_warmup`, as for every trainer here)."""

from __future__ import annotations

import torch


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
