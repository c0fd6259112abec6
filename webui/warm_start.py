"""Tab: per-prompt DreamFusion (score distillation from the diffusion model), from scratch or warm-started
from PIL's or ATT3D's one-pass object, with live progress and renders; stoppable at any step.

The optimisation runs in-process in a worker thread (`train.dreamfusion.dreamfusion`); its per-step
callback reports progress to this tab's generator and raises once the user presses Stop, which ends
the run at that step."""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
from PIL import Image

from train.dreamfusion import DreamFusionConfig, DreamFusionResult, dreamfusion
from webui.models import Models
from webui.outputs import (
    DEFAULT_RESOLUTION,
    RESOLUTION_RANGE,
    checked_int,
    object_outputs,
    on_gpu,
    prompt_text,
    result_components,
    user_errors,
)

INITS = ("scratch", "PIL", "ATT3D")
ITERATIONS = (10, 2000)
SEEDS = (0, 2**31 - 1)
UPDATE_SECONDS = 0.5
PREVIEW_HEIGHT = 192  # pixels on the page
EXAMPLES = [["a pink chair", "PIL", 100], ["a red cube", "ATT3D", 100], ["a red cube", "scratch", 200]]


class RunStopped(Exception):
    """Raised inside the optimisation's step callback when the user stops the run."""


def start_field(models: Models, init: str, text: str):
    """The field to start from: None (DreamFusion's own), or PIL's / ATT3D's object, owning its weights."""
    if init == "scratch":
        return None
    if init == "PIL":
        return models.pil()(text=text).field.owned()
    if init == "ATT3D":
        return models.att3d()(text).field.owned()
    raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")


def latest_render(folder: Path) -> Image.Image | None:
    """The run's newest strip of renders, enlarged with square pixels: at the diffusion model's
    resolution (tens of pixels) it would show as a speck."""
    renders = sorted((folder / "renders").glob("step_*.png"))
    if not renders:
        return None
    image = Image.open(renders[-1]).convert("RGB")
    scale = max(1, PREVIEW_HEIGHT // image.height)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def run(models: Models, prompt: str, init: str, iterations: int, seed: int, resolution: int):
    """Yields (status, latest render, `.glb`, turntable video) as the run goes."""
    text = prompt_text(prompt)
    iterations = checked_int(iterations, "iterations", *ITERATIONS)
    seed = checked_int(seed, "seed", *SEEDS)
    resolution = checked_int(resolution, "resolution", *RESOLUTION_RANGE)
    start = start_field(models, init, text)
    config = DreamFusionConfig(steps=iterations, seed=seed, render_every=max(5, iterations // 20),
                               checkpoint_every=iterations,
                               backbone="mlp" if init == "PIL" else "voxel")  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="amortized3d-run-"))
    steps: queue.Queue[int] = queue.Queue()
    stop, outcome = threading.Event(), {}

    def on_step(step: int, total: int) -> None:
        if stop.is_set():
            raise RunStopped
        steps.put(step)

    def work() -> None:
        try:
            outcome["result"] = dreamfusion(text, models.guidance(), folder, config, init_from=start, progress=False,
                                            on_step=on_step, export=False, video=False)  # fmt: skip
        except BaseException as error:  # handed to the generator, which raises it in the request
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        step, shown = 0, float("-inf")  # the first step is reported at once
        while worker.is_alive() or not steps.empty():
            with contextlib.suppress(queue.Empty):
                step = steps.get(timeout=UPDATE_SECONDS / 2)
            # updates at a steady pace: a Stop (which Gradio delivers between updates) is felt at once
            if time.monotonic() - shown >= UPDATE_SECONDS:
                yield f"step {step} / {iterations}", latest_render(folder), None, None
                shown = time.monotonic()
    finally:
        stop.set()  # the user left or pressed Stop: end the run at its next step
        worker.join()
    if "error" in outcome:
        raise outcome["error"]
    result: DreamFusionResult = outcome["result"]
    mesh, video = object_outputs(result.field, text, resolution)
    status = f"done: {result.steps} steps in {result.seconds:.0f} s from {init}"
    yield status, latest_render(folder), mesh, video


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", placeholder="a pink chair", max_lines=2)
            init = gr.Radio(list(INITS), value="PIL", label="Start from")
            iterations = gr.Slider(*ITERATIONS, value=100, step=10, label="Iterations")
            with gr.Accordion("Settings", open=False):
                seed = gr.Number(value=0, precision=0, minimum=SEEDS[0], maximum=SEEDS[1], label="Seed")
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
            with gr.Row():
                button = gr.Button("Optimise", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            gr.Examples(EXAMPLES, [prompt, init, iterations])
        with gr.Column():
            status = gr.Markdown()
            preview = gr.Image(label="Latest renders", interactive=False, height=PREVIEW_HEIGHT)
            viewer, download, video = result_components()

    @on_gpu
    @user_errors
    def stream(*values):
        yield from run(models, *values)

    event = button.click(stream, [prompt, init, iterations, seed, resolution],
                         [status, preview, download, video], api_name="warm_start")  # fmt: skip
    # the viewer is filled after the stream ends: a gr.Model3D that is a streaming event's output draws nothing
    event.success(lambda mesh: mesh, download, viewer, api_name=False)
    stop.click(None, None, None, cancels=[event], api_name=False)
