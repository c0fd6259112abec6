"""Shared pieces of the benchmarks: a realistic trained field, a timer and a table printer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from hub.model_card import machine
from nerf.analytic import demo_field
from nerf.field import HashGridField, HashGridFieldConfig
from nerf.fit import fit_field


def trained_field(device: str = "cpu", steps: int = 200) -> HashGridField:
    """The default toy-size hash-grid field (8 levels, T = 2^12, 2 features) fitted to the demo object.

    Timings of export and rendering depend on how much surface a field has, so benchmarks use a
    trained field, not a random one.
    """
    torch.manual_seed(0)
    field = HashGridField(HashGridFieldConfig()).to(device)
    fit_field(field, demo_field(), steps=steps, points_per_step=8192, progress=False)
    return field.eval()


def seconds(function: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of `function` over `repeat` runs (after `warmup` runs), synchronising CUDA."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A Markdown table, ready to paste into docs/BENCHMARKS.md."""
    print(f"\n### {title}\n\nMachine: {machine()}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{v:,.3g}" if isinstance(v, float) else str(v) for v in row) + " |")
