"""Evaluating a batched function only where a mask says so: each object's selected points are packed
to the front of its row, padded to the busiest object's count, evaluated in one call, and scattered
back. Empty-space skipping, normals only where they show, and coarse-to-fine export all use it."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def pack_rows(mask: Tensor) -> tuple[Tensor, Tensor]:
    """For a mask `[B, N]`: indices `[B, M]` of each row's selected entries, then `valid [B, M]`.

    M is the most entries selected in any row (at least 1). Shorter rows are padded with distinct
    indices of entries they did not select (so a scatter back through them cannot overwrite a
    selected entry), marked not valid.
    """
    count = max(1, int(mask.sum(dim=1).max()))
    rows = []
    for row in mask:
        selected = row.nonzero().squeeze(1)
        padding = (~row).nonzero().squeeze(1)[: count - len(selected)]
        rows.append(torch.cat((selected, padding)))
    indices = torch.stack(rows)
    return indices, torch.gather(mask, 1, indices)


def evaluate_where(
    mask: Tensor, points: Tensor, function: Callable[[Tensor], tuple[Tensor, ...]]
) -> tuple[Tensor, ...]:
    """`function` of points `[B, N, D]`, evaluated only where `mask [B, N]`: each of its outputs
    `[B, N, ...]` is zero wherever the mask is False. Gradients reach the evaluated entries."""
    indices, valid = pack_rows(mask)
    packed = torch.gather(points, 1, indices.unsqueeze(-1).expand(-1, -1, points.shape[-1]))
    results = []
    for output in function(packed):
        trailing = output.shape[2:]
        keep = valid.view(*valid.shape, *(1,) * len(trailing)).to(output.dtype)
        spread = indices.view(*indices.shape, *(1,) * len(trailing)).expand(-1, -1, *trailing)
        results.append(output.new_zeros(*mask.shape, *trailing).scatter(1, spread, output * keep))
    return tuple(results)
