"""The Gradio app served on 127.0.0.1 for the tests that talk to it over HTTP (`gradio_client`, a browser).

Models: the bundled toy ATT3D, PIL and diffusion model, as a visitor meets them. Videos are short and small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from app import build_app
from webui import outputs
from webui.local_server import launch_locally
from webui.models import Models, ModelSources


@contextlib.contextmanager
def serving_app(video_frames: int = 2, video_size: int = 32) -> Iterator[str]:
    """Serve the app in this process for the duration of the block; yields its URL."""
    patch = pytest.MonkeyPatch()
    patch.setattr(outputs, "VIDEO_FRAMES", video_frames)
    patch.setattr(outputs, "VIDEO_SIZE", video_size)
    app = build_app(Models(ModelSources(att3d="toy", pil="toy", guidance="toy"), "cpu"))
    url = launch_locally(app)
    try:
        yield url
    finally:
        app.close()
        patch.undo()
