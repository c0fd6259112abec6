"""Tab: image → 3D in one forward pass of PIL: the upload's CLIP embedding → aligner → VAE → NeRF.
The upload is framed first (`pil/framing.py`: the object found against its backdrop, recentred and scaled
as PIL's training views show objects, on the toy world's grey), and the preview shows that framed picture:
what the model sees. A photo's background can be removed first where the `rembg` package is installed.
The object comes first (viewer, download, mesh statistics); its turntable follows in a chained event.

The example images are views of objects PIL never trained on (its test split), rendered by the toy
world's ground-truth renderer: `python -m webui.image_to_3d` writes them again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import gradio as gr
import PIL.Image

from pil.generate import PILPipeline
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


def framed(image: str, remove_backdrop: bool = False) -> PIL.Image.Image:
    """What the model is shown of the uploaded file (`PILPipeline.picture`), its errors naming the user's own
    file name (Gradio keeps it), never the server's folder."""
    return PILPipeline.picture(image, remove_backdrop=remove_backdrop, name=repr(Path(image).name))


def generate(
    models: Models, image: str | None, resolution: int, faces: int, remove_backdrop: bool = False
) -> tuple[str, str, str]:
    """(viewer `.glb`, download `.glb`, mesh statistics) of the object in `image` (a file path)."""
    if image is None:
        raise ValueError("no image: upload a picture of one object, or pick an example")
    picture = framed(image, remove_backdrop)
    pipe = models.pil()
    digest = hashlib.sha256(picture.tobytes() + str(picture.size).encode()).hexdigest()
    mesh = mesh_file(("pil-image", models.sources.pil, digest), lambda: pipe(image=picture, frame=False).field,
                     Path(image).stem, resolution, faces)  # fmt: skip
    return str(mesh.path), str(mesh.path), mesh.stats()


def preview(image: str | None) -> dict:
    """The picked image as the model will see it, framed (a readable one with an object in it; the error
    comes with Generate). A photo whose background is to be removed is shown framed as uploaded."""
    try:
        return gr.update(value=framed(image), visible=True) if image else gr.update(value=None, visible=False)
    except (ValueError, FileNotFoundError):
        return gr.update(value=None, visible=False)


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            # a file, not gr.Image: our loader, not Gradio's, decides what is an image and says why not
            image = gr.File(label="Image of one object (PNG, JPEG, WebP, ...)", file_types=["image"], type="filepath")
            shown = gr.Image(label="Your image, framed as the model will see it", interactive=False,
                             height=PREVIEW_HEIGHT, visible=False)  # fmt: skip
            remove_backdrop = gr.Checkbox(False, label="Remove the photo's background first (needs rembg)")
            with gr.Accordion("Mesh settings", open=False):
                resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Resolution")
                faces = gr.Slider(*FACES_RANGE, value=DEFAULT_FACES, step=1000, label="Most faces")
            button = gr.Button("Generate", variant="primary")
            gr.Examples(example_images(), [image])
        with gr.Column():
            viewer, download, stats, video = result_components()

    def image_to_3d(image: str | None, resolution: int, faces: int, remove_backdrop: bool = False):
        return generate(models, image, resolution, faces, remove_backdrop)

    run = on_gpu(user_errors(image_to_3d), duration=20)
    inputs = [image, resolution, faces, remove_backdrop]
    event = button.click(run, inputs, [viewer, download, stats], api_name="image_to_3d")
    event.success(user_errors(turntable_video), download, video, api_name=False)
    image.change(preview, image, shown, api_name=False)
