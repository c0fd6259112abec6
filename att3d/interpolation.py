"""Interpolants: ATT3D amortizes over mixtures of prompts, feeding the mapping network (and the
diffusion model) `(1-α)c1 + αc2` for prompt pairs (c1, c2). α's distribution is a choice: "binary"
(α = 0: plain prompts, no interpolants) or "dirichlet" (α ~ Dirichlet(κ, κ), i.e. Beta(κ, κ): κ = 1 is
uniform, κ < 1 favours the ends, κ > 1 the middle; the paper's App. Fig. 19). The blend itself is
`nerf/interpolation.py::interpolate`, the one every method uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

InterpolantKind = Literal["binary", "dirichlet"]


@dataclass(frozen=True)
class InterpolantSampling:
    kind: InterpolantKind = "binary"
    concentration: float = 1.0  # κ of Dirichlet(κ, κ)

    def __post_init__(self) -> None:
        if self.kind not in ("binary", "dirichlet"):
            raise ValueError(f"interpolants must be 'binary' or 'dirichlet', got {self.kind!r}")
        if self.concentration <= 0:
            raise ValueError(f"the Dirichlet concentration must be > 0, got {self.concentration}")


def sample_interpolants(
    rng: np.random.Generator,
    batch: int,
    num_prompts: int,
    sampling: InterpolantSampling,
    probabilities: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prompt indices `first [B]`, `second [B]` and weights `alpha [B]` of a training batch; prompts drawn
    uniformly, or by `probabilities [num_prompts]` where given."""

    def draw() -> np.ndarray:
        if probabilities is None:
            return rng.integers(num_prompts, size=batch)
        return rng.choice(num_prompts, size=batch, p=probabilities)

    first = draw()
    if sampling.kind == "binary":
        return first, first, np.zeros(batch)
    second = draw()
    return first, second, rng.beta(sampling.concentration, sampling.concentration, size=batch)
