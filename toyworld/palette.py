"""The toy world's colours: names, RGB albedos, and the nearest palette colour of a measured RGB.

Eight well separated hues. Rendered colours are albedo times shading, so a measured colour is
matched by direction in RGB space (brightness-invariant), not by raw distance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.1, 0.1),
    "orange": (0.95, 0.5, 0.08),
    "yellow": (0.92, 0.85, 0.1),
    "green": (0.15, 0.7, 0.2),
    "cyan": (0.1, 0.75, 0.8),
    "blue": (0.12, 0.25, 0.9),
    "purple": (0.55, 0.18, 0.8),
    "pink": (0.95, 0.45, 0.7),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)


def nearest_colour(rgb: Tensor) -> list[str]:
    """Names of the palette colours nearest in direction (chromaticity) to RGB values `[N, 3]`."""
    palette = F.normalize(torch.tensor(list(COLOURS.values()), dtype=rgb.dtype, device=rgb.device), dim=-1)
    return [COLOUR_NAMES[i] for i in (F.normalize(rgb, dim=-1) @ palette.T).argmax(dim=-1).tolist()]
