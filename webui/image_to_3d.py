"""Tab: image → 3D in one forward pass of PIL: the upload's CLIP embedding → aligner → VAE → NeRF.

The example images are views of objects PIL never trained on (its test split), rendered by the toy
world's ground-truth renderer: `python -m webui.image_to_3d` writes them again."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import torch
from PIL import Image

from nerf.cameras import turntable
from pil.images import load_image
from toyworld.categories import pil_object
from toyworld.render_gt import render_ground_truth
from webui.models import Models
from webui.outputs import DEFAULT_RESOLUTION, RESOLUTION_RANGE, object_outputs, on_gpu, result_components, user_errors

EXAMPLES_FOLDER = Path(__file__).resolve().parent / "examples"
EXAMPLE_OBJECTS = (("chair", 9), ("airplane", 19), ("lamp", 29), ("car", 39))  # seeds ending in 9: test split


def example_images() -> list[str]:
    return [str(EXAMPLES_FOLDER / f"{category}-{seed}.png") for category, seed in EXAMPLE_OBJECTS]


def write_examples() -> list[str]:
    """Render the example views (64×64, lit from the camera's side, 25° up, 30° round from the front)."""
    EXAMPLES_FOLDER.mkdir(exist_ok=True)
    camera = turntable(12, 25.0, 3.0, 45.0, 64, 64)[1:2]
    for (category, seed), path in zip(EXAMPLE_OBJECTS, example_images(), strict=True):
        rgb = render_ground_truth(pil_object(category, seed).field(), camera, supersample=2).rgb[0]
        Image.fromarray((rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(path)
    return example_images()


def generate(models: Models, image: str | None, resolution: int) -> tuple[str, str, str]:
    """(viewer `.glb`, download `.glb`, turntable video) of the object in `image` (a file path)."""
    if image is None:
        raise ValueError("no image: upload a picture of one object, or pick an example")
    picture = load_image(image)  # refuses non-images and decompression bombs with a clear message
    generation = models.pil()(image=picture)
    mesh, video = object_outputs(generation.field, Path(image).stem, resolution)
    return mesh, mesh, video


def build(models: Models) -> None:
    with gr.Row():
        with gr.Column():
            # a file, not gr.Image: our loader, not Gradio's, decides what is an image and says why not
            image = gr.File(label="Image of one object (PNG, JPEG, WebP, ...)", file_types=["image"], type="filepath")
            resolution = gr.Slider(*RESOLUTION_RANGE, value=DEFAULT_RESOLUTION, step=16, label="Mesh resolution")
            button = gr.Button("Generate", variant="primary")
            gr.Examples(example_images(), [image])
        with gr.Column():
            viewer, download, video = result_components()
    run = on_gpu(user_errors(lambda i, r: generate(models, i, r)))
    button.click(run, [image, resolution], [viewer, download, video], api_name="image_to_3d")


if __name__ == "__main__":
    print("\n".join(write_examples()))
