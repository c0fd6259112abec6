"""The app served from this process on a free local port, for what talks to it over HTTP or looks at it in
a browser: the app and browser tests and the load and browser benchmarks."""

from __future__ import annotations

import shutil
import socket

import gradio as gr


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch_locally(app: gr.Blocks) -> str:
    """Start serving `app` without blocking; returns its URL. `app.close()` stops it."""
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


# root in a container needs --no-sandbox; swiftshader is WebGL without a GPU, so the 3D viewer draws
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]


def chromium_path() -> str | None:
    """Debian's `chromium` (Playwright drives it; it downloads no browser of its own), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")
