"""Prompt sets as data, with fixed splits, and the exact object each prompt describes.

- `toy64`: "a {colour} {shape}" ("an" before a vowel), 8 colours × 8 shapes. Held out (unseen): the 8 diagonal prompts,
  colour i with shape i in the palette and vocabulary orders, as the 8 of ATT3D's 64 pig prompts.
- `stacks`: "a {colour} {shape} on top of a {colour} {shape}", 8^4 = 4096 prompts (like ATT3D's
  2400 animal prompts); the top shape rests on the bottom one where they first touch. Splits
  `seen_50` / `unseen_50` and `seen_12.5` / `unseen_12.5` come from one
  fixed permutation (seed 0): the 12.5 % seen prompts are the first 512 of it, the 50 % the first
  2048, so the smaller seen split is inside the larger one.

- `stacks_small`: the same grammar over 4 colours and 4 shapes (256 prompts, the same kinds of splits), small
  enough for amortized training to reach per-prompt optimisation's budgets on a CPU.
- `categories`: the captions of 50 objects of each of the 10 categories ("a tall red chair with armrests"; a
  caption several objects share is one prompt); unseen: every caption of an object whose seed ends in 9.
- `world`: all three in one set, for one amortized model over the whole grammar; seen: toy64's seen,
  stacks' `seen_50` and the categories' seen objects.

Unseen prompts are held out from the amortized models only: the toy CLIP and diffusion models,
standing in for internet-scale pretrained ones, learn the whole world.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import torch

from nerf.analytic import SDFField
from toyworld.categories import CATEGORY_NAMES, pil_split, sample_object
from toyworld.palette import COLOUR_NAMES, COLOURS
from toyworld.shapes import SHAPE_NAMES, resting_height, shape_sdf
from toyworld.words import with_article

SINGLE_SIZE = 0.5  # a toy64 object fills the cube ±0.5 around the origin, resting on y = -0.5
STACK_SIZE = 0.3  # each part of a stack fills a cube ±0.3; the bottom one rests on y = -0.6
STACK_BOTTOM_CENTRE = -0.3
SPLIT_SEED = 0
CATEGORY_OBJECTS = 50  # objects per category in the `categories` set and the asset library (seeds 0..49)


@dataclass(frozen=True)
class Prompt:
    """A caption and the object it describes: (colour, shape) parts from the bottom up, or for a category
    object ("a tall red chair with armrests") its (colour, category) and the seed that builds it."""

    text: str
    parts: tuple[tuple[str, str], ...]
    seed: int | None = None  # a category object's seed (`toyworld.categories.sample_object`); None otherwise

    @property
    def kind(self) -> str:
        """ "single" (toy64), "stack" (two parts) or "category"."""
        return "category" if self.seed is not None else "single" if len(self.parts) == 1 else "stack"

    def field(self) -> SDFField:
        """The exact ground-truth radiance field of the described object."""
        if self.seed is not None:
            colour, category = self.parts[0]
            return sample_object(category, self.seed, colour).field()
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


def _stacks(name: str, colours: tuple[str, ...], shapes: tuple[str, ...], scale: tuple[int, ...] = ()) -> PromptSet:
    """Every "a {colour} {shape} on top of a {colour} {shape}" over `colours` and `shapes`, with the 50 % and
    12.5 % seen splits from one fixed permutation. `scale`: training sets of these many prompts, the first of
    the same permutation (so each holds the smaller ones), `scale_N`, and `scale_held_out`, the prompts after
    the largest, which none of them trains on (the cost of amortization as the prompt set grows)."""
    fragments = list(itertools.product(colours, shapes))
    prompts = tuple(stack_prompt(*top, *bottom) for top, bottom in itertools.product(fragments, fragments))
    order = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(SPLIT_SEED)).tolist()
    splits = {"all": tuple(range(len(prompts)))}
    for label, fraction in (("50", 0.5), ("12.5", 0.125)):
        count = int(len(prompts) * fraction)
        splits[f"seen_{label}"] = tuple(sorted(order[:count]))
        splits[f"unseen_{label}"] = tuple(sorted(order[count:]))
    for count in scale:
        splits[f"scale_{count}"] = tuple(sorted(order[:count]))
    if scale:
        splits["scale_held_out"] = tuple(sorted(order[max(scale) :]))
    return PromptSet(name, prompts, splits)


# the cost table's training sets (issue 31, part 3): 512 and 2048 are the 12.5 % and 50 % seen splits; the
# largest leaves 256 prompts that none of them trains on
STACK_SCALES = (64, 512, 2048, 3840)


@cache
def stacks() -> PromptSet:
    return _stacks("stacks", COLOUR_NAMES, SHAPE_NAMES, STACK_SCALES)


# four colours far apart in hue and four silhouettes unlike each other
SMALL_STACK_COLOURS = ("red", "yellow", "green", "blue")
SMALL_STACK_SHAPES = ("cube", "sphere", "cone", "torus")


@cache
def stacks_small() -> PromptSet:
    """Stacks over 4 colours and 4 shapes: 256 prompts, so that amortized training reaches per-prompt
    optimisation's hundreds of frames per prompt on a CPU (the paper's budget comparison, Figs. 6 and 8)."""
    return _stacks("stacks_small", SMALL_STACK_COLOURS, SMALL_STACK_SHAPES)


def category_prompt(category: str, seed: int) -> Prompt:
    """Object `seed` of `category` as a prompt: its caption, main colour and category."""
    item = sample_object(category, seed)
    return Prompt(item.caption, ((item.colour, category),), seed)


@cache
def categories(per_category: int = CATEGORY_OBJECTS) -> PromptSet:
    """The captions of objects 0..per_category-1 of every category. A caption several objects share stands
    for all of them (as a text prompt does); its first object is the reference the judges score against.
    Held out (unseen): every caption of an object whose seed ends in 9 (the rule of PIL's test split), so no
    such object is ever trained on, nor, through its caption, in a run's asset library."""
    seeds: dict[str, list[int]] = {}
    prompts: dict[str, Prompt] = {}
    for category in CATEGORY_NAMES:
        for seed in range(per_category):
            prompt = category_prompt(category, seed)
            prompts.setdefault(prompt.text, prompt)
            seeds.setdefault(prompt.text, []).append(seed)
    ordered = tuple(prompts.values())
    unseen = tuple(i for i, p in enumerate(ordered) if any(pil_split(s) == "test" for s in seeds[p.text]))
    held_out = set(unseen)
    seen = tuple(i for i in range(len(ordered)) if i not in held_out)
    return PromptSet("categories", ordered, {"all": tuple(range(len(ordered))), "seen": seen, "unseen": unseen})


# the world's parts, each with the split of it that the world's "seen" trains on
WORLD_PARTS = (("toy64", "seen"), ("stacks", "seen_50"), ("categories", "seen"))


@cache
def world() -> PromptSet:
    """The whole grammar in one set: toy64, stacks and categories. Seen: toy64's seen split, stacks' `seen_50`
    and the categories' seen objects; unseen: everything else, held out of each."""
    prompts, seen, offset = [], [], 0
    for name, split in WORLD_PARTS:
        part = PROMPT_SETS[name]()
        prompts += part.prompts
        seen += [offset + i for i in part.splits[split]]
        offset += len(part.prompts)
    splits = {"all": tuple(range(len(prompts))), "seen": tuple(seen)}
    trained = set(seen)
    splits["unseen"] = tuple(i for i in splits["all"] if i not in trained)
    return PromptSet("world", tuple(prompts), splits)


PROMPT_SETS = {"toy64": toy64, "stacks": stacks, "stacks_small": stacks_small, "categories": categories,
               "world": world}  # fmt: skip


def prompt_set(name: str) -> PromptSet:
    """A prompt set by name: "toy64", "stacks", "categories" or "world"."""
    if name not in PROMPT_SETS:
        raise ValueError(f"unknown prompt set {name!r}; the sets are {', '.join(PROMPT_SETS)}")
    return PROMPT_SETS[name]()


def prompt_key(text: str) -> str:
    """What makes two captions the same toy-world prompt: their words, whatever the case and spacing."""
    return " ".join(text.lower().split())


def find_prompt(text: str) -> Prompt | None:
    """The toy-world prompt with exactly this text (ignoring case and spacing), or None."""
    return _prompt_index().get(prompt_key(text))


@cache
def _prompt_index() -> dict[str, Prompt]:
    index: dict[str, Prompt] = {}
    for factory in PROMPT_SETS.values():
        for prompt in factory().prompts:
            index.setdefault(prompt_key(prompt.text), prompt)
    return index
