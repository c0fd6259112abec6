"""Prompt sets as data, with fixed splits, and the exact object each prompt describes.

- `toy64`: "a {colour} {shape}" ("an" before a vowel), 8 colours × 8 shapes. Held out (unseen): the 8 diagonal prompts,
  colour i with shape i in the palette and vocabulary orders, as the 8 of ATT3D's 64 pig prompts.
- `stacks`: "a {colour} {shape} on top of a {colour} {shape}", 8^4 = 4096 prompts (like ATT3D's
  2400 animal prompts); the top shape rests on the bottom one where they first touch. Splits
  `seen_50` / `unseen_50` and `seen_12.5` / `unseen_12.5` come from one
  fixed permutation (seed 0): the 12.5 % seen prompts are the first 512 of it, the 50 % the first
  2048, so the smaller seen split is inside the larger one.

Unseen prompts are held out from the amortized models only: the toy CLIP and diffusion models,
standing in for internet-scale pretrained ones, learn the whole world.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import torch

from nerf.analytic import SDFField
from toyworld.palette import COLOUR_NAMES, COLOURS
from toyworld.shapes import SHAPE_NAMES, resting_height, shape_sdf

SINGLE_SIZE = 0.5  # a toy64 object fills the cube ±0.5 around the origin, resting on y = -0.5
STACK_SIZE = 0.3  # each part of a stack fills a cube ±0.3; the bottom one rests on y = -0.6
STACK_BOTTOM_CENTRE = -0.3
SPLIT_SEED = 0


@dataclass(frozen=True)
class Prompt:
    """A caption and the object it describes: (colour, shape) parts from the bottom up."""

    text: str
    parts: tuple[tuple[str, str], ...]

    def field(self) -> SDFField:
        """The exact ground-truth radiance field of the described object."""
        if len(self.parts) == 1:
            colour, shape = self.parts[0]
            return SDFField([(shape_sdf(shape, (0.0, 0.0, 0.0), SINGLE_SIZE), COLOURS[colour])])
        (bottom_colour, bottom_shape), (top_colour, top_shape) = self.parts
        top_centre = STACK_BOTTOM_CENTRE + resting_height(bottom_shape, top_shape) * STACK_SIZE
        return SDFField(
            [
                (shape_sdf(bottom_shape, (0.0, STACK_BOTTOM_CENTRE, 0.0), STACK_SIZE), COLOURS[bottom_colour]),
                (shape_sdf(top_shape, (0.0, top_centre, 0.0), STACK_SIZE), COLOURS[top_colour]),
            ]
        )


@dataclass(frozen=True)
class PromptSet:
    """Prompts in a fixed order and named splits of their indices."""

    name: str
    prompts: tuple[Prompt, ...]
    splits: dict[str, tuple[int, ...]]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.prompts]

    def split(self, name: str) -> list[Prompt]:
        if name not in self.splits:
            raise ValueError(f"prompt set {self.name!r} has splits {', '.join(self.splits)}; got {name!r}")
        return [self.prompts[i] for i in self.splits[name]]


def with_article(phrase: str) -> str:
    """ "a red cube", "an orange cube"."""
    return f"{'an' if phrase[0] in 'aeiou' else 'a'} {phrase}"


def single_prompt(colour: str, shape: str) -> Prompt:
    return Prompt(with_article(f"{colour} {shape}"), ((colour, shape),))


def stack_prompt(top_colour: str, top_shape: str, bottom_colour: str, bottom_shape: str) -> Prompt:
    text = f"{with_article(f'{top_colour} {top_shape}')} on top of {with_article(f'{bottom_colour} {bottom_shape}')}"
    return Prompt(text, ((bottom_colour, bottom_shape), (top_colour, top_shape)))


@cache
def toy64() -> PromptSet:
    prompts = tuple(single_prompt(c, s) for c in COLOUR_NAMES for s in SHAPE_NAMES)
    diagonal = tuple(i * len(SHAPE_NAMES) + i for i in range(len(COLOUR_NAMES)))
    seen = tuple(i for i in range(len(prompts)) if i not in diagonal)
    return PromptSet("toy64", prompts, {"all": tuple(range(len(prompts))), "seen": seen, "unseen": diagonal})


@cache
def stacks() -> PromptSet:
    fragments = list(itertools.product(COLOUR_NAMES, SHAPE_NAMES))
    prompts = tuple(stack_prompt(*top, *bottom) for top, bottom in itertools.product(fragments, fragments))
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    splits = {"all": tuple(range(len(prompts)))}
    for label, fraction in (("50", 0.5), ("12.5", 0.125)):
        count = int(len(prompts) * fraction)
        splits[f"seen_{label}"] = tuple(sorted(order[:count]))
        splits[f"unseen_{label}"] = tuple(sorted(order[count:]))
    return PromptSet("stacks", prompts, splits)


PROMPT_SETS = {"toy64": toy64, "stacks": stacks}


def prompt_set(name: str) -> PromptSet:
    """A prompt set by name: "toy64" or "stacks"."""
    if name not in PROMPT_SETS:
        raise ValueError(f"unknown prompt set {name!r}; the sets are {', '.join(PROMPT_SETS)}")
    return PROMPT_SETS[name]()


def find_prompt(text: str) -> Prompt | None:
    """The toy-world prompt with exactly this text (ignoring case and outer spaces), or None."""
    key = " ".join(text.lower().split())
    return _prompt_index().get(key)


@cache
def _prompt_index() -> dict[str, Prompt]:
    return {p.text: p for factory in PROMPT_SETS.values() for p in factory().prompts}
