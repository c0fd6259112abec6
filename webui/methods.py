"""The app's amortized methods as one table: what each makes from a prompt, along a path of prompts and as a
warm start, and which model source it runs. Each tab names them in its own words (`TEXT`, `PATH`, `START`
map a tab's labels to methods); everything below the label is the method's, found by `chosen`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from nerf.field import BoundField, RadianceField
from webui.cache import LRUCache
from webui.models import Models

PIL_STOPS: LRUCache[list] = LRUCache(64)  # a path's PIL generations, made once per path, not once per α


def legs(alphas: np.ndarray, stops: int) -> list[tuple[int, np.ndarray]]:
    """Path positions α ∈ [0, 1] as (leg k between stops k and k+1, local α on that leg), consecutive
    positions on the same leg grouped, in order (in any order of `alphas`)."""
    position = alphas * (stops - 1)
    leg = np.minimum(position.astype(int), stops - 2)
    runs = np.flatnonzero(np.diff(leg)) + 1
    return [(int(k[0]), p - k[0]) for k, p in zip(np.split(leg, runs), np.split(position, runs), strict=True)]


def att3d_field(models: Models, text: str) -> RadianceField:
    return models.att3d()(text).field.select(slice(0, 1))


def att3d_note(models: Models, text: str) -> str:
    unknown = models.att3d().model.config.unknown_words(text)
    return f"Words unknown to the model: {unknown}" if unknown else ""


def pil_field(models: Models, text: str) -> RadianceField:
    return models.pil()(text=text).field


def pil_note(models: Models, text: str) -> str:
    pipe = models.pil()
    scene, _ = pipe.nearest_scene(pipe.embed_text(text))
    return f"Nearest training scene: *{pipe.captions[scene]}*"


def att3d_walk(models: Models, texts: list[str], alphas: np.ndarray) -> list[BoundField]:
    pipe = models.att3d()  # its text encoder keeps each prompt's embedding: once per path, not per α
    return [pipe.interpolate(texts[k], texts[k + 1], local).field for k, local in legs(alphas, len(texts))]


def pil_walk(models: Models, texts: list[str], alphas: np.ndarray) -> list[BoundField]:
    pipe = models.pil()
    stops = PIL_STOPS.get_or_make((models.sources.pil, tuple(texts)), lambda: [pipe(text=t) for t in texts])
    return [pipe.interpolate(stops[k], stops[k + 1], local).field for k, local in legs(alphas, len(texts))]


@dataclass(frozen=True)
class Method:
    """An amortized method as the app runs it. `field(models, text)`: one object; `note(models, text)`: what to
    tell the user about it; `walk(models, texts, alphas)`: the objects at path positions α, leg by leg;
    `backbone`: the field a warm start from it optimises; `source(models)`: the model it runs (part of every
    cache key of its results)."""

    name: str
    field: Callable[[Models, str], RadianceField]
    note: Callable[[Models, str], str]
    walk: Callable[[Models, list[str], np.ndarray], list[BoundField]]
    backbone: str
    source: Callable[[Models], str]

    def path(self, models: Models, texts: list[str], alphas: np.ndarray) -> BoundField:
        """The objects at path positions `alphas`, one per position, in one bound field."""
        parts = self.walk(models, texts, alphas)
        return BoundField(parts[0].base, torch.cat([part.params for part in parts]))


ATT3D = Method("ATT3D", att3d_field, att3d_note, att3d_walk, "voxel", lambda models: models.sources.att3d)
PIL = Method("PIL", pil_field, pil_note, pil_walk, "mlp", lambda models: models.sources.pil)

TEXT = {"ATT3D": ATT3D, "PIL (nearest training scene)": PIL}  # the Text → 3D tab's model choice
PATH = {"ATT3D": ATT3D, "PIL (latent walk between nearest scenes)": PIL}  # the Interpolation tab's
START = {"scratch": None, "PIL": PIL, "ATT3D": ATT3D}  # the warm-start tab's starts (scratch: DreamFusion's own)


def chosen(table: dict[str, Method | None], label: str, what: str) -> Method | None:
    """The method a tab's `label` names; a label the tab does not offer is refused, naming the ones it does."""
    if label not in table:
        raise ValueError(f"{what} must be one of {', '.join(table)}, got {label!r}")
    return table[label]
