"""The Gradio app: text → 3D, image → 3D, interpolation and DreamFusion warm start, each result as an
interactive 3D view and a `.glb` to download at once, then a turntable video.

    python app.py                                   # the bundled toy models, offline, on a CPU
    python app.py --att3d user/att3d-sd --pil ./runs/pil/toy --guidance stable-diffusion-v1-5/stable-diffusion-v1-5

Model sources also come from `AMORTIZED3D_ATT3D`, `AMORTIZED3D_PIL`, `AMORTIZED3D_GUIDANCE` (a Hub repo
id or a local folder; "toy" by default); Gradio reads `GRADIO_SERVER_NAME` and `GRADIO_SERVER_PORT`.
On a Hugging Face Space with ZeroGPU (the `spaces` package present) each tab's work runs under
`spaces.GPU`. Models load once, on first use; the queue bounds how many requests run at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry by default

import gradio as gr

from webui import image_to_3d, interpolation, text_to_3d, warm_start
from webui.cache import clean_gradio_copies
from webui.models import Models, ModelSources

CONCURRENCY = 2  # requests a CPU serves at once; more only queue up behind each other's threads
QUEUE_SIZE = 64
# Gradio's copies of uploads and results: every 10 minutes, those older than an hour are deleted (and all of
# them when the app stops); the app's own files are bounded by webui.outputs.STORE
CLEAN_CACHE = (600, 3600)


def build_app(models: Models, clean_cache: tuple[float, float] = CLEAN_CACHE) -> gr.Blocks:
    with gr.Blocks(title="Amortized 3D", analytics_enabled=False) as app:
        gr.Markdown("# Amortized 3D\nText or image → 3D in one forward pass (ATT3D, Prompt2NeRF-PIL), "
                    "or per-prompt score distillation warm-started from them.")  # fmt: skip
        with gr.Tab("Text → 3D"):
            text_to_3d.build(models)
        with gr.Tab("Image → 3D"):
            image_to_3d.build(models)
        with gr.Tab("Interpolation"):
            interpolation.build(models)
        with gr.Tab("DreamFusion warm start"):
            warm_start.build(models)
    clean_gradio_copies(app, *clean_cache)
    return app.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def exit_on_sigterm() -> None:
    """Containers and process managers stop a server with SIGTERM, whose default action ends the process
    without running `atexit`: make it a normal exit instead, so the result folder and Gradio's copies of
    its files are removed (`webui.cache`) rather than left in the temporary directory, one per start."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> None:
    sources = ModelSources.from_environment()
    parser = argparse.ArgumentParser(description="Serve the Gradio app.")
    parser.add_argument("--att3d", default=sources.att3d, help="ATT3D model: 'toy', a folder or a Hub repo id")
    parser.add_argument("--pil", default=sources.pil, help="PIL model: 'toy', a folder or a Hub repo id")
    parser.add_argument("--guidance", default=sources.guidance, help="diffusion model of the warm-start tab")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = parser.parse_args(argv)
    models = Models(ModelSources(args.att3d, args.pil, args.guidance), args.device)
    exit_on_sigterm()
    build_app(models).launch()


if __name__ == "__main__":
    main()
