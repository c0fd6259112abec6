"""What every tab shows for an object (a `.glb` for the 3D viewer and for download, a turntable video),
and the checks that turn a user's bad input into a clear `gr.Error` instead of a traceback."""

from __future__ import annotations

import functools
import inspect
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import gradio as gr

from guidance.prompts import cut_message, shortened, visible_prompt
from nerf.export import export_rendered_surface
from nerf.field import RadianceField
from nerf.video import render_turntable, save_video

RESOLUTION_RANGE = (32, 256)  # marching-cubes grids the app offers (the CLI goes to 512)
DEFAULT_RESOLUTION = 128
VIDEO_FRAMES, VIDEO_SIZE = 24, 128  # turntables and animations
VIDEO_HEIGHT = 320  # pixels on the page: the video's own 128 px, enlarged, not the column's full width
VIEWER_BACKGROUND = (0.8, 0.8, 0.8, 1.0)
F = TypeVar("F", bound=Callable)
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, ConnectionError, PermissionError)


def user_errors(function: F) -> F:
    """Show the errors a user can cause (bad input, a missing or unreachable model) as `gr.Error` with
    their message; anything else stays a bug and is raised as it is. Works on generators too."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def streaming(*args, **kwargs):
            try:
                yield from function(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(str(error)) from None

        return streaming  # type: ignore[return-value]

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from None

    return wrapper  # type: ignore[return-value]


def result_components(
    object_label: str = "Object", video_label: str = "Turntable"
) -> tuple[gr.Model3D, gr.File, gr.Video]:
    """The three views of a result every tab shows (inside a `gr.Blocks`): a 3D viewer, the `.glb` to
    download and a video."""
    viewer = gr.Model3D(label=object_label, clear_color=VIEWER_BACKGROUND)
    download = gr.File(label="Download .glb")
    video = gr.Video(label=video_label, autoplay=True, loop=True, height=VIDEO_HEIGHT)
    return viewer, download, video


def on_gpu(function: F) -> F:
    """On a Hugging Face Space with ZeroGPU (the `spaces` package installed) run `function` with a GPU
    attached (`spaces.GPU`); elsewhere it runs as it is."""
    try:
        import spaces
    except ImportError:
        return function
    return spaces.GPU(function)


def prompt_text(prompt: str | None, name: str = "prompt") -> str:
    """A cleaned prompt; an over-long one is cut, with a warning shown in the app (not through the
    `warnings` module, whose filters are process-wide and the server is threaded)."""
    text = visible_prompt("" if prompt is None else prompt, name)
    cut = shortened(text)
    if cut != text:
        gr.Warning(cut_message(text, cut))
    return cut


def checked_int(value: float | int | None, name: str, low: int, high: int) -> int:
    """An integer setting from a slider or number box, within its bounds."""
    if value is None or isinstance(value, bool) or not float(value).is_integer() or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number in {low}..{high}, got {value!r}")
    return int(value)


def mesh_output(field: RadianceField, name: str, resolution: int) -> Path:
    """A one-object field → its `.glb`, named after `name`, in a fresh temporary folder that Gradio
    serves from."""
    resolution = checked_int(resolution, "resolution", *RESOLUTION_RANGE)
    folder = Path(tempfile.mkdtemp(prefix="amortized3d-"))
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "object"
    return export_rendered_surface(field, folder / f"{stem}.glb", resolution)


def object_outputs(field: RadianceField, name: str, resolution: int) -> tuple[str, str]:
    """A one-object field → (`.glb` path, turntable `.mp4` path beside it)."""
    mesh = mesh_output(field, name, resolution)
    video = save_video(render_turntable(field, num_frames=VIDEO_FRAMES, size=VIDEO_SIZE), mesh.with_suffix(".mp4"))
    return str(mesh), str(video)
