"""Per-prompt DreamFusion on tiny random toy models: outputs, exact resume, the convergence criterion,
warm start, the three backbones and the command line's checks. (Whether it makes the right object with
the trained toy model is measured by `python -m evaluation.dreamfusion`, not here.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from safetensors.torch import load_file
from tiny_models import tiny_toy

from att3d.generate import ATT3DPipeline
from dreamfusion import DreamFusionConfig, dreamfusion
from dreamfusion.optimize import ConvergenceMonitor
from dreamfusion.warm_start import load_trained_field
from guidance import load_guidance
from nerf.export import rendered_surface_level, rendered_surface_mesh
from nerf.field import HashGridField, VoxelGridField
from nerf.mlp_nerf import MLPNeRF, MLPNeRFConfig
from nerf.settings import with_overrides
from train import dreamfusion as df

FAST = {"render_every": 2, "checkpoint_every": 2, "num_samples": 16, "export_resolution": 32, "video_frames": 2,
        "video_size": 32}  # fmt: skip


@pytest.fixture(scope="module")
def guidance(tmp_path_factory: pytest.TempPathFactory):
    diffusion, clip = tiny_toy(tmp_path_factory.mktemp("toy"))
    return load_guidance(diffusion, clip=clip, device="cpu", use_cache=False)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "field" / "model.safetensors")


def test_run_writes_field_mesh_renders_and_metrics(guidance, tmp_path: Path) -> None:
    result = dreamfusion("a red cube", guidance, tmp_path, DreamFusionConfig(steps=3, **FAST), progress=False)
    assert result.steps == 3 and result.converged_at is None
    assert isinstance(load_trained_field(tmp_path / "field"), VoxelGridField)
    assert (tmp_path / "model.glb").stat().st_size > 0 and (tmp_path / "turntable.mp4").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["step_00002.png", "step_00003.png"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 3 and metrics["guidance_scale"] == guidance.default_guidance_scale == 7.5
    assert 0 < metrics["surface_level"] < 10.0  # below the blob's peak density, softplus(10)
    field = load_trained_field(tmp_path / "field")  # model.glb is the one export policy of every generator
    assert metrics["surface_level"] == pytest.approx(rendered_surface_level(field), rel=1e-6)
    expected = rendered_surface_mesh(field, 32)
    exported = trimesh.load(tmp_path / "model.glb", force="mesh")
    assert len(exported.faces) == len(expected.faces)
    np.testing.assert_allclose(exported.bounds, expected.bounds, atol=1e-4)
    assert json.loads((tmp_path / "config.json").read_text())["prompt"] == "a red cube"


@pytest.mark.parametrize("backbone", ["voxel", "hashgrid", "mlp"])
def test_resumed_run_equals_an_uninterrupted_one(guidance, tmp_path: Path, backbone: str) -> None:
    config = DreamFusionConfig(steps=4, backbone=backbone, **FAST)
    dreamfusion("a blue sphere", guidance, tmp_path / "straight", config, progress=False, export=False, video=False)

    def interrupt(step: int, total: int) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dreamfusion("a blue sphere", guidance, tmp_path / "resumed", config, progress=False, on_step=interrupt)
    dreamfusion("a blue sphere", guidance, tmp_path / "resumed", config, progress=False, export=False, video=False)
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)
    kinds = {"voxel": VoxelGridField, "hashgrid": HashGridField, "mlp": MLPNeRF}
    assert isinstance(load_trained_field(tmp_path / "resumed" / "field"), kinds[backbone])


def test_convergence_monitor_counts_calm_epochs() -> None:
    monitor = ConvergenceMonitor(resolution=2)
    images = torch.zeros(4, 2, 2, 3)
    assert monitor.update(images, eps=0.1) == float("inf") and int(monitor.calm_epochs) == 0
    assert monitor.update(images + 0.1, eps=0.1) == pytest.approx(0.01) and int(monitor.calm_epochs) == 1
    assert monitor.update(images + 1.1, eps=0.1) == pytest.approx(1.0) and int(monitor.calm_epochs) == 0


def test_convergence_criterion_stops_the_run(guidance, tmp_path: Path) -> None:
    config = DreamFusionConfig(steps=50, converge_epoch=1, converge_eps=1e9, converge_patience=2, **FAST)
    result = dreamfusion("a red cube", guidance, tmp_path, config, progress=False, export=False, video=False)
    # the start is the reference for epoch 1; epochs 1 and 2 are calm: stop after step 2
    assert result.converged_at == 2 and result.steps == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["converged_at"] == 2
    assert [step for step, _ in result.render_changes] == [1, 2] and metrics["render_changes"] == [
        list(pair) for pair in result.render_changes
    ]


def test_render_changes_survive_a_resume(guidance, tmp_path: Path) -> None:
    never = {"converge_epoch": 1, "converge_eps": 1e-30, **FAST}
    straight = dreamfusion("a red cube", guidance, tmp_path / "straight", DreamFusionConfig(steps=4, **never),
                           progress=False, export=False, video=False)  # fmt: skip
    for steps in (2, 4):
        resumed = dreamfusion("a red cube", guidance, tmp_path / "resumed", DreamFusionConfig(steps=steps, **never),
                              progress=False, export=False, video=False)  # fmt: skip
    assert straight.converged_at is None and [step for step, _ in straight.render_changes] == [1, 2, 3, 4]
    assert all(change > 0 for _, change in straight.render_changes)
    assert [step for step, _ in resumed.render_changes] == [1, 2, 3, 4]
    assert [change for _, change in resumed.render_changes] == pytest.approx([c for _, c in straight.render_changes])


def test_warm_start_begins_from_the_given_field(guidance, tmp_path: Path) -> None:
    dreamfusion("a red cube", guidance, tmp_path / "first", DreamFusionConfig(steps=2, **FAST), progress=False,
                export=False, video=False)  # fmt: skip
    tiny_lr = DreamFusionConfig(steps=1, lr=1e-9, **FAST)
    dreamfusion("a red cube", guidance, tmp_path / "warm", tiny_lr, init_from=tmp_path / "first" / "field",
                progress=False, export=False, video=False)  # fmt: skip
    first, warm = weights(tmp_path / "first"), weights(tmp_path / "warm")
    assert torch.allclose(first["grid"], warm["grid"], atol=1e-6) and first["grid"].abs().sum() > 0


def test_warm_start_from_att3d_begins_at_its_output_for_the_prompt(guidance, tmp_path: Path) -> None:
    expected = ATT3DPipeline.from_pretrained()("a red cube").field.params.view(1, 4, *(32,) * 3)
    tiny_lr = DreamFusionConfig(steps=1, lr=1e-9, **FAST)
    result = dreamfusion("a red cube", guidance, tmp_path, tiny_lr, init_from="att3d", progress=False, export=False,
                         video=False)  # fmt: skip
    assert isinstance(result.field, VoxelGridField)
    torch.testing.assert_close(weights(tmp_path)["grid"], expected, atol=1e-6, rtol=0)


def test_warm_start_from_a_field_object_leaves_it_untouched(guidance, tmp_path: Path) -> None:
    start = MLPNeRF(MLPNeRFConfig(hidden_dim=16, num_frequencies=2), num_objects=1)
    before = start.params.detach().clone()
    result = dreamfusion("a red cube", guidance, tmp_path, DreamFusionConfig(steps=2, **FAST), init_from=start,
                         progress=False, export=False, video=False)  # fmt: skip
    assert torch.equal(start.params, before) and not torch.equal(result.field.params.cpu(), before)
    assert json.loads((tmp_path / "config.json").read_text())["init_from"] == "MLPNeRF"


def test_bad_configs_and_prompts_are_refused(guidance, tmp_path: Path) -> None:
    bad_configs = ({"steps": 0}, {"backbone": "mesh"}, {"resolution": 8}, {"t_min": 0.6, "t_max_end": 0.5},
                   {"albedo_probability": 0.9, "textureless_probability": 0.2}, {"guidance_scale": -1.0})  # fmt: skip
    for bad in bad_configs:
        with pytest.raises(ValueError):
            DreamFusionConfig(**bad)
    with pytest.raises(ValueError, match="the prompt is empty"):
        dreamfusion(" \t\x00 ", guidance, tmp_path, DreamFusionConfig(steps=1), progress=False)
    with pytest.warns(UserWarning, match="using the first"):  # cut as the app cuts it, not refused
        dreamfusion("a red cube " * 40, guidance, tmp_path / "long", DreamFusionConfig(steps=1), progress=False)


def test_settings_are_overridden_by_name_and_bad_ones_are_named() -> None:
    base = DreamFusionConfig()
    changed = with_overrides(base, ["tv_weight=0.5", "voxel.blob_radius=0.3", "detach_normals=false",
                                    "guidance_scale=null", "backbone=hashgrid", "voxel.resolution=16"])  # fmt: skip
    assert (changed.tv_weight, changed.voxel.blob_radius, changed.voxel.resolution) == (0.5, 0.3, 16)
    assert changed.detach_normals is False and changed.guidance_scale is None and changed.backbone == "hashgrid"
    assert changed.voxel.blob_density == base.voxel.blob_density and changed.hashgrid == base.hashgrid
    for bad, message in (("tv_weight", "name=value"), ("colour=red", "unknown setting"),
                         ("steps.x=1", "unknown setting"), ("voxel.size=3", "size"), ("steps=0", "steps")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            with_overrides(base, [bad])


def test_command_line_checks_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for arguments in (["--steps", "0"], ["--prompt", "", "--steps", "1"], ["--init-from", str(tmp_path)],
                      ["--init-from", "dreamfusion"]):  # fmt: skip
        with pytest.raises(SystemExit):
            df.main(["--prompt", "a red cube", "--out", str(tmp_path / "run"), *arguments])
    assert "must" in capsys.readouterr().err
