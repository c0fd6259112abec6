"""Tab: text → 3D in one forward pass, by ATT3D or by PIL through the training scene nearest to the text
(`webui/methods.py`).

The object comes first (viewer, download, mesh statistics); its turntable follows in a chained event."""

from __future__ import annotations

import random

import gradio as gr

from toyworld.prompts import Prompt, find_prompt
from webui.methods import TEXT, chosen
from webui.models import Models
from webui.outputs import (
    DEFAULT_FACES,
    DEFAULT_RESOLUTION,
    FACES_RANGE,
    RESOLUTION_RANGE,
    mesh_file,
    on_gpu,
    prompt_text,
    result_components,
    turntable_video,
    user_errors,
)

METHODS = tuple(TEXT)  # the model choice's labels
# single objects, a stack and a chair the bundled ATT3D model never trained on (held out), and PIL
EXAMPLES = [["a red cube", "ATT3D"], ["a green torus", "ATT3D"], ["a blue cone on top of a yellow cube", "ATT3D"],
            ["a pink chair", "ATT3D"], ["a yellow chair", METHODS[1]]]  # fmt: skip


def generate(models: Models, prompt: str, model: str, resolution: int, faces: int) -> tuple[str, str, str, str]:
    """(viewer `.glb`, download `.glb`, mesh statistics, a note on what was made)."""
    text = prompt_text(prompt)
    method = chosen(TEXT, model, "model")
    note = method.note(models, text)
    key = (method.name, method.source(models), text)
    mesh = mesh_file(key, lambda: method.field(models, text), text, resolution, faces)
    return str(mesh.path), str(mesh.path), mesh.stats(), note


def vocabulary(models: Models) -> str:
    """What the ATT3D model was trained to say, so a visitor need not guess: the toy world's grammar that its
    training prompts cover (single objects, stacks, category objects, each with its words), else the words
    of its training prompts (a model trained on prompts of its own)."""
    kinds = prompts_by_kind(models.training_prompts())
    if not kinds:
        words = models.att3d().model.config.training_words
        return f"**The ATT3D model knows these words:** {', '.join(words)}" if words else ""
    lines = ["**The ATT3D model was trained on:**"]
    for kind, pattern, heads in (("single", "a {colour} {shape}", "shapes"),
                                 ("stack", "a {colour} {shape} on top of a {colour} {shape}", "shapes"),
                                 ("category", "a {colour} {object}, with details", "objects")):  # fmt: skip
        if kind in kinds:
            colours = sorted({colour for prompt in kinds[kind] for colour, _ in prompt.parts})
            names = sorted({name for prompt in kinds[kind] for _, name in prompt.parts})
            line = f"- *{pattern}*: colours {', '.join(colours)}; {heads} {', '.join(names)}"
            detailed = [prompt.text for prompt in kinds[kind] if " with " in prompt.text]
            lines.append(line + (f' (e.g. "{min(detailed, key=len)}")' if detailed else ""))
    return "\n".join(lines)


def prompts_by_kind(texts: tuple[str, ...] | list[str]) -> dict[str, list[Prompt]]:
    """The toy-world prompts among `texts` by kind ("single", "stack", "category"); empty when any text is
    not a toy-world prompt (a model trained on prompts of its own has no toy grammar)."""
    kinds: dict[str, list[Prompt]] = {}
    for text in texts:
        prompt = find_prompt(text)
        if prompt is None:
            return {}
        kinds.setdefault(prompt.kind, []).append(prompt)
    return kinds


def random_prompt(models: Models) -> str:
    """One of the prompts the ATT3D model was trained on, at random; each kind of toy-world prompt (single
    object, stack, category object) as often as the others, so that a model trained on 2,048 stacks and 56
    single objects still shows all three."""
    prompts = models.example_prompts()
    kinds = prompts_by_kind(prompts)
    if kinds:
        return random.choice(kinds[random.choice(sorted(kinds))]).text
    return random.choice(prompts)


def build(models: Models) -> None:
    """The tab's components and events (inside a `gr.Blocks`)."""
    with gr.Row():
        with gr.Column():
            with gr.Row():
                prompt = gr.Textbox(label="Prompt", placeholder="a red cube", max_lines=2, scale=4)
                surprise = gr.Button("Random prompt", scale=1, size="sm")
            method = gr.Radio(list(METHODS), value=METHODS[0], label="Model")
            with gr.Accordion("Mesh settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Resolution")
                faces = gr.Slider(*FACES_RANGE, value=DEFAULT_FACES, step=1000, label="Most faces")
            button = gr.Button("Generate", variant="primary")
            gr.Examples(EXAMPLES, [prompt, method])
            gr.Markdown(lambda: vocabulary(models))
        with gr.Column():
            viewer, download, stats, video = result_components()
            note = gr.Markdown(label="note")

    def text_to_3d(prompt: str, model: str, resolution: int, faces: int):
        return generate(models, prompt, model, resolution, faces)

    run = on_gpu(user_errors(text_to_3d), duration=20)
    inputs, outputs = [prompt, method, resolution, faces], [viewer, download, stats, note]
    for trigger, name in ((button.click, "text_to_3d"), (prompt.submit, False)):
        event = trigger(run, inputs, outputs, api_name=name)
        event.success(user_errors(turntable_video), download, video, api_name="turntable" if name else False)
    surprise.click(lambda: random_prompt(models), None, prompt, api_name=False)
