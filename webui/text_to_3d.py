"""Tab: text → 3D in one forward pass, by ATT3D or by PIL through the training scene nearest to the text."""

from __future__ import annotations

import gradio as gr

from nerf.field import BoundField
from webui.models import Models
from webui.outputs import (
    DEFAULT_RESOLUTION,
    RESOLUTION_RANGE,
    object_outputs,
    on_gpu,
    prompt_text,
    result_components,
    user_errors,
)

METHODS = ("ATT3D", "PIL (nearest training scene)")
EXAMPLES = [["a red cube", "ATT3D"], ["a green torus", "ATT3D"], ["a blue star", "ATT3D"],
            ["a yellow chair", METHODS[1]]]  # fmt: skip


def generate(models: Models, prompt: str, method: str, resolution: int) -> tuple[str, str, str, str]:
    """(viewer `.glb`, download `.glb`, turntable video, a note on what was made)."""
    text = prompt_text(prompt)
    if method == METHODS[0]:
        generation = models.att3d()(text)
        field = BoundField(generation.field.base, generation.field.params[:1])
        note = "" if generation.in_distribution[0] else f"Words unknown to the model: {generation.unknown_words[0]}"
    elif method == METHODS[1]:
        generation = models.pil()(text=text)
        field, note = generation.field, f"Nearest training scene: *{generation.nearest[0]}*"
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    mesh, video = object_outputs(field, text, resolution)
    return mesh, mesh, video, note


def build(models: Models) -> None:
    """The tab's components and events (inside a `gr.Blocks`)."""
    with gr.Row():
        with gr.Column():
            prompt = gr.Textbox(label="Prompt", placeholder="a red cube", max_lines=2)
            method = gr.Radio(list(METHODS), value=METHODS[0], label="Model")
            resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
            button = gr.Button("Generate", variant="primary")
            gr.Examples(EXAMPLES, [prompt, method])
        with gr.Column():
            viewer, download, video = result_components()
            note = gr.Markdown()
    run = on_gpu(user_errors(lambda p, m, r: generate(models, p, m, r)))
    inputs, outputs = [prompt, method, resolution], [viewer, download, video, note]
    button.click(run, inputs, outputs, api_name="text_to_3d")
    prompt.submit(run, inputs, outputs, api_name=False)
