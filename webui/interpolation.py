"""Tab: interpolation between two prompts. ATT3D mixes their text embeddings, `(1-α)·c1 + α·c2`, and
makes the object at any α in one pass; PIL walks the straight line between the two objects' latents
(each prompt through its nearest training scene). The animation sweeps α from 0 to 1 while orbiting."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from att3d.generate import check_alpha
from nerf.field import BoundField
from nerf.video import save_video, sweep_frames
from webui import outputs
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

METHODS = ("ATT3D", "PIL (latent walk between nearest scenes)")
FRAMES = (8, 96)
EXAMPLES = [["a red cube", "a blue sphere", 0.5, "ATT3D"], ["a green cone", "a yellow torus", 0.3, "ATT3D"]]


def generate(models: Models, first: str, second: str, alpha: float, method: str, resolution: int, frames: int):
    """(viewer `.glb` at α, download `.glb`, animation over α ∈ [0, 1])."""
    texts = [prompt_text(first, "first prompt"), prompt_text(second, "second prompt")]
    alpha = check_alpha(alpha)
    frames = checked_int(frames, "frames", *FRAMES)
    alphas = np.linspace(0.0, 1.0, frames)
    if method == METHODS[0]:
        pipe = models.att3d()
        at_alpha, sweep = pipe.interpolate(*texts, [alpha]), pipe.interpolate(*texts, alphas)
    elif method == METHODS[1]:
        pipe = models.pil()
        ends = [pipe(text=t) for t in texts]
        at_alpha, sweep = pipe.interpolate(*ends, [alpha]), pipe.interpolate(*ends, alphas)
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    field = BoundField(at_alpha.field.base, at_alpha.field.params[:1])
    mesh, _ = object_outputs(field, f"{texts[0]} to {texts[1]} {alpha:.2f}", resolution)
    animation = Path(tempfile.mkdtemp(prefix="amortized3d-")) / "interpolation.mp4"
    save_video(sweep_frames(sweep.field, size=outputs.VIDEO_SIZE), animation)
    return mesh, mesh, str(animation)


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            first = gr.Textbox(label="From", placeholder="a red cube", max_lines=2)
            second = gr.Textbox(label="To", placeholder="a blue sphere", max_lines=2)
            alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="α (0: from, 1: to)")
            method = gr.Radio(list(METHODS), value=METHODS[0], label="Model")
            with gr.Accordion("Settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
                frames = gr.Slider(*FRAMES, value=24, step=1, label="Animation frames")
            button = gr.Button("Interpolate", variant="primary")
            gr.Examples(EXAMPLES, [first, second, alpha, method])
        with gr.Column():
            viewer, download, video = result_components("Object at α", "α from 0 to 1")
    run = on_gpu(user_errors(lambda *values: generate(models, *values)))
    inputs = [first, second, alpha, method, resolution, frames]
    button.click(run, inputs, [viewer, download, video], api_name="interpolate")
