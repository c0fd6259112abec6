"""The Gradio app over HTTP with `gradio_client`: every tab's API, and bad input answered by a clear
error while the app stays up. Models: see `app_server`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from app_server import serving_app
from gltf_validator import validate_gltf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from webui.image_to_3d import example_images


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with serving_app(tmp_path_factory.mktemp("app-models")) as url:
        yield Client(url, verbose=False)


def file_of(value) -> Path:
    """A file output as gradio_client returns it (a path, or a dict with one)."""
    if isinstance(value, dict):
        value = value.get("video") or value.get("path") or value.get("value")
        return file_of(value)
    return Path(value)


def test_text_to_3d_gives_a_valid_glb_and_a_video(client):
    viewer, download, video, note = client.predict("a red cube", "ATT3D", 32, api_name="/text_to_3d")
    assert file_of(viewer).suffix == ".glb" and validate_gltf(file_of(download))["issues"]["numErrors"] == 0
    assert file_of(video).stat().st_size > 0 and note == ""
    _, _, _, note = client.predict("a red chair", "PIL (nearest training scene)", 32, api_name="/text_to_3d")
    assert note.startswith("Nearest training scene")


def test_image_to_3d_from_an_example_and_refuses_a_non_image(client, tmp_path):
    viewer, _, video = client.predict(handle_file(example_images()[0]), 32, api_name="/image_to_3d")
    assert file_of(viewer).stat().st_size > 0 and file_of(video).stat().st_size > 0
    notes = tmp_path / "notes.png"
    notes.write_text("not an image at all")
    with pytest.raises(AppError, match="not a readable image"):
        client.predict(handle_file(str(notes)), 32, api_name="/image_to_3d")


def test_interpolation_gives_the_object_at_alpha_and_an_animation(client):
    viewer, _, video = client.predict("a red cube", "a blue sphere", "", 0.25, "ATT3D", 32, 8, api_name="/interpolate")
    assert file_of(viewer).suffix == ".glb" and file_of(video).stat().st_size > 0
    path = ("a red cube", "a blue sphere", "a green torus")
    viewer, _, video = client.predict(*path, 0.75, "PIL (latent walk between nearest scenes)", 32, 8,
                                      api_name="/interpolate")  # fmt: skip
    assert file_of(viewer).suffix == ".glb" and file_of(video).stat().st_size > 0


def test_warm_start_streams_progress_and_ends_with_a_glb(client):
    job = client.submit("a red chair", "PIL", 10, 0, 32, api_name="/warm_start")
    status, _, mesh, video = job.result(timeout=300)
    assert status.startswith("done: 10 steps") and file_of(mesh).suffix == ".glb" and file_of(video).exists()
    assert any(str(update[0]).startswith("step ") for update in job.outputs()[:-1])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("", "ATT3D", 64), "empty"),
        (("\x00\x07\n", "ATT3D", 64), "empty"),
        (("a red cube", "ATT3D", 4096), "greater than maximum value 256"),
        (("a red cube", "DreamFusion", 64), "not in the list of choices"),
    ],
)
def test_bad_text_input_is_a_clear_error(client, arguments, message):
    with pytest.raises(AppError, match=message):
        client.predict(*arguments, api_name="/text_to_3d")


def test_ten_thousand_characters_are_cut_not_refused(client):
    viewer, *_ = client.predict("a red cube " + "x" * 10_000, "ATT3D", 32, api_name="/text_to_3d")
    assert file_of(viewer).suffix == ".glb"


def test_bad_warm_start_settings_and_a_stopped_run_leave_the_app_up(client):
    for arguments, message in [(("a red cube", "scratch", 5000, 0, 32), "greater than maximum value 2000"),
                               (("a red cube", "scratch", 10, -1, 32), "less than minimum value 0"),
                               (("a red cube", "DreamFusion", 10, 0, 32), "not in the list of choices")]:  # fmt: skip
        with pytest.raises(AppError, match=message):
            client.predict(*arguments, api_name="/warm_start")
    job = client.submit("a red cube", "scratch", 2000, 0, 32, api_name="/warm_start")
    deadline = time.time() + 60
    while not job.outputs() and time.time() < deadline:  # wait until it is running and has reported
        time.sleep(0.2)
    started = time.time()
    job.cancel()
    assert time.time() - started < 5 and not str(job.outputs()[-1][0]).startswith("done")
    viewer, *_ = client.predict("a green torus", "ATT3D", 32, api_name="/text_to_3d")
    assert file_of(viewer).suffix == ".glb"


def test_a_huge_image_is_refused_before_decoding(client, tmp_path):
    huge = tmp_path / "huge.png"
    Image.fromarray(np.zeros((8000, 6000), dtype=bool)).save(huge)  # 48 Mpx, a few kB on disk
    with pytest.raises(AppError, match="more than the limit"):
        client.predict(handle_file(str(huge)), 32, api_name="/image_to_3d")
