"""The app's shared pieces without a server: error mapping, input checks, ZeroGPU wrapping."""

from __future__ import annotations

import sys
import types

import gradio as gr
import pytest

from webui.outputs import checked_int, on_gpu, prompt_text, user_errors


def test_user_errors_become_gr_errors_for_functions_and_generators():
    @user_errors
    def bad(value):
        raise ValueError(f"value must be small, got {value}")

    @user_errors
    def streaming(value):
        yield 1
        raise FileNotFoundError("no such model")

    @user_errors
    def buggy():
        raise KeyError("a bug stays a bug")

    with pytest.raises(gr.Error, match="value must be small, got 7"):
        bad(7)
    stream = streaming(1)
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="no such model"):
        next(stream)
    with pytest.raises(KeyError):
        buggy()


def test_checked_int_and_prompt_text():
    assert checked_int(64.0, "resolution", 32, 256) == 64
    for bad in (None, True, 64.5, 31, 257):
        with pytest.raises(ValueError, match=r"resolution must be a whole number in 32\.\.256"):
            checked_int(bad, "resolution", 32, 256)
    assert prompt_text("  a\x00red   cube ") == "a red cube"
    with pytest.raises(ValueError, match="empty"):
        prompt_text(None)


def test_on_gpu_uses_spaces_only_when_installed(monkeypatch):
    def work():
        return "done"

    monkeypatch.delitem(sys.modules, "spaces", raising=False)
    monkeypatch.setattr("builtins.__import__", _refusing("spaces", __import__))
    assert on_gpu(work) is work
    monkeypatch.undo()
    fake = types.ModuleType("spaces")
    fake.GPU = lambda function: lambda *a, **k: ("on gpu", function(*a, **k))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert on_gpu(work)() == ("on gpu", "done")


def _refusing(name, real_import):
    def importer(module, *args, **kwargs):
        if module == name:
            raise ImportError(f"no module named {name!r}")
        return real_import(module, *args, **kwargs)

    return importer
