"""Prompts as users type them: cleaned, bounded, refused when empty."""

from __future__ import annotations

import pytest

from guidance.prompts import MAX_PROMPT_CHARS, clean_prompt


def test_whitespace_and_control_characters_are_dropped():
    assert clean_prompt("  a\tred\n\ncube \x00\x1b[31m ") == "a red cube [31m"
    assert clean_prompt("a\u200bred cube") == "a red cube"  # zero-width space is a format character


def test_empty_prompts_are_refused_with_a_hint():
    for empty in ("", "   ", "\x00\x07\n"):
        with pytest.raises(ValueError, match="the prompt is empty"):
            clean_prompt(empty)
    with pytest.raises(TypeError, match="must be a string"):
        clean_prompt(None)  # type: ignore[arg-type]


def test_long_prompts_are_cut_at_a_word_with_a_warning():
    with pytest.warns(UserWarning, match="characters; using the first"):
        cut = clean_prompt("word " * 3000)
    assert len(cut) <= MAX_PROMPT_CHARS and cut.endswith("word")
