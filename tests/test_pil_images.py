"""`pil.images.load_image`: every input the user may give becomes 8-bit RGB with the right pixel values, or a
clear FileNotFoundError / ValueError; no Pillow exception escapes.

Test images are built in tmp_path with Pillow and numpy. Files Pillow cannot write (a 16-bit-per-channel
RGB PNG, a PNG whose header declares a huge image) are written byte by byte with `_png`.

What Pillow cannot represent: there is no 16-bit-per-channel RGB(A) mode. Pillow decodes a 48-bit RGB PNG
(and a 64-bit RGBA one) straight to 8-bit "RGB"/"RGBA" by keeping each sample's high byte, so 0x80FF gives
128, where dividing by 257 would give 129: the low byte is gone before `load_image` sees the pixels. The tests
pin that behaviour; only single-channel 16-bit images ("I;16*") reach us at full depth and are divided by 257.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, UnidentifiedImageError, features

from pil import images
from pil.images import MAX_FILE_BYTES, MAX_IMAGE_PIXELS, image_to_tensor, load_image

GREY = 204  # round(255 * 0.8), the default background
RED, BLUE = (255, 0, 0), (0, 0, 255)


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG file by hand: rows are the raw scanlines, each already prefixed by its filter byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def _save(tmp_path: Path, image: Image.Image, name: str, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _assert_clean_value_error(excinfo: pytest.ExceptionInfo) -> None:
    """Exactly ValueError: not an OSError / UnidentifiedImageError / DecompressionBombError from Pillow."""
    assert type(excinfo.value) is ValueError
    assert not isinstance(excinfo.value, (OSError, UnidentifiedImageError, Image.DecompressionBombError))


# ----- paths and sizes -----


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match=r"image file not found: .*nope\.png"):
        load_image(missing)
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        load_image(str(missing))


def test_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_image(tmp_path)


def test_file_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written

    def no_open(*args, **kwargs):
        raise AssertionError("the file was opened before its size was checked")

    monkeypatch.setattr(images.Image, "open", no_open)
    with pytest.raises(ValueError, match=r"is 50\.0 MiB, more than the limit of 50 MiB") as excinfo:
        load_image(path)
    _assert_clean_value_error(excinfo)


def test_bytes_too_large_are_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 10)
    with pytest.raises(ValueError, match=r"the image data is .* MiB, more than the limit"):
        load_image(b"\x89PNG" + bytes(100))


def test_one_by_one_image_loads(tmp_path):
    path = _save(tmp_path, Image.new("RGB", (1, 1), (10, 20, 30)), "one.png")
    image = load_image(path)
    assert image.size == (1, 1)
    assert _pixels(image)[0, 0].tolist() == [10, 20, 30]


# ----- not images -----


def _truncated_png(tmp_path: Path) -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _save(tmp_path, Image.fromarray(noise), "noise.png").read_bytes()
    return data[: len(data) // 2]


def _truncated_jpeg(tmp_path: Path) -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _save(tmp_path, Image.fromarray(noise), "noise.jpg", quality=95).read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp_path: b"hello, this is a text file\n",
        lambda tmp_path: np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        lambda tmp_path: b"",
        _truncated_png,
        _truncated_jpeg,
        lambda tmp_path: b"\x89PNG\r\n\x1a\n" + bytes(40),  # a PNG signature and garbage
    ],
    ids=["text", "random", "empty", "truncated-png", "truncated-jpeg", "bad-png-header"],
)
def test_not_an_image_is_a_clean_value_error(tmp_path, make):
    data = make(tmp_path)
    path = tmp_path / "upload.png"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"upload\.png' is not a readable image \(PNG, JPEG, WebP") as excinfo:
        load_image(path)
    _assert_clean_value_error(excinfo)
    with pytest.raises(ValueError, match=r"the image data is not a readable image \(PNG, JPEG") as excinfo:
        load_image(data)
    _assert_clean_value_error(excinfo)


def test_truncated_file_opened_lazily_by_the_caller(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(_truncated_png(tmp_path))
    with Image.open(path) as lazy, pytest.raises(ValueError, match="the image is not a readable image") as excinfo:
        load_image(lazy)  # opens fine; fails only when the pixels are decoded
    _assert_clean_value_error(excinfo)


def test_wrong_source_type():
    with pytest.raises(TypeError, match="source must be a path, bytes or a PIL image, got int"):
        load_image(3)  # type: ignore[arg-type]


# ----- decompression bombs -----


def _bomb(width: int, height: int) -> bytes:
    """A 1-bit PNG whose header declares width x height but whose data holds one row: a few hundred bytes."""
    return _png(width, height, 1, 0, b"\x00" + bytes((width + 7) // 8))


@pytest.mark.parametrize("width, height", [(8000, 6000), (10000, 10000)])  # under / over Pillow's own warning
def test_decompression_bomb_is_refused_from_the_header(tmp_path, width, height):
    pillow_limit = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb(width, height))
    assert path.stat().st_size < 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # Pillow's own, above ~89 Mpx
        for source in (path, path.read_bytes()):
            with pytest.raises(ValueError, match=rf"{width}x{height} = .* more than the limit of 40,000,000") as e:
                load_image(source)
            _assert_clean_value_error(e)
    assert pillow_limit == Image.MAX_IMAGE_PIXELS  # the global is left alone
    assert width * height > MAX_IMAGE_PIXELS


def test_decompression_bomb_beyond_pillows_hard_limit(tmp_path):
    # 20000 x 20000 is more than twice Pillow's limit: Image.open itself raises DecompressionBombError.
    with pytest.raises(ValueError, match=r"too large to decode .* the limit is 40,000,000 pixels") as excinfo:
        load_image(_bomb(20000, 20000))
    _assert_clean_value_error(excinfo)


def test_bomb_check_applies_to_a_lazily_opened_image(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb(8000, 6000))
    with Image.open(path) as lazy, pytest.raises(ValueError, match="8000x6000"):
        load_image(lazy)


# ----- modes -----


def test_rgba_composited_onto_grey():
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 128], [10, 20, 30, 255]]], dtype=np.uint8)
    out = _pixels(load_image(Image.fromarray(rgba)))
    assert out[0, 0].tolist() == [GREY, GREY, GREY]
    expected_half = [255 * 128 / 255 + GREY * 127 / 255, GREY * 127 / 255, GREY * 127 / 255]  # 229.6, 101.6
    assert np.abs(out[0, 1] - np.array(expected_half)).max() <= 1
    assert out[0, 2].tolist() == [10, 20, 30]


@pytest.mark.parametrize("background, value", [(0.0, 0), (1.0, 255), (0.5, 128), (1, 255)])
def test_background_level(background, value):
    transparent = Image.new("RGBA", (2, 2), (255, 0, 0, 0))
    assert _pixels(load_image(transparent, background=background)).tolist() == [[[value] * 3] * 2] * 2


@pytest.mark.parametrize("background", [-0.1, 1.5, float("nan"), True, "0.8"])
def test_background_is_validated(background):
    with pytest.raises(ValueError, match=r"background must be a grey level in \[0, 1\]"):
        load_image(Image.new("RGB", (1, 1)), background=background)


def test_grayscale_l_and_la():
    assert _pixels(load_image(Image.new("L", (2, 1), 77))).tolist() == [[[77] * 3] * 2]
    la = Image.new("LA", (2, 1), (100, 255))
    la.putpixel((1, 0), (100, 0))
    assert _pixels(load_image(la)).tolist() == [[[100] * 3, [GREY] * 3]]
    la_premultiplied = Image.new("La", (1, 1), (50, 255))
    assert _pixels(load_image(la_premultiplied)).tolist() == [[[50] * 3]]


def test_palette_with_and_without_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    assert _pixels(load_image(palette)).tolist() == [[list(RED), list(BLUE)]]

    path = _save(tmp_path, palette, "palette.png", transparency=1)  # index 1 is transparent (tRNS)
    with Image.open(path) as reopened:
        assert reopened.mode == "P" and reopened.info["transparency"] == 1
    assert _pixels(load_image(path)).tolist() == [[list(RED), [GREY] * 3]]

    gif = _save(tmp_path, palette, "palette.gif", transparency=1)
    assert _pixels(load_image(gif)).tolist() == [[list(RED), [GREY] * 3]]


def test_palette_alpha_mode_pa():
    pa = Image.new("PA", (1, 1), (0, 0))
    pa.putpalette([255, 0, 0] * 256)
    assert _pixels(load_image(pa)).tolist() == [[[GREY] * 3]]


def test_rgb_png_with_a_transparent_colour_key(tmp_path):
    image = Image.fromarray(np.array([[RED, BLUE]], dtype=np.uint8))
    path = _save(tmp_path, image, "key.png", transparency=BLUE)
    assert _pixels(load_image(path)).tolist() == [[list(RED), [GREY] * 3]]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_16_bit_grayscale_scaled_by_bit_depth(mode):
    values = np.array([[65535, 32896, 0, 257]], dtype=np.uint16)
    byte_order = ">" if mode == "I;16B" else "<"
    image = Image.frombytes(mode, (4, 1), values.astype(f"{byte_order}u2").tobytes())
    assert np.asarray(image).tolist() == values.tolist()
    assert _pixels(load_image(image))[0, :, 0].tolist() == [255, 128, 0, 1]  # divided by 257, not clipped


def test_16_bit_grayscale_png_file(tmp_path):
    image = Image.fromarray(np.array([[65535, 32896]], dtype=np.uint16))
    assert image.mode == "I;16"
    path = _save(tmp_path, image, "gray16.png")
    with Image.open(path) as reopened:
        assert reopened.mode == "I;16"
    out = _pixels(load_image(path))
    assert out[0, :, 0].tolist() == [255, 128] and (out == out[:, :, :1]).all()


def test_32_bit_integer_grayscale():
    as_16_bit = Image.fromarray(np.array([[65535, 32896, 0]], dtype=np.int32))
    assert as_16_bit.mode == "I"
    assert _pixels(load_image(as_16_bit))[0, :, 0].tolist() == [255, 128, 0]
    full_range = Image.fromarray(np.array([[2**31 - 1, 2**30, 70000, -5]], dtype=np.int32))
    assert _pixels(load_image(full_range))[0, :, 0].tolist() == [255, 128, 0, 0]


def test_float_images():
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0, -0.5]], dtype=np.float32))
    assert unit.mode == "F"
    assert _pixels(load_image(unit))[0, :, 0].tolist() == [0, 128, 255, 0]  # clipped to [0, 1]
    hdr = Image.fromarray(np.array([[0.0, 2.0, 4.0, float("nan")]], dtype=np.float32))
    assert _pixels(load_image(hdr))[0, :, 0].tolist() == [0, 128, 255, 0]  # scaled by the max


def test_cmyk():
    cmyk = Image.new("CMYK", (3, 1))
    for x, value in enumerate([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)]):
        cmyk.putpixel((x, 0), value)
    assert _pixels(load_image(cmyk)).tolist() == [[[255, 255, 255], [0, 255, 255], [0, 0, 0]]]


def test_bilevel(tmp_path):
    bilevel = Image.new("1", (2, 1), 0)
    bilevel.putpixel((1, 0), 1)
    assert _pixels(load_image(bilevel)).tolist() == [[[0] * 3, [255] * 3]]
    assert _pixels(load_image(_save(tmp_path, bilevel, "bilevel.png"))).tolist() == [[[0] * 3, [255] * 3]]


def test_16_bit_per_channel_rgb_png():
    # Pillow keeps the high byte of each 16-bit sample (see the module docstring): 0x80FF -> 128, not 129.
    rows = b"\x00" + struct.pack(">6H", 65535, 32896, 257, 0x80FF, 0, 65535)
    image = load_image(_png(2, 1, 16, 2, rows))
    assert _pixels(image).tolist() == [[[255, 128, 1], [128, 0, 255]]]


def test_16_bit_per_channel_rgba_png_composited():
    rows = b"\x00" + struct.pack(">8H", 65535, 0, 0, 65535, 65535, 0, 0, 0)
    assert _pixels(load_image(_png(2, 1, 16, 6, rows))).tolist() == [[list(RED), [GREY] * 3]]


# ----- animation, orientation, input kinds -----


def _animated_formats() -> list[str]:
    return ["GIF", "PNG"] + (["WEBP"] if features.check("webp") else [])


@pytest.mark.parametrize("format", _animated_formats())
def test_animated_image_gives_its_first_frame(tmp_path, format):
    frames = [Image.new("RGB", (4, 4), colour) for colour in (RED, BLUE, (0, 255, 0))]
    path = tmp_path / f"anim.{format.lower()}"
    extra = {"lossless": True} if format == "WEBP" else {}
    frames[0].save(path, format=format, save_all=True, append_images=frames[1:], duration=100, **extra)
    with Image.open(path) as reopened:
        assert getattr(reopened, "n_frames", 1) == 3
        reopened.seek(2)  # a caller's image left on a later frame still gives the first one
        assert (_pixels(load_image(reopened)) == RED).all()
    assert (_pixels(load_image(path)) == RED).all()


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((16, 32, 3), dtype=np.uint8)  # stored 32 wide x 16 high: left half red, right half blue
    stored[:, :16] = RED
    stored[:, 16:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = _save(tmp_path, Image.fromarray(stored), "phone.jpg", exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (16, 32)  # width and height swapped
    pixels = _pixels(image)
    assert np.abs(pixels[2, 8] - RED).max() < 40  # the left of the stored image is now at the top
    assert np.abs(pixels[-3, 8] - BLUE).max() < 40


def test_bytes_and_open_image_inputs_match_the_file(tmp_path):
    rgba = Image.new("RGBA", (3, 2), (255, 0, 0, 128))
    path = _save(tmp_path, rgba, "half.png")
    from_path = _pixels(load_image(path))
    from_bytes = _pixels(load_image(path.read_bytes()))
    from_bytearray = _pixels(load_image(bytearray(path.read_bytes())))
    with Image.open(path) as lazy:
        from_lazy = _pixels(load_image(lazy))
    from_memory = _pixels(load_image(rgba))
    for other in (from_bytes, from_bytearray, from_lazy, from_memory):
        assert np.array_equal(from_path, other)
    assert np.abs(from_path[0, 0] - [229.6, 101.6, 101.6]).max() <= 1


def test_input_image_is_not_modified():
    rgba = Image.new("RGBA", (2, 2), (255, 0, 0, 0))
    out = load_image(rgba)
    assert out is not rgba and rgba.mode == "RGBA" and rgba.getpixel((0, 0)) == (255, 0, 0, 0)
    rgb = Image.new("RGB", (2, 2), RED)
    assert load_image(rgb) is not rgb


# ----- image_to_tensor -----


def test_image_to_tensor():
    image = Image.fromarray(np.array([[[255, 0, 51], [0, 128, 255]]], dtype=np.uint8))
    tensor = image_to_tensor(image)
    assert tensor.shape == (3, 1, 2) and tensor.dtype == torch.float32
    expected = torch.tensor([[[1.0, 0.0]], [[0.0, 128 / 255]], [[0.2, 1.0]]])
    assert torch.allclose(tensor, expected)
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0


def test_image_to_tensor_wants_rgb():
    with pytest.raises(ValueError, match=r"must be RGB .* got mode 'RGBA'"):
        image_to_tensor(Image.new("RGBA", (1, 1)))
