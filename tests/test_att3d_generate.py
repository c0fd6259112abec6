"""Text → 3D with an ATT3D model: one forward pass to a mesh or an interpolation video, and clear errors
for bad input. Uses an untrained small model over the bundled toy text encoder."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import trimesh
from gltf_validator import validate_gltf

from att3d import ATT3D, ATT3DConfig
from att3d.generate import ATT3DPipeline, main
from evaluation.interpolations import ALPHAS, chain
from guidance import load_text_encoder
from guidance.prompts import MAX_PROMPT_CHARS
from nerf.field import VoxelGridFieldConfig
from nerf.video import sweep_frames


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    config = ATT3DConfig(voxel=VoxelGridFieldConfig(resolution=16), hidden_dim=16, background=0.8,
                         training_words=("a", "an", "red", "blue", "cube", "sphere"))  # fmt: skip
    folder = tmp_path_factory.mktemp("att3d-model")
    ATT3D(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(model_folder: Path) -> ATT3DPipeline:
    return ATT3DPipeline(ATT3D.from_pretrained(model_folder), load_text_encoder("toy", device="cpu"))


def test_one_forward_pass_per_batch_and_the_training_distribution(pipe: ATT3DPipeline) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        known = pipe(["a red cube", "  a   blue sphere "])
    assert known.field.num_objects == 2 and known.prompts == ["a red cube", "a blue sphere"]
    assert known.in_distribution == [True, True]
    with pytest.warns(UserWarning, match="outside the training distribution"):
        unknown = pipe("a purple teapot")
    assert unknown.unknown_words == [["purple", "teapot"]] and unknown.in_distribution == [False]
    assert unknown.field.num_objects == 1  # still an object


def test_pipeline_saves_and_loads_back_in_fp16(pipe: ATT3DPipeline, tmp_path) -> None:
    folder = pipe.save_pretrained(tmp_path / "saved", half=True)
    again = ATT3DPipeline(ATT3D.from_pretrained(folder), pipe.text_encoder)
    assert again.model.config == pipe.model.config
    made, remade = pipe("a red cube").field.params, again("a red cube").field.params
    assert not torch.equal(made, remade)  # fp16 weights ...
    torch.testing.assert_close(remade, made, atol=5e-2, rtol=5e-2)  # ... that make nearly the same object
    assert next(pipe.model.parameters()).dtype == torch.float32  # the pipeline's own model is untouched


def test_bad_prompts_and_settings_are_refused(pipe: ATT3DPipeline, tmp_path) -> None:
    for prompt in ("", "   \n\t"):
        with pytest.raises(ValueError, match="empty"):
            pipe(prompt)
    with pytest.raises(ValueError, match="no prompts"):
        pipe([])
    text = " ".join(["a red cube"] * 60)  # 659 characters
    with pytest.warns(UserWarning, match="the prompt has 659 characters; using the first") as caught:
        long = pipe(text)
    assert len(caught) == 1 and len(long.prompts[0]) <= MAX_PROMPT_CHARS
    assert text.startswith(long.prompts[0] + " ")  # cut at a word boundary
    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
            pipe.interpolate("a red cube", "a blue sphere", [0.5, alpha])
    for resolution in (16, 1024):
        with pytest.raises(ValueError, match=r"resolution must be (an integer in )?32\.\.512"):
            pipe.export("a red cube", tmp_path / "x.glb", resolution=resolution)
    with pytest.raises(ValueError, match="mesh file must end in"):
        pipe.export("a red cube", tmp_path / "x.stl")
    with pytest.raises(ValueError, match="needs both `to`"):
        pipe.export("a red cube", tmp_path / "x.glb", alpha=0.5)


def test_interpolation_ends_are_the_prompts(pipe: ATT3DPipeline) -> None:
    ends = pipe.interpolate("a red cube", "a blue sphere", [0.0, 1.0])
    alone = pipe(["a red cube", "a blue sphere"])
    assert torch.allclose(ends.field.params, alone.field.params, atol=1e-5)
    middle = pipe.interpolate("a red cube", "a blue sphere", [0.5]).field.params[0]
    assert torch.allclose(middle, pipe.model(pipe.embed(["a red cube", "a blue sphere"]).mean(0, keepdim=True))[0])


def test_export_writes_a_valid_glb(pipe: ATT3DPipeline, tmp_path) -> None:
    path = pipe.export("a red cube", tmp_path / "cube.glb", resolution=64)
    mesh = trimesh.load(path, force="mesh")
    assert len(mesh.faces) > 100 and mesh.visual.vertex_colors.shape[0] == len(mesh.vertices)
    halfway = pipe.export("a red cube", tmp_path / "halfway.ply", resolution=32, to="a blue sphere", alpha=0.5)
    assert len(trimesh.load(halfway, force="mesh").faces) > 0


def test_exported_glb_passes_the_khronos_validator(pipe: ATT3DPipeline, tmp_path) -> None:
    report = validate_gltf(pipe.export("a blue sphere", tmp_path / "sphere.glb", resolution=48))
    assert report["issues"]["numErrors"] == 0, report["issues"]["messages"]


def test_sweep_frames_orbit_the_chain(pipe: ATT3DPipeline) -> None:
    generation = pipe.interpolate("a red cube", "a blue sphere", [0.0, 0.25, 0.5, 0.75, 1.0])
    frames = sweep_frames(generation.field, size=32)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype.name == "uint8"


def test_command_line(model_folder: Path, tmp_path, capsys) -> None:
    out = tmp_path / "cube.glb"
    main(["a red cube", "-o", str(out), "--model", str(model_folder), "--resolution", "48"])
    assert out.stat().st_size > 0 and "wrote" in capsys.readouterr().out
    video = tmp_path / "morph.mp4"
    main(["a red cube", "--to", "a blue sphere", "-o", str(video), "--model", str(model_folder), "--frames", "4"])
    assert video.stat().st_size > 0
    main(["a zebra cube", "-o", str(out), "--model", str(model_folder), "--resolution", "32"])
    assert "outside the training distribution" in capsys.readouterr().err
    for argv, message in (
        (["  ", "-o", "x.glb"], "empty"),
        (["a red cube", "-o", "x.glb", "--alpha", "0.5"], "--alpha needs --to"),
        (["a red cube", "-o", "x.glb", "--to", "a blue sphere", "--alpha", "2"], "alpha must be"),
        (["a red cube", "-o", "x.glb", "--resolution", "8"], "--resolution must be 32..512"),
        (["a red cube", "-o", "x.mp4"], "--out must end in one of .glb"),
        (["a red cube", "--to", "a blue sphere", "-o", "x.glb"], "--out must end in one of .mp4"),
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--model", str(model_folder)])
        assert message in capsys.readouterr().err


def test_interpolation_chain_scores(pipe: ATT3DPipeline) -> None:
    images, scores = chain(pipe, "a red cube", "a blue sphere", size=16)
    assert images.shape == (len(ALPHAS), 16, 16, 3)
    assert scores["even_share"] == 1 / (len(ALPHAS) - 1) <= scores["largest_step_share"] <= 1
    assert 0 <= scores["middle_opacity"] <= 1
    _, same = chain(pipe, "a red cube", "a red cube", size=16)
    assert same["largest_step_share"] == same["even_share"]  # no change at all counts as even
