"""Random draws for a batch whose rows may each have their own generator.

A training step that is split across processes must draw, for every object, the same numbers as the
unsplit step: give each object its own `torch.Generator` (seeded from the step and the object's place
in the global batch) and row b is drawn from generator b, whichever process holds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

Generators = torch.Generator | Sequence[torch.Generator] | None


def _draw(draw: Callable[..., Tensor], shape: tuple[int, ...], generator: Generators) -> Tensor:
    if generator is None or isinstance(generator, torch.Generator):
        return draw(shape, generator=generator)
    if len(generator) != shape[0]:
        raise ValueError(f"need one generator per row: {len(generator)} generators for {shape[0]} rows")
    return torch.stack([draw(shape[1:], generator=g) for g in generator]) if shape[0] else draw(shape)


def rand(*shape: int, generator: Generators = None) -> Tensor:
    """Uniform [0, 1) `[*shape]` on the CPU; row b from `generator[b]` when given one per row."""
    return _draw(torch.rand, shape, generator)


def randn(*shape: int, generator: Generators = None) -> Tensor:
    """Standard normal `[*shape]` on the CPU; row b from `generator[b]` when given one per row."""
    return _draw(torch.randn, shape, generator)


def randint(low: int, high: int, batch: int, generator: Generators = None) -> Tensor:
    """Integers `[batch]` uniform in [low, high); row b from `generator[b]` when given one per row."""
    return _draw(lambda shape, generator: torch.randint(low, high, shape, generator=generator), (batch,), generator)


def derived_seed(seed: int, index: int) -> int:
    """A seed for item `index` (a step, a sample, an object) of a run seeded with `seed`: distinct for
    every (seed, index) pair a run meets, so each item's draws depend on the pair alone (resumable)."""
    return seed * 1_000_003 + index


def object_generators(seed: int, indices: Sequence[int]) -> list[torch.Generator]:
    """One generator per object, seeded by `seed` and the object's index in the global batch."""
    return [torch.Generator().manual_seed(derived_seed(seed, index)) for index in indices]
