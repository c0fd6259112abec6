"""Tab: image → 3D in one forward pass of PIL: the upload's CLIP embedding → aligner → VAE → NeRF.
The object comes first (viewer, download, mesh statistics); its turntable follows in a chained event.

The example images are views of objects PIL never trained on (its test split), rendered by the toy
world's ground-truth renderer: `python -m webui.image_to_3d` writes them again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr

from pil.images import load_image
from webui.models import Models
from webui.outputs import (
    DEFAULT_FACES,
    DEFAULT_RESOLUTION,
    FACES_RANGE,
    RESOLUTION_RANGE,
    mesh_file,
    on_gpu,
    result_components,
    turntable_video,
    user_errors,
)

EXAMPLES_FOLDER = Path(__file__).resolve().parent / "examples"
PREVIEW_HEIGHT = 192  # pixels on the page
# held-out objects (seeds ending in 9: the test split); `python -m toyworld.gallery --examples webui/examples`
# renders them
EXAMPLE_OBJECTS = (("chair", 9), ("airplane", 19), ("lamp", 29), ("car", 39))


def example_images() -> list[str]:
    return [str(EXAMPLES_FOLDER / f"{category}-{seed}.png") for category, seed in EXAMPLE_OBJECTS]


def generate(models: Models, image: str | None, resolution: int, faces: int) -> tuple[str, str, str]:
    """(viewer `.glb`, download `.glb`, mesh statistics) of the object in `image` (a file path)."""
    if image is None:
        raise ValueError("no image: upload a picture of one object, or pick an example")
    name = Path(image).name  # the user's own file name (Gradio keeps it), never the server's folder
    picture = load_image(image, name=repr(name))  # refuses non-images and decompression bombs, saying why
    pipe = models.pil()
    digest = hashlib.sha256(picture.tobytes()).hexdigest()
    mesh = mesh_file(("pil-image", models.sources.pil, digest), lambda: pipe(image=picture).field, Path(name).stem,
                     resolution, faces)  # fmt: skip
    return str(mesh.path), str(mesh.path), mesh.stats()


def preview(image: str | None) -> dict:
    """The picked image, shown (a readable one; the loader's error comes with Generate)."""
    try:
        return gr.update(value=load_image(image), visible=True) if image else gr.update(value=None, visible=False)
    except (ValueError, FileNotFoundError):
        return gr.update(value=None, visible=False)


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            # a file, not gr.Image: our loader, not Gradio's, decides what is an image and says why not
            image = gr.File(label="Image of one object (PNG, JPEG, WebP, ...)", file_types=["image"], type="filepath")
            shown = gr.Image(label="Your image", interactive=False, height=PREVIEW_HEIGHT, visible=False)
            with gr.Accordion("Mesh settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Resolution")
                faces = gr.Slider(*FACES_RANGE, value=DEFAULT_FACES, step=1000, label="Most faces")
            button = gr.Button("Generate", variant="primary")
            gr.Examples(example_images(), [image])
        with gr.Column():
            viewer, download, stats, video = result_components()

    def image_to_3d(image: str | None, resolution: int, faces: int):
        return generate(models, image, resolution, faces)

    run = on_gpu(user_errors(image_to_3d), duration=20)
    event = button.click(run, [image, resolution, faces], [viewer, download, stats], api_name="image_to_3d")
    event.success(user_errors(turntable_video), download, video, api_name=False)
    image.change(preview, image, shown, api_name=False)
