"""What every tab shows for an object: first its `.glb` in the 3D viewer and for download, with a line of
mesh statistics; then, in a chained event, a turntable video rasterized from that very mesh. Also the
checks that turn a user's bad input into a clear `gr.Error` instead of a traceback, and the store that
keeps results (repeat requests are instant) and the disk they use bounded."""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import gradio as gr
import trimesh

from guidance.prompts import cut_message, shortened, visible_prompt
from nerf.export import rendered_surface_mesh, save_mesh
from nerf.field import RadianceField
from nerf.video import mesh_turntable, save_video
from webui.cache import FileStore

RESOLUTION_RANGE = (32, 256)  # marching-cubes grids the app offers (the CLI goes to 512)
DEFAULT_RESOLUTION = 128
FACES_RANGE = (1_000, 200_000)  # the most faces a mesh keeps (quadric decimation)
DEFAULT_FACES = 20_000  # a toy object's full mesh at 128³ has ~60k faces (1.1 MB); 20k look the same in the viewer
VIDEO_FRAMES, VIDEO_SIZE = 24, 128  # turntables and animations
STORE = FileStore(capacity=128)  # the app's result files: the newest 128 results kept, older ones deleted
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
) -> tuple[gr.Model3D, gr.File, gr.Markdown, gr.Video]:
    """The views of a result every tab shows (inside a `gr.Blocks`), in the order they arrive: a 3D
    viewer, the `.glb` to download, a line of mesh statistics, then a video."""
    viewer = gr.Model3D(label=object_label, clear_color=VIEWER_BACKGROUND)
    download = gr.File(label="Download .glb", interactive=False)
    stats = gr.Markdown(label="mesh statistics")
    video = gr.Video(label=video_label, autoplay=True, loop=True, height=VIDEO_HEIGHT)
    return viewer, download, stats, video


def on_gpu(function: F, duration: int | Callable[..., int] = 60) -> F:
    """On a Hugging Face Space with ZeroGPU (the `spaces` package installed) run `function` with a GPU
    attached for at most `duration` seconds (`spaces.GPU`; a callable gets the function's arguments and
    says how long that request needs); elsewhere it runs as it is."""
    try:
        import spaces
    except ImportError:
        return function
    return spaces.GPU(function, duration=duration)


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


@dataclass(frozen=True)
class MeshFile:
    """An exported `.glb` and what the page says about it."""

    path: Path
    faces: int
    vertices: int
    seconds: float

    def stats(self) -> str:
        return f"{self.faces:,} faces · {self.vertices:,} vertices · made in {self.seconds:.2f} s"


def file_stem(name: str) -> str:
    """A file name's stem from a prompt or an upload's name: lower-case words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "object"


def mesh_file(
    key: Hashable, make_field: Callable[[], RadianceField], name: str, resolution: int, faces: int
) -> MeshFile:
    """The `.glb` of the one-object field `make_field()` (at most `faces` faces), named after `name`;
    made once per `key` (which must name everything the object depends on) and then served from the store."""
    resolution = checked_int(resolution, "resolution", *RESOLUTION_RANGE)
    faces = checked_int(faces, "faces", *FACES_RANGE)

    def make(folder: Path) -> MeshFile:
        started = time.perf_counter()
        mesh = rendered_surface_mesh(make_field(), resolution, target_faces=faces)
        path = save_mesh(mesh, folder / f"{file_stem(name)}.glb")
        return MeshFile(path, len(mesh.faces), len(mesh.vertices), time.perf_counter() - started)

    return STORE.get_or_make(("mesh", key, resolution, faces), make)


def turntable_video(mesh: str | None) -> str | None:
    """A `.glb` (a path) → a turntable `.mp4` of it, rasterized (well under a second for a toy object);
    None for no mesh (a run that ended without one)."""
    if mesh is None:
        return None
    path = Path(mesh)
    if path.suffix.lower() != ".glb" or not path.is_file():
        raise ValueError(f"a turntable needs a .glb file, got {path.name!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def make(folder: Path) -> Path:
        loaded = trimesh.load(path, file_type="glb", force="mesh")
        return save_video(mesh_turntable(loaded, VIDEO_FRAMES, VIDEO_SIZE), folder / f"{path.stem}.mp4")

    return str(STORE.get_or_make(("turntable", digest, VIDEO_FRAMES, VIDEO_SIZE), make))
