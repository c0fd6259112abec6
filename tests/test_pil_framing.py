"""Framing a user's picture as PIL's training views frame an object (`pil/framing.py`): the object found
against its backdrop, scaled and placed as in training, the backdrop turned into the toy world's grey; in
the pipeline, the CLI and the app."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pil.framing import TRAINING_CENTRE, TRAINING_FILL, frame_image, object_mask, remove_background
from pil.generate import PILPipeline
from pil.generate import main as generate_main
from toyworld.gallery import example_view
from toyworld.render_gt import BACKGROUND

GREY = round(BACKGROUND * 255)


def picture(box: tuple[int, int, int, int], size: int = 96, backdrop: int = GREY) -> Image.Image:
    """A red ellipse with a dark base inside `box` on a plain backdrop."""
    image = Image.new("RGB", (size, size), (backdrop,) * 3)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    draw.ellipse(box, fill=(200, 30, 40))
    draw.rectangle((left + (right - left) // 4, bottom - (bottom - top) // 5, right - (right - left) // 4, bottom),
                   fill=(20, 20, 20))  # fmt: skip
    return image


def object_box(image: Image.Image) -> tuple[int, int, int, int]:
    mask = object_mask(np.asarray(image, dtype=np.float64) / 255)[0]
    rows, columns = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return columns[0], rows[0], columns[-1] + 1, rows[-1] + 1


def test_the_object_is_placed_and_scaled_as_in_training() -> None:
    framing = frame_image(picture((10, 20, 40, 70)))  # small, tall, off to the left
    assert framing.box == (10, 20, 41, 71)
    side = framing.image.size[0]
    left, top, right, bottom = object_box(framing.image)
    assert framing.image.size == (side, side)
    assert max(right - left, bottom - top) / side == pytest.approx(TRAINING_FILL, abs=0.02)
    assert (left + right) / 2 / side == pytest.approx(TRAINING_CENTRE[0], abs=0.02)
    assert (top + bottom) / 2 / side == pytest.approx(TRAINING_CENTRE[1], abs=0.02)


def test_size_place_and_backdrop_do_not_change_what_the_model_sees() -> None:
    reference = np.asarray(frame_image(picture((30, 20, 66, 80))).image.resize((64, 64), Image.LANCZOS), float)
    for other in (picture((5, 5, 23, 35)), picture((50, 30, 86, 90)), picture((30, 20, 66, 80), backdrop=255)):
        seen = np.asarray(frame_image(other).image.resize((64, 64), Image.LANCZOS), float)
        assert np.abs(seen - reference).mean() < 4  # of 255: the same picture, up to resampling


def test_a_white_backdrop_becomes_the_grey_and_the_object_keeps_its_colours() -> None:
    white = Image.fromarray(example_view("mug", 9, 64, background=1.0))
    framed = np.asarray(frame_image(white).image)
    assert (framed[:2] == GREY).all() and (framed[-2:] == GREY).all()
    on_grey = np.asarray(frame_image(Image.fromarray(example_view("mug", 9, 64))).image, float)
    assert framed.shape == on_grey.shape
    assert np.abs(framed - on_grey).mean() < 2  # the same picture: only the fringe's blend differs


def test_a_picture_on_the_grey_is_only_cropped() -> None:
    image = picture((30, 20, 66, 80))
    framing = frame_image(image)
    side, (left, top, right, bottom) = framing.image.size[0], framing.box
    x = round((left + right) / 2 - TRAINING_CENTRE[0] * side)
    y = round((top + bottom) / 2 - TRAINING_CENTRE[1] * side)
    original = np.asarray(image)[top:bottom, left:right]
    assert np.array_equal(np.asarray(framing.image)[top - y : bottom - y, left - x : right - x], original)


def test_specks_and_sensor_noise_do_not_move_the_box() -> None:
    clean = picture((30, 20, 66, 80))
    specked = clean.copy()
    specked.putpixel((90, 6), (0, 0, 0))  # a speck of dust far from the object
    assert frame_image(specked).box == frame_image(clean).box == (30, 20, 67, 81)
    noise = np.random.default_rng(0).normal(0, 5, (96, 96, 3))  # σ = 5 of 255: a camera's, or JPEG's
    noisy = Image.fromarray(np.clip(np.asarray(clean, float) + noise, 0, 255).astype(np.uint8))
    assert np.abs(np.subtract(frame_image(noisy).box, (30, 20, 67, 81))).max() <= 1


def test_a_busy_backdrop_is_refused_with_advice() -> None:
    gradient = np.linspace(0, 255, 96)[None, :, None].repeat(96, 0).repeat(3, 2).astype(np.uint8)
    with pytest.raises(ValueError, match=r"not a plain backdrop.*remove the background"):
        frame_image(Image.fromarray(gradient))


def test_a_huge_upload_is_shrunk_before_framing() -> None:
    huge = picture((600, 400, 1320, 1600), size=2400)
    framing = frame_image(huge)
    assert max(framing.image.size) < 1024 / TRAINING_FILL + 2
    assert framing.box == pytest.approx((256, 171, 564, 683), abs=3)  # the box at the shrunk size, 1024/2400


def test_an_empty_picture_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no object found"):
        frame_image(Image.new("RGB", (64, 64), (255, 255, 255)))
    with pytest.raises(ValueError, match="too small"):
        frame_image(Image.new("RGB", (4, 4)))


def test_background_removal_needs_rembg_and_says_so(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rembg", None)  # not installed
    with pytest.raises(ValueError, match="pip install rembg"):
        remove_background(picture((30, 20, 66, 80)))


def test_background_removal_composites_rembgs_cut_onto_the_grey(monkeypatch) -> None:
    def remove(image: Image.Image) -> Image.Image:  # rembg's contract: RGBA, the background transparent
        cut = image.convert("RGBA")
        alpha = Image.new("L", image.size, 0)
        ImageDraw.Draw(alpha).rectangle((20, 20, 60, 60), fill=255)
        cut.putalpha(alpha)
        return cut

    monkeypatch.setitem(sys.modules, "rembg", types.SimpleNamespace(remove=remove))
    photo = Image.new("RGB", (80, 80), (10, 120, 10))  # a green lawn, all of it "background" but the square
    result = np.asarray(remove_background(photo))
    assert (result[:20] == GREY).all() and (result[30, 30] == (10, 120, 10)).all()


@pytest.fixture(scope="module")
def pipe() -> PILPipeline:
    return PILPipeline.from_pretrained("toy")


def test_the_pipeline_frames_images_and_returns_what_it_saw(pipe: PILPipeline) -> None:
    small = picture((5, 5, 23, 35))
    framed = pipe(image=small)
    assert framed.pictures[0].size == frame_image(small).image.size
    as_given = pipe(image=small, frame=False)
    assert as_given.pictures[0].size == small.size
    assert not np.allclose(framed.latents.numpy(), as_given.latents.numpy())
    assert pipe(text="a red chair").pictures is None


def test_the_command_line_frames_and_refuses_background_removal_without_rembg(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "small.png"
    picture((5, 5, 23, 35)).save(path)
    monkeypatch.setitem(sys.modules, "rembg", None)
    with pytest.raises(SystemExit) as exit_info:
        generate_main(["--image", str(path), "--remove-background", "-o", str(tmp_path / "x.glb")])
    assert exit_info.value.code == 2 and "pip install rembg" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        generate_main(["--text", "a red chair", "--no-frame", "-o", str(tmp_path / "x.glb")])
    assert "apply to --image only" in capsys.readouterr().err
