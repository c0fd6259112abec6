"""Image or text → 3D in one forward pass of Prompt2NeRF-PIL: CLIP embedding → aligner → 14 token
latents → VAE decoder → MLP NeRF weights.

    python -m pil.generate --image chair.png -o chair.glb                     # framed as training views are
    python -m pil.generate --image photo.jpg --remove-background -o x.glb     # a photo (needs rembg)
    python -m pil.generate --text "a red chair" -o chair.glb                  # via the nearest training scene
    python -m pil.generate --text "a red chair" --text-mode direct -o c.glb   # the text embedding itself

    from pil.generate import PILPipeline
    pipe = PILPipeline.from_pretrained()        # the bundled toy model; or a Hub repo id / folder
    result = pipe(image="chair.png")            # or pipe(text="a red chair")
    pipe.export(result, "chair.glb")

Text prompts go, by default, through the training scene whose views are nearest to the text in CLIP
space, and that scene's view embedding drives the aligner (the paper's route: CLIP's text and image
embeddings sit apart, so a text embedding is far from anything the aligner was trained on). The
direct route feeds the text embedding itself.

An image is framed first (`pil/framing.py`): the object found against its background, recentred and
scaled to the training views' framing, on the toy world's grey; `frame=False` feeds the picture as it is.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import Tensor

from guidance.clip import load_clip
from guidance.prompts import clean_prompt
from hub.source import model_folder
from nerf.export import MESH_FORMATS, check_export_resolution, export_rendered_surface
from nerf.field import BoundField
from nerf.interpolation import interpolate, interpolation_weights
from nerf.mlp_nerf import MLPNeRF
from pil.aligner import Aligner
from pil.framing import frame_image, remove_background
from pil.images import load_image
from pil.vae import WeightVAE
from pil.views import encode_pixels
from toyworld.clip import normalise

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "toy-pil"
SETTINGS_FILE, SCENES_FILE, SCENE_RECORDS_FILE = "pil.json", "scenes.safetensors", "scenes.json"
TextMode = Literal["nearest", "direct"]
TEXT_MODES: tuple[str, ...] = ("nearest", "direct")
IMAGE_SOURCE = str | Path | bytes | Image.Image


@dataclass
class PILGeneration:
    """Objects made in one forward pass: `field` holds one object per prompt."""

    field: BoundField
    latents: Tensor  # [B, 14, latent]: the aligner's prediction (for interpolation)
    prompts: list[str]  # what was asked: "image" or the text
    nearest: list[str | None]  # for text through the nearest scene: that scene's caption
    pictures: list[Image.Image | None] | None = None  # for an image: the picture the model saw (framed)


class PILPipeline:
    """A trained VAE and aligner, the CLIP they read, and the training scenes' view embeddings.

    Its folder (written by `save_pretrained`, read by `from_pretrained`, nowhere else): `vae/` and
    `aligner/` (Hub layout each), `scenes.safetensors` (the view embeddings, fp16) with `scenes.json` (one
    record per scene), and `pil.json` (the CLIP's source and the image size the model saw)."""

    def __init__(
        self,
        vae: WeightVAE,
        aligner: Aligner,
        clip: str | Path,
        scenes: Tensor,
        scene_records: list[dict],
        device: str | torch.device = "cpu",
        image_size: int = 64,
    ) -> None:
        self.clip_source, self.image_size = str(clip), image_size
        self.vae = vae.eval().to(device)
        self.aligner = aligner.eval().to(device)
        self.clip, self.preprocess, self.tokenizer = load_clip(clip, device)
        self.nerf = MLPNeRF(vae.config.mlp, num_objects=None).to(device)
        self.scenes = torch.nn.functional.normalize(scenes.float(), dim=-1).to(device)  # [N, V, embed]
        self.scene_records = scene_records  # per training scene: category, seed, caption, colour
        self.captions = [record["caption"] for record in scene_records]
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, source: str | Path = "toy", device: str | torch.device = "cpu") -> PILPipeline:
        """The model from "toy" (bundled), a local folder or a Hub repo id (`vae/`, `aligner/`, scenes, pil.json)."""
        folder = model_folder(source, BUNDLED)
        if not (folder / SETTINGS_FILE).exists():
            raise FileNotFoundError(
                f"{folder} is not a PIL model folder (no {SETTINGS_FILE}); train one with train.pil"
            )
        settings = json.loads((folder / SETTINGS_FILE).read_text())
        scenes = load_file(folder / SCENES_FILE)["embeddings"]
        records = json.loads((folder / SCENE_RECORDS_FILE).read_text())
        return cls(WeightVAE.from_pretrained(folder / "vae"), Aligner.from_pretrained(folder / "aligner"),
                   settings["clip"], scenes, records, device, settings.get("image_size", 64))  # fmt: skip

    def save_pretrained(self, folder: str | Path, half: bool = False) -> Path:
        """Write the pipeline where `from_pretrained` reads it (`half`: VAE and aligner weights in fp16)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, model in (("vae", self.vae), ("aligner", self.aligner)):
            copy.deepcopy(model).to(torch.float16 if half else torch.float32).save_pretrained(folder / name)
        save_file({"embeddings": self.scenes.half().cpu().contiguous()}, folder / SCENES_FILE)
        (folder / SCENE_RECORDS_FILE).write_text(json.dumps(self.scene_records, indent=1))
        settings = {"clip": self.clip_source, "image_size": self.image_size}
        (folder / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))
        return folder

    # --- embeddings ---
    @staticmethod
    def picture(
        image: IMAGE_SOURCE, frame: bool = True, remove_backdrop: bool = False, name: str | None = None
    ) -> Image.Image:
        """What the model is shown of a user's image: loaded safely (`pil.images.load_image`, its errors
        naming the image `name` where given), its background removed when asked
        (`pil.framing.remove_background`, needs rembg), and framed. The CLI and the app both show it."""
        picture = load_image(image, name=name)
        picture = remove_background(picture) if remove_backdrop else picture
        return frame_image(picture).image if frame else picture

    @torch.no_grad()
    def image_features(self, image: IMAGE_SOURCE) -> tuple[Tensor, Tensor | None]:
        """Any image the user gives (path, bytes, PIL) → (unit CLIP image embedding `[1, embed]`, and the image
        tower's patch tokens `[1, P, W]` where the aligner reads them, else None)."""
        pixels = self.preprocess(load_image(image)).unsqueeze(0).to(self.device)
        return encode_pixels(self.clip, pixels, self.reads_patches)

    @torch.no_grad()
    def encode_views(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Rendered views, uint8 `[N, 3, H, W]` at the model's image size → what `from_embeddings` reads:
        (unit embeddings `[N, embed]`, patch tokens `[N, P, W]` or None)."""
        return encode_pixels(self.clip, normalise(images.to(self.device)), self.reads_patches)

    @property
    def reads_patches(self) -> bool:
        """Whether the aligner reads an image's patch tokens besides its embedding."""
        return self.aligner.config.patch_tokens > 0

    @torch.no_grad()
    def embed_text(self, text: str) -> Tensor:
        """A prompt → unit CLIP text embedding `[1, embed]`."""
        tokens = self.tokenizer([clean_prompt(text)]).to(self.device)
        return self.clip.encode_text(tokens, normalize=True).float()

    def nearest_scene(self, text_embedding: Tensor) -> tuple[int, Tensor]:
        """(index of the training scene whose views are on average nearest to the text, its view
        embedding nearest to the text `[1, embed]`)."""
        similarity = torch.einsum("nve,e->nv", self.scenes, text_embedding[0])
        scene = int(similarity.mean(1).argmax())
        return scene, self.scenes[scene, similarity[scene].argmax()].unsqueeze(0)

    # --- generation ---
    @torch.no_grad()
    def from_embeddings(self, embeddings: Tensor, patches: Tensor | None = None) -> tuple[BoundField, Tensor]:
        """CLIP embeddings `[B, embed]` (and an image's patch tokens `[B, P, W]`, where the aligner reads them)
        → (field of B objects, their latents `[B, 14, latent]`)."""
        patches = patches.to(self.device) if patches is not None else None
        latents = self.aligner.generate(embeddings.to(self.device), patches)
        return self.decode(latents), latents

    @torch.no_grad()
    def decode(self, latents: Tensor) -> BoundField:
        """Token latents `[B, 14, latent]` → a field of B MLP NeRFs."""
        return self.nerf.bind(self.vae.decode(latents))

    def __call__(self, image: IMAGE_SOURCE | None = None, text: str | None = None,
                 text_mode: TextMode = "nearest", frame: bool = True) -> PILGeneration:  # fmt: skip
        """One object from an image or (exclusive) a text prompt. An image is framed as the training views
        are (`pil.framing.frame_image`) unless `frame` is False; the picture the model saw is returned."""
        if (image is None) == (text is None):
            raise ValueError("give exactly one prompt: an image or a text")
        if image is not None:
            picture = self.picture(image, frame)
            field, latents = self.from_embeddings(*self.image_features(picture))
            return PILGeneration(field, latents, ["image"], [None], [picture])
        if text_mode not in TEXT_MODES:
            raise ValueError(f"text_mode must be one of {', '.join(TEXT_MODES)}, got {text_mode!r}")
        text = clean_prompt(text)
        embedding, nearest = self.embed_text(text), None
        if text_mode == "nearest":
            scene, embedding = self.nearest_scene(embedding)
            nearest = self.captions[scene]
        field, latents = self.from_embeddings(embedding)
        return PILGeneration(field, latents, [text], [nearest])

    @torch.no_grad()
    def interpolate(
        self, first: PILGeneration, second: PILGeneration, alphas: list[float] | np.ndarray
    ) -> PILGeneration:
        """One object per α on the straight line between two generations' latents."""
        alpha = interpolation_weights(alphas, self.device)
        a, b = first.latents[:1], second.latents[:1]
        latents = interpolate(a.expand(len(alpha), -1, -1), b.expand(len(alpha), -1, -1), alpha)
        names = [f"{first.prompts[0]} → {second.prompts[0]} @ {float(x):.2f}" for x in alpha]
        return PILGeneration(self.decode(latents), latents, names, [None] * len(alpha))

    def export(self, generation: PILGeneration, path: str | Path, resolution: int = 128) -> Path:
        """The first object of `generation` as a mesh file (.glb, .obj, .ply) at its rendered surface."""
        field = generation.field
        return export_rendered_surface(field.select(slice(0, 1)), path, resolution)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Image or text → 3D in one forward pass of Prompt2NeRF-PIL.")
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--image", type=Path, help="an image of one object (PNG, JPEG, WebP, ...)")
    prompt.add_argument("--text", help="a text prompt, e.g. 'a red chair'")
    parser.add_argument("-o", "--out", type=Path, required=True, help=f"mesh file ({', '.join(MESH_FORMATS)})")
    parser.add_argument("--text-mode", choices=TEXT_MODES, default="nearest",
                        help="text through the nearest training scene's image embedding, or directly")  # fmt: skip
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid of the mesh (32..512)")
    parser.add_argument("--no-frame", action="store_true",
                        help="feed the image as it is, not framed as the training views are")  # fmt: skip
    parser.add_argument("--remove-background", action="store_true",
                        help="cut a photo's object from its background first (needs the rembg package)")  # fmt: skip
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.out.suffix.lower() not in MESH_FORMATS:
        parser.error(f"--out must end in one of {', '.join(MESH_FORMATS)}, got {args.out.name!r}")
    try:
        check_export_resolution(args.resolution, "--resolution")
    except ValueError as error:
        parser.error(str(error))
    try:
        if args.text is not None:
            clean_prompt(args.text)
        image = None
        if args.image is not None:
            image = PILPipeline.picture(args.image, not args.no_frame, args.remove_background)
        elif args.remove_background or args.no_frame:
            raise ValueError("--remove-background and --no-frame apply to --image only")
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    pipe = PILPipeline.from_pretrained(args.model, args.device)
    started = time.perf_counter()
    generation = pipe(image=image, text=args.text, text_mode=args.text_mode, frame=False)  # framed above
    pipe.export(generation, args.out, args.resolution)
    if generation.nearest[0] is not None:
        print(f"nearest training scene: {generation.nearest[0]!r}")
    print(f"wrote {args.out} in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
