"""Tab: interpolation along a path of two or more prompts. Between two stops ATT3D mixes their text
embeddings, `(1-α)·c1 + α·c2`, and makes the object at any α in one pass; PIL walks the straight line
between the two objects' latents (each prompt through its nearest training scene). α runs over the
whole path, each leg taking an equal share. Moving the α slider redraws the object at once (on release);
the animation, which sweeps α from 0 to 1 while orbiting, is a separate action."""

from __future__ import annotations

import gradio as gr
import numpy as np

from nerf.checks import check_alpha
from nerf.video import save_video, sweep_frames
from webui import outputs
from webui.methods import PATH, chosen
from webui.models import Models
from webui.outputs import (
    DEFAULT_FACES,
    DEFAULT_RESOLUTION,
    FACES_RANGE,
    RESOLUTION_RANGE,
    STORE,
    checked_int,
    file_stem,
    mesh_file,
    on_gpu,
    prompt_text,
    result_components,
    user_errors,
)

METHODS = tuple(PATH)  # the model choice's labels
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


def object_at(models: Models, first: str, second: str, more: str | None, alpha: float, model: str, resolution: int,
              faces: int) -> tuple[str, str, str]:  # fmt: skip
    """(viewer `.glb`, download `.glb`, mesh statistics) of the object at α along the path."""
    texts = path_prompts(first, second, more)
    alpha = check_alpha(alpha)
    method = chosen(PATH, model, "model")
    mesh = mesh_file(("interpolation", method.name, method.source(models), tuple(texts), alpha),
                     lambda: method.path(models, texts, np.array([alpha])), f"{' to '.join(texts)} {alpha:.2f}",
                     resolution, faces)  # fmt: skip
    return str(mesh.path), str(mesh.path), mesh.stats()


def animation(models: Models, first: str, second: str, more: str | None, model: str, frames: int) -> str:
    """An `.mp4` sweeping α over the whole path from 0 to 1 while orbiting (one object per frame)."""
    texts = path_prompts(first, second, more)
    frames = checked_int(frames, "frames", *FRAMES)
    method = chosen(PATH, model, "model")

    def make(folder):
        sweep = method.path(models, texts, np.linspace(0.0, 1.0, frames))
        return save_video(sweep_frames(sweep, size=outputs.VIDEO_SIZE), folder / f"{file_stem(' to '.join(texts))}.mp4")

    key = ("animation", method.name, method.source(models), tuple(texts), frames, outputs.VIDEO_SIZE)
    return str(STORE.get_or_make(key, make))


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            first = gr.Textbox(label="From", placeholder="a red cube", max_lines=2)
            second = gr.Textbox(label="To", placeholder="a blue sphere", max_lines=2)
            more = gr.Textbox(label="Then (optional: more prompts, one per line)", lines=2,
                              placeholder="a green torus")  # fmt: skip
            method = gr.Radio(list(METHODS), value=METHODS[0], label="Model")
            button = gr.Button("Interpolate", variant="primary")
            alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="α along the path (0: first, 1: last); "
                              "moving it redraws the object")  # fmt: skip
            with gr.Accordion("Settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
                faces = gr.Slider(*FACES_RANGE, value=DEFAULT_FACES, step=1000, label="Most faces")
                frames = gr.Slider(*FRAMES, value=24, step=1, label="Animation frames")
            animate = gr.Button("Make the animation (α from 0 to 1)")
            gr.Examples(EXAMPLES, [first, second, more, alpha, method])
        with gr.Column():
            viewer, download, stats, video = result_components("Object at α", "α from 0 to 1")

    def interpolate(first: str, second: str, more: str, alpha: float, model: str, resolution: int, faces: int):
        return object_at(models, first, second, more, alpha, model, resolution, faces)

    def animate_path(first: str, second: str, more: str, model: str, frames: int):
        return animation(models, first, second, more, model, frames)

    run = on_gpu(user_errors(interpolate), duration=20)
    inputs, outputs_ = [first, second, more, alpha, method, resolution, faces], [viewer, download, stats]
    button.click(run, inputs, outputs_, api_name="interpolate")
    alpha.release(run, inputs, outputs_, api_name=False)  # the live slider: the object at the new α
    animate.click(on_gpu(user_errors(animate_path), duration=60), [first, second, more, method, frames], video,
                  api_name="animate")  # fmt: skip
