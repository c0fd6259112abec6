"""Tab: interpolation along a path of two or more prompts. Between two stops ATT3D mixes their text
embeddings, `(1-α)·c1 + α·c2`, and makes the object at any α in one pass; PIL walks the straight line
between the two objects' latents (each prompt through its nearest training scene). α runs over the
whole path, each leg taking an equal share; the animation sweeps it from 0 to 1 while orbiting."""

from __future__ import annotations

import gradio as gr
import numpy as np
import torch

from att3d.generate import check_alpha
from nerf.field import BoundField
from nerf.video import save_video, sweep_frames
from webui import outputs
from webui.models import Models
from webui.outputs import (
    DEFAULT_RESOLUTION,
    RESOLUTION_RANGE,
    checked_int,
    mesh_output,
    on_gpu,
    prompt_text,
    result_components,
    user_errors,
)

METHODS = ("ATT3D", "PIL (latent walk between nearest scenes)")
FRAMES = (8, 96)
MAX_STOPS = 6  # prompts on one path
EXAMPLES = [["a red cube", "a blue sphere", "", 0.5, "ATT3D"], ["a green cone", "a yellow torus", "", 0.3, "ATT3D"],
            ["a red cube", "a blue sphere", "a green torus\na yellow star", 0.5, "ATT3D"]]  # fmt: skip


def path_prompts(first: str, second: str, more: str | None) -> list[str]:
    """The path's stops: the two prompts, then any further ones (one per line of `more`)."""
    texts = [prompt_text(first, "first prompt"), prompt_text(second, "second prompt")]
    texts += [prompt_text(line, "further prompt") for line in (more or "").splitlines() if line.strip()]
    if len(texts) > MAX_STOPS:
        raise ValueError(f"a path has at most {MAX_STOPS} prompts, got {len(texts)}")
    return texts


def legs(alphas: np.ndarray, stops: int) -> list[tuple[int, np.ndarray]]:
    """Path positions α ∈ [0, 1] as (leg k between stops k and k+1, local α on that leg), consecutive
    positions on the same leg grouped, in order (in any order of `alphas`)."""
    position = alphas * (stops - 1)
    leg = np.minimum(position.astype(int), stops - 2)
    runs = np.flatnonzero(np.diff(leg)) + 1
    return [(int(k[0]), p - k[0]) for k, p in zip(np.split(leg, runs), np.split(position, runs), strict=True)]


def walk(models: Models, method: str, texts: list[str], alphas: np.ndarray) -> BoundField:
    """The objects at path positions `alphas`, one per position, in one bound field."""
    if method == METHODS[0]:
        pipe = models.att3d()
        parts = [pipe.interpolate(texts[k], texts[k + 1], local).field for k, local in legs(alphas, len(texts))]
    elif method == METHODS[1]:
        pipe = models.pil()
        stops = [pipe(text=t) for t in texts]
        parts = [pipe.interpolate(stops[k], stops[k + 1], local).field for k, local in legs(alphas, len(texts))]
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return BoundField(parts[0].base, torch.cat([part.params for part in parts]))


def generate(models: Models, first: str, second: str, more: str, alpha: float, method: str, resolution: int,
             frames: int):  # fmt: skip
    """(viewer `.glb` at α, download `.glb`, animation over α ∈ [0, 1])."""
    texts = path_prompts(first, second, more)
    alpha = check_alpha(alpha)
    frames = checked_int(frames, "frames", *FRAMES)
    # one walk (each stop made once): the object at α, then the animation's frames
    objects = walk(models, method, texts, np.concatenate([[alpha], np.linspace(0.0, 1.0, frames)]))
    mesh = mesh_output(BoundField(objects.base, objects.params[:1]), f"{' to '.join(texts)} {alpha:.2f}", resolution)
    sweep = BoundField(objects.base, objects.params[1:])
    animation = save_video(sweep_frames(sweep, size=outputs.VIDEO_SIZE), mesh.with_name("interpolation.mp4"))
    return str(mesh), str(mesh), str(animation)


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            first = gr.Textbox(label="From", placeholder="a red cube", max_lines=2)
            second = gr.Textbox(label="To", placeholder="a blue sphere", max_lines=2)
            more = gr.Textbox(label="Then (optional: more prompts, one per line)", lines=2,
                              placeholder="a green torus")  # fmt: skip
            alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="α along the path (0: first, 1: last)")
            method = gr.Radio(list(METHODS), value=METHODS[0], label="Model")
            with gr.Accordion("Settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
                frames = gr.Slider(*FRAMES, value=24, step=1, label="Animation frames")
            button = gr.Button("Interpolate", variant="primary")
            gr.Examples(EXAMPLES, [first, second, more, alpha, method])
        with gr.Column():
            viewer, download, video = result_components("Object at α", "α from 0 to 1")
    run = on_gpu(user_errors(lambda *values: generate(models, *values)))
    inputs = [first, second, more, alpha, method, resolution, frames]
    button.click(run, inputs, [viewer, download, video], api_name="interpolate")
