"""The app's shared pieces without a server: error mapping, input checks, ZeroGPU wrapping, the bounded
caches."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import types
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from webui.cache import FileStore, LRUCache, sweep_gradio_copies
from webui.interpolation import path_prompts
from webui.methods import ATT3D, PATH, PIL, START, TEXT, chosen, legs
from webui.outputs import checked_int, on_gpu, prompt_text, user_errors
from webui.warm_start import gpu_seconds


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
    fake.GPU = lambda function, duration=60: lambda *a, **k: ("on gpu", duration, function(*a, **k))
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert on_gpu(work, duration=20)() == ("on gpu", 20, "done")


def _refusing(name, real_import):
    def importer(module, *args, **kwargs):
        if module == name:
            raise ImportError(f"no module named {name!r}")
        return real_import(module, *args, **kwargs)

    return importer


def test_a_path_of_prompts_splits_alpha_into_equal_legs():
    alphas = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    split = legs(alphas, stops=3)
    assert [k for k, _ in split] == [0, 1]
    np.testing.assert_allclose(split[0][1], [0.0, 0.5])
    np.testing.assert_allclose(split[1][1], [0.0, 0.5, 1.0])  # α = 1 is the last stop, not a third leg
    unordered = legs(np.array([0.75, 0.0, 0.25]), stops=3)  # runs in the given order, so results line up
    assert [k for k, _ in unordered] == [1, 0]
    np.testing.assert_allclose(unordered[0][1], [0.5])
    np.testing.assert_allclose(unordered[1][1], [0.0, 0.5])
    ((leg, local),) = legs(np.array([0.3]), stops=2)
    assert leg == 0 and local[0] == pytest.approx(0.3)
    for alpha in np.linspace(0, 1, 41):  # each α lands on one leg, inside it, at the right place on the path
        ((leg, local),) = legs(np.array([alpha]), stops=4)
        assert 0 <= local[0] <= 1 and (leg + local[0]) / 3 == pytest.approx(alpha)


def test_a_path_takes_two_to_six_prompts():
    assert path_prompts("a red cube", "a blue sphere", "\n a green torus \n\n") == [
        "a red cube", "a blue sphere", "a green torus"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at most 6 prompts, got 7"):
        path_prompts("a", "b", "c\nd\ne\nf\ng")
    with pytest.raises(ValueError, match="second prompt is empty"):
        path_prompts("a red cube", "", None)


def test_lru_cache_keeps_the_most_recently_used_and_hands_out_the_rest():
    evicted = []
    cache = LRUCache(2, on_evict=evicted.append)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert evicted == [2] and cache.get("b") is None and len(cache) == 2
    assert cache.get_or_make("a", lambda: pytest.fail("made again")) == 1
    cache.put("a", 10)  # replaced: the old value is handed out too
    assert evicted == [2, 1] and cache.get("a") == 10
    with pytest.raises(ValueError, match="capacity"):
        LRUCache(0)


def test_file_store_deletes_the_folders_of_results_it_no_longer_keeps(tmp_path):
    store = FileStore(capacity=2)

    def write(text):
        return lambda folder: (folder / "result.txt").write_text(text) and folder / "result.txt"

    first = store.get_or_make("first", write("one"))
    assert store.get_or_make("first", lambda folder: pytest.fail("made again")) == first
    second = store.get_or_make("second", write("two"))
    third = store.get_or_make("third", write("three"))
    assert not first.exists() and second.read_text() == "two" and third.read_text() == "three"
    assert store.disk_bytes() == len("twothree")
    with pytest.raises(RuntimeError, match="failed"):
        store.get_or_make("broken", lambda folder: (folder / "half").write_text("x") and _fail())
    assert sorted(p.name for p in store.root.rglob("*") if p.is_file()) == ["result.txt", "result.txt"]
    assert store.get_or_make("first", write("again")).read_text() == "again"  # made anew once dropped


def _fail():
    raise RuntimeError("failed")


def test_gradio_copies_older_than_the_age_go_with_their_folders(tmp_path):
    files = []
    for index in range(3):
        folder = tmp_path / f"hash{index}"
        folder.mkdir()
        (folder / "object.glb").write_bytes(b"glb")
        files.append(str(folder / "object.glb"))
    (tmp_path / "hash0" / "other.png").write_bytes(b"png")  # a folder that holds another file stays
    app = types.SimpleNamespace(temp_file_sets=[{files[0]}, {files[1], files[2], str(tmp_path / "gone.glb")}])
    sweep_gradio_copies(app, older_than=3600)  # all of them are new: nothing goes but what is already gone
    assert all(Path(f).exists() for f in files) and app.temp_file_sets[1] == {files[1], files[2]}
    sweep_gradio_copies(app, older_than=-1)
    assert not any(Path(f).exists() for f in files) and app.temp_file_sets == [set(), set()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hash0"]


def test_a_warm_start_asks_a_space_for_time_by_its_iterations():
    assert gpu_seconds("a red cube", "ATT3D", 100, 0, 128, 20000) == 80
    assert gpu_seconds("a red cube", "ATT3D", 2000) == 1030
    assert gpu_seconds("a red cube", "ATT3D", 10**9) == 1030 and gpu_seconds("x", "PIL", None) == 30  # refused later


def test_a_server_stopped_by_sigterm_leaves_no_result_folder(tmp_path: Path) -> None:
    # as `python app.py` runs: the result store in use, SIGTERM's handler installed, the main thread blocked
    script = (
        "import time, app\n"
        "from webui.outputs import STORE\n"
        "(STORE.root / 'result.glb').write_bytes(b'x')\n"
        "app.exit_on_sigterm()\n"
        "print(STORE.root, flush=True)\n"
        "time.sleep(120)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    root = Path(server.stdout.readline().strip())
    assert (root / "result.glb").exists()
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 128 + signal.SIGTERM
    assert not root.exists()


def test_every_tab_names_its_methods_from_one_table_and_refuses_others():
    assert set(TEXT.values()) == set(PATH.values()) == {ATT3D, PIL} and set(START.values()) == {None, ATT3D, PIL}
    assert chosen(TEXT, "ATT3D", "model") is ATT3D and chosen(START, "scratch", "init") is None
    with pytest.raises(ValueError, match="model must be one of ATT3D, PIL \\(nearest training scene\\), got 'Shap-E'"):
        chosen(TEXT, "Shap-E", "model")


def test_the_random_prompt_comes_from_the_models_own_training_prompts(monkeypatch):
    """A model trained by `train.att3d` keeps its prompts: the random prompt is one of them, whatever the
    model; the bundled one of before (no prompts kept) falls back to its world, toy64."""
    from att3d import ATT3DConfig
    from toyworld.prompts import toy64
    from webui.models import Models, ModelSources

    models = Models(ModelSources(att3d="user/theirs", pil="toy", guidance="toy"), "cpu")
    trained = types.SimpleNamespace(model=types.SimpleNamespace(config=ATT3DConfig(training_prompts=["a red chair"])))
    monkeypatch.setattr(models, "att3d", lambda: trained)
    assert models.example_prompts() == ["a red chair"]
    bundled = Models(ModelSources(att3d="toy", pil="toy", guidance="toy"), "cpu")
    monkeypatch.setattr(bundled, "att3d", lambda: types.SimpleNamespace(model=types.SimpleNamespace(
        config=ATT3DConfig())))  # fmt: skip
    assert bundled.example_prompts() == [p.text for p in toy64().prompts]


def test_the_vocabulary_and_the_random_prompt_cover_every_kind_the_model_was_trained_on(monkeypatch):
    """A world model's prompts are mostly stacks: the app still names all three patterns with their words,
    and the random prompt shows each kind about as often; a model trained on prompts outside the toy world
    gets its words listed instead."""
    from att3d import ATT3DConfig
    from webui.models import Models, ModelSources
    from webui.text_to_3d import random_prompt, vocabulary

    stacks = [f"a {c} cube on top of a {d} torus" for c in ("red", "blue") for d in ("green", "pink")] * 10
    trained = [*stacks, "a yellow star", "a green chair"]
    models = Models(ModelSources(att3d="user/theirs", pil="toy", guidance="toy"), "cpu")
    config = ATT3DConfig(training_prompts=trained, training_words=("unused",))
    monkeypatch.setattr(models, "att3d", lambda: types.SimpleNamespace(model=types.SimpleNamespace(config=config)))
    lines = vocabulary(models).splitlines()
    assert lines[1] == "- *a {colour} {shape}*: colours yellow; shapes star"
    assert (
        lines[2]
        == "- *a {colour} {shape} on top of a {colour} {shape}*: colours blue, green, pink, red; shapes cube, torus"
    )
    assert lines[3].startswith("- *a {colour} {object}, with details*: colours green; objects chair")
    random.seed(0)
    drawn = [random_prompt(models) for _ in range(600)]
    assert set(drawn) <= set(trained)
    assert 150 < drawn.count("a yellow star") < 250 and 150 < drawn.count("a green chair") < 250

    config = ATT3DConfig(training_prompts=["a dog", "a red cube"], training_words=("a", "cube", "dog", "red"))
    monkeypatch.setattr(models, "att3d", lambda: types.SimpleNamespace(model=types.SimpleNamespace(config=config)))
    assert vocabulary(models) == "**The ATT3D model knows these words:** a, cube, dog, red"
    assert {random_prompt(models) for _ in range(50)} == {"a dog", "a red cube"}
