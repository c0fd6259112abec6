"""Loading a user's image prompt for image-to-3D, safely, at the boundary (the CLI and the Gradio app).

`load_image` takes whatever the user gives (a path, the uploaded bytes, or a PIL image) and returns an
8-bit RGB image, or raises `FileNotFoundError` / `ValueError` with a message that says what was wrong.
Uploads are untrusted, so:

- sizes are checked before any work: the file size with `stat` before reading, and the pixel count from
  the header (`Image.open(...).size`) before decoding, so a small file that declares a huge image (a
  decompression bomb) is refused without allocating it;
- no Pillow exception escapes: a file that is not an image, or is truncated, becomes a `ValueError`;
- every mode Pillow can produce ends up as RGB with the right values: 16-bit and 32-bit grayscale are
  scaled by their bit depth (not clipped), float images by their range, and alpha is composited onto a
  flat grey (what the image-to-3D models saw in training) rather than dropped;
- the EXIF orientation is applied (phone photos are stored sideways), and an animated image gives its
  first frame.

Resizing and cropping are the caller's job. `image_to_tensor` turns the result into a `[3, H, W]` tensor.
"""

from __future__ import annotations

import contextlib
import io
import numbers
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from PIL import Image, ImageOps

MAX_IMAGE_PIXELS = 40_000_000  # refuse bigger images before decoding them (decompression bombs)
MAX_FILE_BYTES = 50 * 1024 * 1024

_FORMATS = "PNG, JPEG, WebP, GIF, BMP, TIFF, …"
# What Pillow's openers, plugins and decoders raise on malformed input: they are not consistent, and
# a broken upload must become one clear ValueError rather than a traceback.
_DECODE_ERRORS = (
    OSError,  # includes PIL.UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    zlib.error,
)
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def load_image(
    source: str | Path | bytes | PIL.Image.Image, background: float = 0.8, name: str | None = None
) -> PIL.Image.Image:
    """Any image the user gives -> an 8-bit RGB PIL image.

    source: a path to an image file, the file's bytes, or a PIL image (opened lazily or not).
    background: the grey, 0..1, that transparent pixels are composited onto (0.8 -> 204).
    name: what the messages call the file (default: its path); a server names the user's own file.
    Raises FileNotFoundError for a missing path and ValueError for anything else that is wrong: a
    directory, a file or image too large, something that is not a readable image, a bad `background`.
    """
    if isinstance(background, bool) or not isinstance(background, numbers.Real) or not 0 <= background <= 1:
        raise ValueError(f"background must be a grey level in [0, 1], got {background!r}")
    grey = round(255 * background)

    if isinstance(source, PIL.Image.Image):
        return _decode(source, "the image", grey)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        _check_file_size(len(data), "the image data")
        return _open_and_decode(io.BytesIO(data), "the image data", grey)
    if isinstance(source, str | Path):
        path = Path(source).expanduser()
        name = repr(str(path)) if name is None else name
        if not path.exists():
            raise FileNotFoundError(f"image file not found: {name}")
        if path.is_dir():
            raise ValueError(f"{name} is a directory, not an image file")
        _check_file_size(path.stat().st_size, name)
        return _open_and_decode(path, name, grey)
    raise TypeError(f"source must be a path, bytes or a PIL image, got {type(source).__name__}")


def image_to_tensor(image: PIL.Image.Image) -> torch.Tensor:
    """An RGB PIL image (from `load_image`) -> a float32 tensor `[3, H, W]` in [0, 1]."""
    if image.mode != "RGB":
        raise ValueError(f"image must be RGB (pass it through load_image first), got mode {image.mode!r}")
    array = np.array(image, dtype=np.float32) / 255.0  # [H, W, 3], a copy torch may own
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _check_file_size(n_bytes: int, name: str) -> None:
    if n_bytes > MAX_FILE_BYTES:
        raise ValueError(
            f"{name} is {n_bytes / 2**20:.1f} MiB, more than the limit of {MAX_FILE_BYTES / 2**20:.0f} MiB"
        )


def _not_readable(name: str, error: BaseException, fp: Path | io.BytesIO | None = None) -> ValueError:
    """Pillow's reason, with the file called `name` where Pillow names its path (a server's upload
    folder is nobody's business)."""
    reason = str(error)
    if isinstance(fp, Path):
        reason = reason.replace(repr(str(fp)), name).replace(str(fp), name)
    return ValueError(f"{name} is not a readable image ({_FORMATS}): {type(error).__name__}: {reason}")


def _open_and_decode(fp: Path | io.BytesIO, name: str, grey: int) -> PIL.Image.Image:
    try:
        # Pillow warns above its own limit (~89 Mpx), looser than ours, which `_decode` checks from the
        # header. Warning filters are process-wide (not thread-safe to change per call), so they stay as set.
        image = Image.open(fp)
    except Image.DecompressionBombError as error:  # > 2x Pillow's limit: refused before we see the size
        raise ValueError(f"{name} is too large to decode ({error}); the limit is {MAX_IMAGE_PIXELS:,} pixels") from None
    except _DECODE_ERRORS as error:
        raise _not_readable(name, error, fp) from None
    with image:
        return _decode(image, name, grey)


def _decode(image: PIL.Image.Image, name: str, grey: int) -> PIL.Image.Image:
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"{name} is {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS:,} pixels; refusing to decode it"
        )
    if width < 1 or height < 1:
        raise ValueError(f"{name} is empty ({width}x{height})")
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)  # animated GIF / WebP / APNG: the first frame is the prompt
        image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"{name} is too large to decode ({error}); the limit is {MAX_IMAGE_PIXELS:,} pixels") from None
    except _DECODE_ERRORS as error:
        raise _not_readable(name, error) from None

    # A broken EXIF block should not refuse an image whose pixels decoded fine: keep it as stored.
    with contextlib.suppress(*_DECODE_ERRORS):
        image = ImageOps.exif_transpose(image)
    return _to_rgb(image, name, grey)


def _to_rgb(image: PIL.Image.Image, name: str, grey: int) -> PIL.Image.Image:
    mode = image.mode
    if mode.startswith("I;16"):  # 16-bit grayscale (PNG, TIFF): 65535 -> 255
        return _grey_to_rgb(np.asarray(image, dtype=np.float64) / 257.0)
    if mode == "I":
        values = np.asarray(image, dtype=np.float64)
        # Mode "I" does not record the source's bit depth; in practice it holds widened 16-bit data
        # (Pillow's older 16-bit PNG decoding, `convert("I")` of I;16), so scale as 16-bit when it fits.
        scale = 257.0 if values.min() >= 0 and values.max() <= 65535 else (2**31 - 1) / 255.0
        return _grey_to_rgb(values / scale)
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        values = np.clip(values, 0.0, None)
        peak = values.max()
        if peak > 1.0:  # not a [0, 1] image: an HDR or raw-count image, shown relative to its brightest pixel
            values = values / peak
        return _grey_to_rgb(values * 255.0)

    try:
        if mode == "La":
            image = image.convert("LA")  # Pillow converts premultiplied La to nothing else
        if image.mode in _ALPHA_MODES or "transparency" in image.info:
            return _composite(image.convert("RGBA"), grey)
        return image.convert("RGB")
    except ValueError as error:  # a mode Pillow cannot convert
        raise ValueError(f"{name} has image mode {mode!r}, which cannot be converted to RGB: {error}") from None


def _grey_to_rgb(values: np.ndarray) -> PIL.Image.Image:
    """values: [H, W] in 0..255 (anything outside is clipped) -> RGB."""
    grey = np.rint(np.clip(values, 0.0, 255.0)).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))


def _composite(rgba: PIL.Image.Image, grey: int) -> PIL.Image.Image:
    pixels = np.asarray(rgba, dtype=np.float64)  # [H, W, 4]
    alpha = pixels[:, :, 3:] / 255.0
    rgb = pixels[:, :, :3] * alpha + grey * (1.0 - alpha)
    return Image.fromarray(np.rint(rgb).astype(np.uint8))
