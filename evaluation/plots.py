"""The evaluations' figures: matplotlib without a display (the Agg backend), each figure saved and closed the
same way."""

from __future__ import annotations

from pathlib import Path


def subplots(*args, **kwargs):
    """`matplotlib.pyplot.subplots` on the Agg backend (no display here, nor on CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(figure, path: Path, dpi: int = 120) -> Path:
    """Lay `figure` out, write it to `path` (its folder made) and free it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def label_axis(axis, xlabel: str, ylabel: str) -> None:
    """The line plots' common finish: axis labels, a light grid and the legend."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, alpha=0.3)
    axis.legend()
