"""The Gradio app over HTTP with `gradio_client`, called by its named parameters as an API user would:
every tab's endpoints, every shipped example, the cache, and bad input answered by a clear error while
the app stays up. Models: see `app_server`."""

from __future__ import annotations

import queue
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from app_server import serving_app
from gltf_validator import validate_gltf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from webui import interpolation, outputs, text_to_3d, warm_start
from webui.image_to_3d import example_images, preview

pytestmark = pytest.mark.slow  # a server and a real toy diffusion model: CI runs these, the inner loop does not
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def served():
    with serving_app() as url:
        yield url


@pytest.fixture(scope="module")
def client(served):
    return Client(served, verbose=False)


def file_of(value) -> Path:
    """A file output as gradio_client returns it (a path, or a dict with one)."""
    if isinstance(value, dict):
        value = value.get("video") or value.get("path") or value.get("value")
        return file_of(value)
    return Path(value)


def valid_glb(value) -> Path:
    path = file_of(value)
    assert path.suffix == ".glb" and validate_gltf(path)["issues"]["numErrors"] == 0
    return path


def test_text_to_3d_gives_the_object_first_then_its_turntable(client):
    viewer, download, stats, note = client.predict(prompt="a red cube", model="ATT3D", resolution=32,
                                                   api_name="/text_to_3d")  # fmt: skip
    assert file_of(viewer).name == "a-red-cube.glb" and valid_glb(download)
    assert re.fullmatch(r"[\d,]+ faces · [\d,]+ vertices · made in [\d.]+ s", stats) and note == ""
    video = client.predict(mesh=handle_file(str(file_of(download))), api_name="/turntable")
    assert file_of(video).suffix == ".mp4" and file_of(video).stat().st_size > 0
    *_, note = client.predict(prompt="a red chair", model=text_to_3d.METHODS[1], resolution=32, api_name="/text_to_3d")
    assert note.startswith("Nearest training scene")


def test_a_face_budget_is_kept(client):
    _, download, stats, _ = client.predict(prompt="a green torus", model="ATT3D", resolution=64, faces=1000,
                                           api_name="/text_to_3d")  # fmt: skip
    assert stats.startswith("1,000 faces") and valid_glb(download)


def test_a_repeat_request_is_served_from_the_store(client, monkeypatch):
    arguments = {"prompt": "a blue cone", "model": "ATT3D", "resolution": 32, "api_name": "/text_to_3d"}
    first = client.predict(**arguments)
    exports = []
    export = outputs.rendered_surface_mesh
    monkeypatch.setattr(outputs, "rendered_surface_mesh", lambda *a, **k: exports.append(a) or export(*a, **k))
    again = client.predict(**arguments)
    assert not exports and file_of(again[1]).read_bytes() == file_of(first[1]).read_bytes()
    client.predict(**{**arguments, "resolution": 48})  # another resolution is another object
    assert len(exports) == 1


def test_image_to_3d_names_the_users_file_and_refuses_a_non_image(client, tmp_path):
    viewer, download, stats = client.predict(image=handle_file(example_images()[0]), resolution=32,
                                             api_name="/image_to_3d")  # fmt: skip
    assert file_of(viewer).name == "chair-9.glb" and valid_glb(download) and "faces" in stats
    notes = tmp_path / "my notes.png"
    notes.write_text("not an image at all")
    with pytest.raises(AppError, match=r"'my notes\.png' is not a readable image") as error:
        client.predict(image=handle_file(str(notes)), resolution=32, api_name="/image_to_3d")
    assert str(tmp_path) not in str(error.value) and "gradio" not in str(error.value).lower()


def test_image_to_3d_frames_the_upload_and_says_what_it_needs(client, tmp_path, monkeypatch):
    """A small object in a corner of a white picture comes out as the same object framed; a blank picture
    and a background removal without rembg are refused with the reason."""
    example = Image.open(example_images()[0]).convert("RGB")
    photo = Image.new("RGB", (200, 200), (255, 255, 255))
    grey = np.asarray(example, dtype=np.int16)
    on_white = np.where((np.abs(grey - 204) <= 3).all(-1, keepdims=True), 255, grey).astype(np.uint8)
    photo.paste(Image.fromarray(on_white).resize((40, 40)), (10, 150))
    small = tmp_path / "small.png"
    photo.save(small)
    shown = preview(str(small))["value"]
    assert shown.size[0] == shown.size[1] < 200 and np.asarray(shown)[0, 0].tolist() == [204, 204, 204]
    viewer, *_ = client.predict(image=handle_file(str(small)), resolution=32, api_name="/image_to_3d")
    assert valid_glb(viewer)
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), (255, 255, 255)).save(blank)
    with pytest.raises(AppError, match="no object found"):
        client.predict(image=handle_file(str(blank)), resolution=32, api_name="/image_to_3d")
    monkeypatch.setitem(sys.modules, "rembg", None)  # the server runs in this process
    with pytest.raises(AppError, match="pip install rembg"):
        client.predict(image=handle_file(str(small)), resolution=32, remove_backdrop=True, api_name="/image_to_3d")


def test_interpolation_gives_the_object_at_alpha_and_an_animation_on_demand(client):
    viewer, _, stats = client.predict(first="a red cube", second="a blue sphere", more="", alpha=0.25, model="ATT3D",
                                      resolution=32, api_name="/interpolate")  # fmt: skip
    assert valid_glb(viewer) and "faces" in stats
    path = {"first": "a red cube", "second": "a blue sphere", "more": "a green torus"}
    viewer, *_ = client.predict(**path, alpha=0.75, model=interpolation.METHODS[1], resolution=32,
                                api_name="/interpolate")  # fmt: skip
    assert valid_glb(viewer)
    video = client.predict(**path, model="ATT3D", frames=8, api_name="/animate")
    assert file_of(video).stat().st_size > 0


def test_warm_start_streams_progress_and_ends_with_a_glb(client):
    job = client.submit(prompt="a red cube", start="ATT3D", iterations=10, seed=0, resolution=32,
                        api_name="/warm_start")  # fmt: skip
    status, _, mesh, stats = job.result()
    assert status.startswith("done: 10 steps") and valid_glb(mesh) and "faces" in stats
    assert any(str(update[0]).startswith("step ") for update in job.outputs()[:-1])


def test_a_run_whose_object_vanished_says_so_once_instead_of_failing(client, monkeypatch):
    def empty_field(*args, **kwargs):  # the field a collapsed run leaves: nothing in any view
        result = optimise(*args, **kwargs)
        with torch.no_grad():
            for parameter in result.field.parameters():
                parameter.fill_(-1e3)
        return result

    optimise = warm_start.dreamfusion
    monkeypatch.setattr(warm_start, "dreamfusion", empty_field)
    status, _, mesh, stats = client.predict(prompt="a red cube", start="scratch", iterations=10, resolution=32,
                                            api_name="/warm_start")  # fmt: skip
    assert status.startswith("**The object vanished**") and "fewer iterations" in status
    assert mesh is None and stats == ""


@pytest.mark.parametrize("example", text_to_3d.EXAMPLES, ids=lambda e: e[0])
def test_every_text_example_makes_a_valid_glb(client, example):
    """...within what its model was trained on: an ATT3D example uses no word the bundled model never saw."""
    prompt, method = example
    viewer, _, _, note = client.predict(prompt=prompt, model=method, api_name="/text_to_3d")
    valid_glb(viewer)
    assert method != "ATT3D" or "unknown" not in note, note


@pytest.mark.parametrize("image", example_images(), ids=lambda path: Path(path).stem)
def test_every_image_example_makes_a_valid_glb(client, image):
    viewer, *_ = client.predict(image=handle_file(image), api_name="/image_to_3d")
    valid_glb(viewer)


@pytest.mark.parametrize("example", interpolation.EXAMPLES, ids=lambda e: f"{e[0]} to {e[1]}")
def test_every_interpolation_example_makes_a_valid_glb(client, example):
    first, second, more, alpha, method = example
    viewer, *_ = client.predict(first=first, second=second, more=more, alpha=alpha, model=method,
                                api_name="/interpolate")  # fmt: skip
    valid_glb(viewer)


@pytest.mark.parametrize("example", warm_start.EXAMPLES, ids=lambda e: f"{e[0]} from {e[1]}")
def test_every_warm_start_example_keeps_its_object(client, example):
    """With the bundled toy diffusion model, as a visitor runs them: each ends with an object."""
    prompt, start, iterations = example
    status, _, mesh, _ = client.predict(prompt=prompt, start=start, iterations=iterations, resolution=64,
                                        api_name="/warm_start")  # fmt: skip
    assert status.startswith(f"done: {iterations} steps"), status
    valid_glb(mesh)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prompt": "", "model": "ATT3D"}, "empty"),
        ({"prompt": "\x00\x07\n", "model": "ATT3D"}, "empty"),
        ({"prompt": "a red cube", "model": "ATT3D", "resolution": 4096}, "greater than maximum value 256"),
        ({"prompt": "a red cube", "model": "ATT3D", "faces": 10}, "less than minimum value 1000"),
        ({"prompt": "a red cube", "model": "DreamFusion"}, "not in the list of choices"),
    ],
)
def test_bad_text_input_is_a_clear_error(client, arguments, message):
    with pytest.raises(AppError, match=message):
        client.predict(**arguments, api_name="/text_to_3d")


def test_ten_thousand_characters_are_cut_not_refused(client):
    viewer, *_ = client.predict(prompt="a red cube " + "x" * 10_000, model="ATT3D", resolution=32,
                                api_name="/text_to_3d")  # fmt: skip
    assert file_of(viewer).suffix == ".glb"


def test_bad_warm_start_settings_leave_the_app_up(client):
    for arguments, message in [({"iterations": 5000}, "greater than maximum value 2000"),
                               ({"seed": -1}, "less than minimum value 0"),
                               ({"start": "DreamFusion"}, "not in the list of choices")]:  # fmt: skip
        with pytest.raises(AppError, match=message):
            client.predict(**{"prompt": "a red cube", "start": "scratch", "iterations": 10, **arguments},
                           api_name="/warm_start")  # fmt: skip
    viewer, *_ = client.predict(prompt="a green torus", model="ATT3D", resolution=32, api_name="/text_to_3d")
    assert file_of(viewer).suffix == ".glb"


def test_stop_ends_the_run_at_its_next_step(client, monkeypatch):
    """The run behind a cancelled request ends (it does not go on to its last step in the background)."""
    last_steps: queue.Queue[int] = queue.Queue()
    optimise = warm_start.dreamfusion

    def recording(*args, on_step, **kwargs):  # the server runs in this process: its run reports here
        reached = [0]

        def step(number: int, total: int) -> None:
            reached[0] = number
            on_step(number, total)

        try:
            return optimise(*args, on_step=step, **kwargs)
        finally:
            last_steps.put(reached[0])

    monkeypatch.setattr(warm_start, "dreamfusion", recording)
    job = client.submit(prompt="a red cube", start="scratch", iterations=2000, resolution=32, api_name="/warm_start")
    while not job.outputs() and not job.done():  # until it runs and has reported once
        time.sleep(0.1)
    job.cancel()
    assert last_steps.get() < 2000  # the run ended, short of its 2000 steps
    viewer, *_ = client.predict(prompt="a green torus", model="ATT3D", resolution=32, api_name="/text_to_3d")
    assert file_of(viewer).suffix == ".glb"


def test_a_huge_image_is_refused_before_decoding(client, tmp_path):
    huge = tmp_path / "huge.png"
    Image.fromarray(np.zeros((8000, 6000), dtype=bool)).save(huge)  # 48 Mpx, a few kB on disk
    with pytest.raises(AppError, match="more than the limit"):
        client.predict(image=handle_file(str(huge)), resolution=32, api_name="/image_to_3d")


def test_the_readme_api_example_runs(served):
    """The README's `gradio_client` example, run as written against this server."""
    example = re.search(r"<!-- api-example -->\n```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert example, "the README has no api-example block"
    code = example.group(1).replace("http://127.0.0.1:7860/", served)
    scope: dict = {}
    exec(compile(code, "README api-example", "exec"), scope)
    assert valid_glb(scope["mesh"])
