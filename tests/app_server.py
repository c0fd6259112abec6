"""The Gradio app served on 127.0.0.1 for the tests that talk to it over HTTP (`gradio_client`, a browser).

Models: the bundled toy ATT3D and PIL, and a tiny random diffusion model for the warm-start tab (the
tests check the app's plumbing, not the diffusion model's taste). Videos are short and small.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_models import tiny_toy

from app import build_app
from webui import outputs
from webui.local_server import launch_locally
from webui.models import Models, ModelSources


@contextlib.contextmanager
def serving_app(folder: Path, video_frames: int = 2, video_size: int = 32) -> Iterator[str]:
    """Serve the app in this process for the duration of the block; yields its URL. `folder` holds the
    tiny diffusion model."""
    patch = pytest.MonkeyPatch()
    patch.setattr(outputs, "VIDEO_FRAMES", video_frames)
    patch.setattr(outputs, "VIDEO_SIZE", video_size)
    diffusion, _ = tiny_toy(folder / "toy")
    app = build_app(Models(ModelSources(att3d="toy", pil="toy", guidance=str(diffusion)), "cpu"))
    url = launch_locally(app)
    try:
        yield url
    finally:
        app.close()
        patch.undo()
