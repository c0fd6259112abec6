"""Framing a picture the way PIL's training views frame an object, as TripoSR's and SF3D's apps do with
their foreground ratio: an object small in the picture, off-centre, or on a white table becomes an object
at the size and place the aligner learned, on the toy world's grey.

0. A picture larger than `MAX_SIDE` is shrunk to it first (the model sees 64 pixels; an upload may be 40 MP).
1. The background: the median colour of the picture's border, which must be a plain backdrop (at least
   `PLAIN_SHARE` of the border within `tolerance` of it; else a clear error: photograph against a plain
   backdrop, or remove the background first with `remove_background`, the `rembg` package).
2. The object: every pixel that differs from that colour by more than `tolerance` (largest channel
   difference), less specks (connected parts smaller than 1 % of the largest: noise, dust); its bounding
   box.
3. The backdrop becomes the training grey: each pixel is read as a blend of object and background with
   weight `a = min(1, difference / edge)`, and its background share swapped for the grey
   (`pixel + (1 - a)·(grey - background)`); a picture already on the grey is left as it was.
4. The crop: a square around the box, the box's larger side `fill` of the square's side (or, for a range
   `(low, high)`, the object's own share of the picture's shorter side kept when it lies in the range and
   brought to the nearer end when not) and its centre where training views put it (`centre`), padded with
   the grey where it leaves the picture.

`TRAINING_FILL` and `TRAINING_CENTRE` were measured on the training views themselves (`pil/views.py`,
192 renders of the 8 categories: the box's larger side is 0.69 of the frame, median; its centre sits
0.11 of the frame below the middle, as the cameras look down on the objects).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
from PIL import Image
from scipy import ndimage

from toyworld.render_gt import BACKGROUND

TRAINING_FILL = 0.69
TRAINING_CENTRE = (0.5, 0.61)  # (x, y) of the box's centre, as fractions of the frame from its top left
BORDER = 2  # pixels of each edge read as background
PLAIN_SHARE = 0.8  # of the border within tolerance of its median: a plain backdrop
MAX_SIDE = 1024  # pixels: larger pictures are shrunk before framing


@dataclass(frozen=True)
class Framing:
    """A framed picture: `image` (square, the object at the training framing on the grey), where the object
    was in the picture given (`box`: left, top, right, bottom, in pixels of the picture after any shrinking
    to `MAX_SIDE`) and the backdrop's colour there."""

    image: PIL.Image.Image
    box: tuple[int, int, int, int]
    background: tuple[float, float, float]


def object_mask(pixels: np.ndarray, tolerance: float = 0.08) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For RGB pixels `[H, W, 3]` in [0, 1]: (the object's pixels `[H, W]` bool, specks removed; each pixel's
    difference from the background `[H, W]`; the background colour `[3]`, the median of the border). Raises
    ValueError when the border is not a plain backdrop."""
    ring = np.concatenate([pixels[:BORDER].reshape(-1, 3), pixels[-BORDER:].reshape(-1, 3),
                           pixels[:, :BORDER].reshape(-1, 3), pixels[:, -BORDER:].reshape(-1, 3)])  # fmt: skip
    background = np.median(ring, axis=0)
    plain = float((np.abs(ring - background).max(axis=-1) <= tolerance).mean())
    if plain < PLAIN_SHARE:
        raise ValueError(
            f"the picture's border is not a plain backdrop (only {plain:.0%} of it is one colour): photograph the "
            "object against a plain background, or remove the background first (rembg)"
        )
    difference = np.abs(pixels - background).max(axis=-1)
    mask = difference > tolerance
    parts, count = ndimage.label(mask)
    if count > 1:  # keep the object, drop specks of noise or dust
        sizes = np.bincount(parts.ravel())[1:]
        mask = np.isin(parts, 1 + np.nonzero(sizes >= 0.01 * sizes.max())[0])
    return mask, difference, background


def frame_image(
    image: PIL.Image.Image,
    fill: float | tuple[float, float] = TRAINING_FILL,
    centre: tuple[float, float] = TRAINING_CENTRE,
    grey: float = BACKGROUND,
    tolerance: float = 0.08,
    edge: float = 0.25,
) -> Framing:
    """`image` (RGB) framed as the training views are (see the module's docstring). Raises ValueError when
    no object stands out from the picture's border."""
    low, high = (fill, fill) if isinstance(fill, (int, float)) else fill
    if not 0.05 <= low <= high <= 1 or not all(0 <= c <= 1 for c in centre):
        raise ValueError(
            f"fill must be in [0.05, 1] (or a range in it) and centre within [0, 1]², got {fill}, {centre}"
        )
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS)
    pixels = np.asarray(image, dtype=np.float32) / 255
    if min(pixels.shape[:2]) <= 2 * BORDER:
        raise ValueError(f"the image is {pixels.shape[1]}×{pixels.shape[0]} pixels: too small to find an object in")
    mask, difference, background = object_mask(pixels, tolerance)
    if not mask.any():
        raise ValueError(
            "no object found: every pixel is within the border's colour; the image-to-3D model wants one object "
            "in front of a plain background (or remove the photo's background first)"
        )
    rows, columns = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    weight = np.clip(difference / edge, 0, 1)[..., None]
    pixels = np.clip(pixels + (1 - weight) * (grey - background), 0, 1)
    extent = float(max(bottom - top, right - left))
    side = max(round(extent / min(max(extent / min(pixels.shape[:2]), low), high)), 1)
    origin_x = round(float(left + right) / 2 - centre[0] * side)
    origin_y = round(float(top + bottom) / 2 - centre[1] * side)
    canvas = Image.new("RGB", (side, side), (round(grey * 255),) * 3)
    canvas.paste(Image.fromarray(np.rint(pixels * 255).astype(np.uint8)), (-origin_x, -origin_y))
    box = (int(left), int(top), int(right), int(bottom))
    return Framing(canvas, box, tuple(float(c) for c in background))


def remove_background(image: PIL.Image.Image) -> PIL.Image.Image:
    """A photo's background removed by the `rembg` package (U²-Net; it downloads its weights on first use),
    composited onto the training grey. A clear error where `rembg` is not installed."""
    try:
        import rembg
    except ImportError:
        raise ValueError(
            "removing a photo's background needs the rembg package (pip install rembg); without it, photograph "
            "the object in front of a plain backdrop, which framing removes"
        ) from None
    cut = rembg.remove(image.convert("RGB"))  # RGBA, the background transparent
    grey = Image.new("RGB", cut.size, (round(BACKGROUND * 255),) * 3)
    grey.paste(cut, mask=cut.getchannel("A"))
    return grey
