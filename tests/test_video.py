"""Turntable frames, video files and the demo command."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from nerf import demo
from nerf.analytic import SDFField, sphere_sdf
from nerf.video import render_turntable, save_image_grid, save_video


def test_turntable_frames_show_the_object_from_all_sides() -> None:
    # a ball that is red on the +X side and blue on the -X side: the colour in the centre turns with the orbit
    field = SDFField(
        [(sphere_sdf((0.3, 0.0, 0.0), 0.4), (1.0, 0.0, 0.0)), (sphere_sdf((-0.3, 0.0, 0.0), 0.4), (0.0, 0.0, 1.0))]
    )
    frames = render_turntable(field, num_frames=4, size=32, elevation_deg=0.0, shading="albedo")
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.uint8
    centre = frames[:, 16, 16].astype(int)
    assert centre[1, 0] > 200 and centre[1, 2] < 50, "at azimuth 90° the camera sits on +X and sees red"
    assert centre[3, 2] > 200 and centre[3, 0] < 50, "at azimuth 270° it sees blue"
    assert (frames[:, 0, 0] == 255).all(), "corners show the white background"


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_videos_round_trip(tmp_path: Path, suffix: str) -> None:
    frames = np.zeros((6, 21, 30, 3), np.uint8)
    frames[:, :, :15] = (200, 40, 40)
    for index in range(6):  # distinct frames: GIF writers merge identical ones
        frames[index, :, 20 + index] = 255
    path = save_video(frames, tmp_path / f"turntable{suffix}", fps=6)
    loaded = iio.imread(path)
    assert loaded.shape[0] == 6 and abs(loaded.shape[1] - 21) <= 1 and loaded.shape[2] == 30
    assert np.abs(loaded[..., :3].astype(int)[:, 10, 5] - (200, 40, 40)).max() < 16


def test_bad_video_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.mp4, \.gif"):
        save_video(np.zeros((1, 4, 4, 3), np.uint8), tmp_path / "a.avi")
    with pytest.raises(ValueError, match="uint8"):
        save_video(np.zeros((1, 4, 4, 3), np.float32), tmp_path / "a.gif")
    with pytest.raises(ValueError, match=r"size must be 16\.\.2048"):
        render_turntable(SDFField([(sphere_sdf(), (1.0, 1.0, 1.0))]), size=4)


def test_demo_writes_a_glb_and_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demo.main(["--out", str(tmp_path), "--resolution", "48", "--frames", "2"])
    printed = capsys.readouterr().out
    assert str(tmp_path / "demo.glb") in printed and str(tmp_path / "demo.mp4") in printed
    mesh = trimesh.load(tmp_path / "demo.glb", force="mesh")
    assert mesh.is_watertight and mesh.extents.max() == pytest.approx(1.0)
    with pytest.raises(SystemExit):
        demo.main(["--out", str(tmp_path), "--resolution", "4096"])
    assert "resolution must be 32..512, got 4096" in capsys.readouterr().err


def test_image_grid_tiles_rows_and_columns(tmp_path) -> None:
    images = torch.zeros(2, 3, 4, 5, 3)
    images[1, 2, :, :, 0] = 1.0  # the bottom-right tile is red
    images[0, 1, 0, 0] = torch.tensor([0.0, 128 / 255, 1.0])
    grid = np.asarray(Image.open(save_image_grid(images, tmp_path / "sub" / "grid.png")))
    assert grid.shape == (8, 15, 3)
    assert (grid[4:, 10:, 0] == 255).all() and grid[:4, :10].sum() == 128 + 255
    assert grid[0, 5].tolist() == [0, 128, 255]
    with pytest.raises(ValueError, match="rows, cols"):
        save_image_grid(images[0], tmp_path / "bad.png")
