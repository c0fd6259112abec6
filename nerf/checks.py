"""Boundary checks shared by the 3D core: each raises a ValueError that says what was wrong and
what is allowed, so a caller's mistake is reported where it enters, not deep inside a kernel."""

from __future__ import annotations

import torch
from torch import Tensor


def check_float_tensor(value: object, name: str, last_dim: int | None = None, ndim: int | None = None) -> Tensor:
    """A floating-point tensor, optionally with a given rank and last dimension, and no NaN or inf."""
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (float16/32/64 or bfloat16), got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if last_dim is not None and (value.ndim == 0 or value.shape[-1] != last_dim):
        raise ValueError(f"{name} must have last dimension {last_dim}, got shape {tuple(value.shape)}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or inf; all values must be finite")
    return value


def check_int_range(value: object, name: str, low: int, high: int) -> int:
    """An integer in [low, high] (bools are rejected: `True` is not a resolution)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be {low}..{high}, got {value}")
    return value


def check_range(value: object, name: str, low: float, high: float) -> float:
    """A finite real number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")
    value = float(value)
    if not low <= value <= high:  # also rejects NaN
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """One of a fixed set of strings."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value  # type: ignore[return-value]


def check_alpha(alpha: object) -> float:
    """An interpolation weight α in [0, 1] (0: the first prompt, 1: the second), the one check every
    interpolation here makes (ATT3D's, PIL's, the app's slider)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1] (0: the first prompt, 1: the second), got {alpha!r}")
    return float(alpha)
