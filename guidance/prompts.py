"""Prompts as users type them, made safe for a text encoder: one place that cleans and bounds them."""

from __future__ import annotations

import unicodedata
import warnings

MAX_PROMPT_CHARS = 300  # longer prompts are cut (with a warning); the text encoder truncates tokens beyond its context


def clean_prompt(prompt: str) -> str:
    """A prompt with control characters dropped and whitespace collapsed; empty ones refused, over-long
    ones cut with a warning."""
    text = visible_prompt(prompt)
    cut = shortened(text)
    if cut != text:
        warnings.warn(cut_message(text, cut), stacklevel=3)
    return cut


def visible_prompt(prompt: str, name: str = "prompt") -> str:
    """`prompt` with control and format characters turned into spaces and whitespace collapsed; an
    empty result is refused (the message calls it `name`)."""
    if not isinstance(prompt, str):
        raise TypeError(f"the {name} must be a string, got {type(prompt).__name__}")
    visible = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in prompt)
    text = " ".join(visible.split())
    if not text:
        raise ValueError(f"the {name} is empty: describe an object, e.g. 'a red cube'")
    return text


def shortened(text: str) -> str:
    """`text` cut to at most MAX_PROMPT_CHARS, at a word boundary when there is one."""
    if len(text) <= MAX_PROMPT_CHARS:
        return text
    return text[:MAX_PROMPT_CHARS].rsplit(" ", 1)[0] or text[:MAX_PROMPT_CHARS]


def cut_message(text: str, cut: str) -> str:
    return f"the prompt has {len(text)} characters; using the first {len(cut)}"
