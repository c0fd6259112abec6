"""Prompts as users type them, made safe for a text encoder: one place that cleans and bounds them."""

from __future__ import annotations

import unicodedata
import warnings

MAX_PROMPT_CHARS = 300  # longer prompts are cut (with a warning); the text encoder truncates tokens beyond its context


def clean_prompt(prompt: str) -> str:
    """A prompt with control characters dropped and whitespace collapsed; empty ones refused, over-long
    ones cut with a warning."""
    if not isinstance(prompt, str):
        raise TypeError(f"a prompt must be a string, got {type(prompt).__name__}")
    visible = "".join(" " if unicodedata.category(c) in ("Cc", "Cf") else c for c in prompt)
    text = " ".join(visible.split())
    if not text:
        raise ValueError("the prompt is empty: describe an object, e.g. 'a red cube'")
    if len(text) > MAX_PROMPT_CHARS:
        cut = text[:MAX_PROMPT_CHARS].rsplit(" ", 1)[0] or text[:MAX_PROMPT_CHARS]
        warnings.warn(f"the prompt has {len(text)} characters; using the first {len(cut)}", stacklevel=3)
        text = cut
    return text
