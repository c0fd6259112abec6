"""Tab: per-prompt DreamFusion (score distillation from the diffusion model), from scratch or warm-started
from PIL's or ATT3D's one-pass object, with live progress and renders; stoppable at any step.

The optimisation runs in-process in a worker thread (`train.dreamfusion.dreamfusion`); its per-step
callback reports progress to this tab's generator and raises once the user presses Stop, which ends
the run at that step. The run's files live in a temporary folder that goes when the run ends; the final
`.glb` joins the app's bounded store. A run whose object vanished (score distillation can empty a thin
or faint start) ends with one message saying so and what to try, not an error."""

from __future__ import annotations

import contextlib
import queue
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
from PIL import Image

from dreamfusion import DreamFusionConfig, DreamFusionResult, dreamfusion
from nerf.export import EmptyObjectError
from webui.methods import START, chosen
from webui.models import Models
from webui.outputs import (
    DEFAULT_FACES,
    DEFAULT_RESOLUTION,
    FACES_RANGE,
    RESOLUTION_RANGE,
    STORE,
    checked_int,
    mesh_file,
    on_gpu,
    prompt_text,
    result_components,
    turntable_video,
    user_errors,
)

INITS = tuple(START)  # where a run may start
ITERATIONS = (10, 2000)
SEEDS = (0, 2**31 - 1)
UPDATE_SECONDS = 0.5
PREVIEW_HEIGHT = 192  # pixels on the page
# each keeps its object with the bundled toy model (tests/test_app.py runs them); on this CPU the first
# two take ~20 s, the scratch run ~50 s, the PIL one ~90 s (an MLP's steps cost more). "a pink chair"
# from PIL, the example before, empties within 100 steps.
EXAMPLES = [["a red cube", "ATT3D", 100], ["a green torus", "ATT3D", 100], ["a blue sphere", "scratch", 200],
            ["a red chair", "PIL", 50]]  # fmt: skip


class RunStopped(Exception):
    """Raised inside the optimisation's step callback when the user stops the run."""


def latest_render(folder: Path) -> Image.Image | None:
    """The run's newest strip of renders, enlarged with square pixels: at the diffusion model's
    resolution (tens of pixels) it would show as a speck."""
    renders = sorted((folder / "renders").glob("step_*.png"))
    if not renders:
        return None
    image = Image.open(renders[-1]).convert("RGB")
    scale = max(1, PREVIEW_HEIGHT // image.height)
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def vanished_message(steps: int, init: str) -> str:
    return (f"**The object vanished**: after {steps} steps from {init} no view shows anything. Score distillation "
            "sometimes empties a thin or faint object. Try fewer iterations, another start (ATT3D or PIL), or "
            "another seed.")  # fmt: skip


def run(models: Models, prompt: str, init: str, iterations: int, seed: int, resolution: int, faces: int):
    """Yields (status, latest render, `.glb`, mesh statistics) as the run goes."""
    text = prompt_text(prompt)
    iterations = checked_int(iterations, "iterations", *ITERATIONS)
    seed = checked_int(seed, "seed", *SEEDS)
    resolution = checked_int(resolution, "resolution", *RESOLUTION_RANGE)
    faces = checked_int(faces, "faces", *FACES_RANGE)
    method = chosen(START, init, "init")  # where to start: DreamFusion's own (None) or an amortized object
    start = None if method is None else method.field(models, text).owned()
    config = DreamFusionConfig(steps=iterations, seed=seed, render_every=max(5, iterations // 20),
                               checkpoint_every=iterations,
                               backbone=method.backbone if method else "voxel")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=STORE.root) as scratch:
        folder = Path(scratch)
        steps: queue.Queue[int] = queue.Queue()
        stop, outcome = threading.Event(), {}

        def on_step(step: int, total: int) -> None:
            if stop.is_set():
                raise RunStopped
            steps.put(step)

        def work() -> None:
            try:
                outcome["result"] = dreamfusion(text, models.guidance(), folder, config, init_from=start,
                                                progress=False, on_step=on_step, export=False,
                                                video=False)  # fmt: skip
            except BaseException as error:  # handed to the generator, which raises it in the request
                outcome["error"] = error

        worker = threading.Thread(target=work, daemon=True, name="warm-start run")
        worker.start()
        try:
            step, shown = 0, float("-inf")  # the first step is reported at once
            while worker.is_alive() or not steps.empty():
                with contextlib.suppress(queue.Empty):
                    step = steps.get(timeout=UPDATE_SECONDS / 2)
                # updates at a steady pace: a Stop (which Gradio delivers between updates) is felt at once
                if time.monotonic() - shown >= UPDATE_SECONDS:
                    yield f"step {step} / {iterations}", latest_render(folder), None, ""
                    shown = time.monotonic()
        finally:
            stop.set()  # the user left or pressed Stop: end the run at its next step
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        result: DreamFusionResult = outcome["result"]
        preview = latest_render(folder)
    try:
        mesh = mesh_file(("warm-start", uuid.uuid4().hex), lambda: result.field, text, resolution, faces)
    except EmptyObjectError:
        yield vanished_message(result.steps, init), preview, None, ""
        return
    status = f"done: {result.steps} steps in {result.seconds:.0f} s from {init}"
    yield status, preview, str(mesh.path), mesh.stats()


def gpu_seconds(prompt: str, init: str, iterations: int, *settings) -> int:
    """How long a run may hold a ZeroGPU device: half a second an iteration (a real diffusion model's
    step on a GPU, with margin) and half a minute to load and export; bad input is refused in the run."""
    try:
        return 30 + min(max(int(iterations), ITERATIONS[0]), ITERATIONS[1]) // 2
    except (TypeError, ValueError):
        return 30


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", placeholder="a red cube", max_lines=2)
            init = gr.Radio(list(INITS), value="ATT3D", label="Start from")
            iterations = gr.Slider(*ITERATIONS, value=100, step=10, label="Iterations")
            with gr.Accordion("Settings", open=False):
                seed = gr.Number(value=0, precision=0, minimum=SEEDS[0], maximum=SEEDS[1], label="Seed")
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
                faces = gr.Slider(*FACES_RANGE, value=DEFAULT_FACES, step=1000, label="Most faces")
            with gr.Row():
                button = gr.Button("Optimise", variant="primary")
                stop = gr.Button("Stop", variant="stop")
            gr.Examples(EXAMPLES, [prompt, init, iterations])
        with gr.Column():
            status = gr.Markdown()
            preview = gr.Image(label="Latest renders", interactive=False, height=PREVIEW_HEIGHT)
            viewer, download, stats, video = result_components()

    def warm_start(prompt: str, start: str, iterations: int, seed: int, resolution: int, faces: int):
        yield from run(models, prompt, start, iterations, seed, resolution, faces)

    stream = on_gpu(user_errors(warm_start), duration=gpu_seconds)
    event = button.click(stream, [prompt, init, iterations, seed, resolution, faces],
                         [status, preview, download, stats], api_name="warm_start")  # fmt: skip
    # the viewer is filled after the stream ends: a gr.Model3D that is a streaming event's output draws nothing
    event.success(lambda mesh: mesh, download, viewer, api_name=False)
    event.success(user_errors(turntable_video), download, video, api_name=False)
    stop.click(None, None, None, cancels=[event], api_name=False)
