"""Random lit views of a PIL dataset object, rendered from its exact field in DreamFusion's camera
ranges, and their CLIP image embeddings: what PIL's aligner reads in training (`train.pil`) and what its
judge shows it from held-out views (`evaluation.pil`)."""

from __future__ import annotations

import torch
from torch import Tensor

from nerf.cameras import CameraSampling, sample_cameras
from nerf.random import derived_seed
from nerf.render import sample_light_directions
from toyworld.categories import PIL_CATEGORIES, pil_object
from toyworld.clip import normalise
from toyworld.render_gt import render_ground_truth


@torch.no_grad()
def view_images(record: dict, views: int, size: int, seed: int) -> Tensor:
    """`views` random lit renders of a dataset object (DreamFusion's camera ranges): uint8 `[V, 3, H, W]`."""
    object_index = PIL_CATEGORIES.index(record["category"]) * 1_000_000 + record["seed"]
    generator = torch.Generator().manual_seed(derived_seed(seed, object_index))
    cameras = sample_cameras(views, size, size, CameraSampling(), generator)
    light = sample_light_directions(cameras, generator=generator)
    rgb = render_ground_truth(
        pil_object(record["category"], record["seed"]).field(), cameras, light_directions=light
    ).rgb
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 3, 1, 2)


@torch.no_grad()
def embed_images(clip: torch.nn.Module, images: Tensor) -> Tensor:
    """uint8 images `[N, 3, H, W]` → unit CLIP image embeddings `[N, embed]`."""
    return torch.cat(
        [clip.encode_image(normalise(images[i : i + 256]), normalize=True) for i in range(0, len(images), 256)]
    )


@torch.no_grad()
def encode_pixels(clip: torch.nn.Module, pixels: Tensor, patches: bool) -> tuple[Tensor, Tensor | None]:
    """CLIP's input `[N, 3, H, W]` (normalised) → (unit image embeddings `[N, embed]`, and if `patches` the image
    tower's last patch tokens `[N, patches, width]`, its final norm applied, from the same pass: open_clip's
    `forward_intermediates`). The embedding pools the tokens into one vector for matching captions; the
    tokens keep where things are."""
    if not patches:
        return clip.encode_image(pixels, normalize=True).float(), None
    out = clip.visual.forward_intermediates(pixels, indices=1, normalize_intermediates=True, output_fmt="NLC")
    return torch.nn.functional.normalize(out["image_features"], dim=-1).float(), out["image_intermediates"][0].float()


@torch.no_grad()
def embed_images_and_patches(clip: torch.nn.Module, images: Tensor) -> tuple[Tensor, Tensor]:
    """uint8 images `[N, 3, H, W]` → (unit CLIP image embeddings `[N, embed]`, patch tokens `[N, P, W]`)."""
    pairs = [encode_pixels(clip, normalise(images[i : i + 256]), True) for i in range(0, len(images), 256)]
    return torch.cat([e for e, _ in pairs]), torch.cat([p for _, p in pairs])
