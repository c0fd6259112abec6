"""Per-prompt DreamFusion as a library function: optimise one NeRF by score distillation from a
text-to-image model. The command line (`python -m train.dreamfusion`), the app's warm-start tab and the
evaluations all call `dreamfusion()`.

    from dreamfusion import DreamFusionConfig, dreamfusion
    result = dreamfusion("a red cube", load_guidance("toy"), "runs/dreamfusion/red-cube", DreamFusionConfig())

Reads top to bottom: the config, the convergence criterion of Prompt2NeRF-PIL, one SDS step (random
views, view-dependent prompts, random shading; its settings, loss and update are `distillation.step`'s,
shared with ATT3D), the loop (progress bar, periodic renders, resumable
checkpoints) and the outputs: `field/` (reloadable, also as a warm start), `model.glb`, a turntable
video, `metrics.json` and the `config.json` that made them.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from distillation.shape_prior import AssetPairs, shape_prior_loss
from distillation.step import SDSRunSettings, SDSUpdate
from dreamfusion.warm_start import TrainableField, warm_start_field
from guidance import Guidance
from guidance.prompts import clean_prompt
from nerf.background import ConstantBackground, MLPBackground
from nerf.cameras import CameraSampling, sample_cameras, turntable
from nerf.export import (
    EmptyObjectError,
    check_export_resolution,
    rendered_surface_level,
    rendered_surface_mesh,
    save_mesh,
)
from nerf.field import HashGridField, HashGridFieldConfig, VoxelGridField, VoxelGridFieldConfig
from nerf.mlp_nerf import MLPNeRF, MLPNeRFConfig
from nerf.random import derived_seed
from nerf.render import RenderConfig, render, sample_light_directions
from nerf.video import render_turntable, save_image_grid, save_video
from toyworld.assets import AssetLibrary

SET_HELP = "any other DreamFusionConfig setting, e.g. tv_weight=0.1 voxel.blob_radius=0.3 detach_normals=false"
Backbone = Literal["voxel", "hashgrid", "mlp"]
BACKBONES: tuple[str, ...] = ("voxel", "hashgrid", "mlp")
DEFAULT_LR = {"voxel": 0.1, "hashgrid": 0.01, "mlp": 1e-3}


# --- configuration ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DreamFusionConfig(SDSRunSettings):
    """One per-prompt run. Defaults suit the toy model on a CPU (a few minutes per prompt)."""

    steps: int = 300
    resolution: int | None = None  # side of the training renders; None: the guidance model's own
    views: int = 4  # random views per step
    # "voxel" (dense grid), "hashgrid" (Instant-NGP, what ATT3D amortizes) or "mlp" (PIL's MLP NeRF);
    # a warm start brings its own kind of field and ignores this
    backbone: Backbone = "voxel"
    lr: float | None = None  # None: the backbone's (0.1 for voxels, 0.01 for the hash grid, 1e-3 for the MLP)
    voxel: VoxelGridFieldConfig = field(default_factory=VoxelGridFieldConfig)
    hashgrid: HashGridFieldConfig = field(default_factory=HashGridFieldConfig)
    mlp: MLPNeRFConfig = field(default_factory=lambda: MLPNeRFConfig(blob_density=5.0))  # DreamFusion's blob
    seed: int = 0
    render_every: int = 50  # periodic preview renders (0: none)
    field_every: int = 0  # keep the field at the start and every this many steps in fields/ (0: never)
    checkpoint_every: int = 50
    converge_epoch: int = 100  # the convergence criterion's epoch, in steps
    converge_eps: float | None = None  # stop when renders change less than this (mean squared; 0: only record) ...
    converge_patience: int = 3  # ... for this many epochs in a row
    export_resolution: int = 128  # marching-cubes grid of model.glb
    video_frames: int = 24  # turntable.mp4
    video_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.steps, self.views, self.converge_epoch) < 1:
            raise ValueError("steps, views and converge_epoch must be >= 1")
        if self.resolution is not None and not 16 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be 16..1024, got {self.resolution}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {self.backbone!r}")
        if self.lr is not None and self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        check_export_resolution(self.export_resolution, "export_resolution")
        if self.video_frames < 1 or not 16 <= self.video_size <= 2048:
            raise ValueError("video_frames must be >= 1 and video_size 16..2048")
        if self.converge_patience < 1:
            raise ValueError(f"converge_patience must be >= 1, got {self.converge_patience}")


@dataclass
class DreamFusionResult:
    field: TrainableField
    steps: int  # iterations run in all (over resumes)
    converged_at: int | None  # the step at which the convergence criterion stopped the run
    render_changes: list[tuple[int, float]]  # (step, the criterion's render change since the last epoch), each epoch
    seconds: float  # wall time of this call's optimisation
    out: Path


# --- convergence (Prompt2NeRF-PIL) ------------------------------------------------------------------------
class ConvergenceMonitor(nn.Module):
    """Mean squared change of renders from fixed views between successive epochs (the start, then every
    `converge_epoch` steps); converged once it stays below eps for `patience` epochs. Its state is
    buffers, so it is checkpointed with the field."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.cameras = turntable(4, width=resolution, height=resolution)
        self.register_buffer("previous", torch.zeros(4, resolution, resolution, 3))
        self.register_buffer("epochs", torch.zeros((), dtype=torch.long))
        self.register_buffer("calm_epochs", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def views(self, field: TrainableField, background: nn.Module, config: RenderConfig) -> Tensor:
        """Renders `[4, r, r, 3]` from the fixed views."""
        return render(field, self.cameras.to(field.device), config, "lambertian", background=background).rgb[0]

    def update(self, images: Tensor, eps: float) -> float:
        """Record an epoch's renders; returns their mean squared change (inf for the first epoch)."""
        change = (images - self.previous).square().mean().item() if self.epochs > 0 else float("inf")
        self.previous.copy_(images)
        self.epochs += 1
        self.calm_epochs.fill_(int(self.calm_epochs) + 1 if change < eps else 0)
        return change


# --- the run ---------------------------------------------------------------------------------------------
def new_field(config: DreamFusionConfig) -> TrainableField:
    if config.backbone == "voxel":
        return VoxelGridField(config.voxel, num_objects=1)
    if config.backbone == "mlp":
        return MLPNeRF(config.mlp, num_objects=1)
    return HashGridField(config.hashgrid, num_objects=1)


def backbone_of(nerf: TrainableField) -> Backbone:
    return "voxel" if isinstance(nerf, VoxelGridField) else "mlp" if isinstance(nerf, MLPNeRF) else "hashgrid"


def dreamfusion(
    prompt: str,
    guidance: Guidance,
    out: str | Path,
    config: DreamFusionConfig = DreamFusionConfig(),
    init_from: str | Path | TrainableField | None = None,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
    export: bool = True,
    video: bool = True,
    library: AssetLibrary | None = None,
) -> DreamFusionResult:
    """Optimise a NeRF for `prompt` into folder `out` (resumed if it holds a checkpoint).

    `init_from`: where to start instead of DreamFusion's random field and density blob (a warm
    start): a field, or anything `dreamfusion.warm_start.warm_start_field` takes ("pil", "att3d", a folder).
    `on_step(step, total)` is called after every step, once its checkpoint (if due) is written: the
    app's progress bar, or a way to stop a run that a later call resumes.
    `library`: the assets the shape regularization (`config.shape`) retrieves from; by default the toy
    world's whole library, built when the regularization is on.
    """
    prompt = clean_prompt(prompt)  # as every entry point cleans one: an empty one refused, a long one cut
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = guidance.device
    resolution = config.resolution or guidance.resolution
    with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed alone
        torch.manual_seed(config.seed)
        if init_from is None:
            nerf = new_field(config).to(device)
        elif isinstance(init_from, nn.Module):
            nerf = copy.deepcopy(init_from).to(device)
        else:
            nerf = warm_start_field(init_from, prompt, device)
    background = ConstantBackground(guidance.background) if guidance.background is not None else MLPBackground()
    monitor = ConvergenceMonitor(resolution)
    state = nn.ModuleDict({"field": nerf, "background": background.to(device), "monitor": monitor.to(device)})
    lr = config.lr or DEFAULT_LR[backbone_of(nerf)]
    optimiser = SDSUpdate(config, state, lr, config.steps)  # one process: plain PyTorch, no Accelerate state
    checkpoint = out / "checkpoint"
    step, extra = optimiser.resume(checkpoint)
    converged_at = extra.get("converged_at")
    render_changes = [tuple(pair) for pair in extra.get("render_changes", [])]
    started_from = init_from if init_from is None or isinstance(init_from, (str, Path)) else type(init_from).__name__
    (out / "config.json").write_text(json.dumps({"prompt": prompt, "init_from": str(started_from), **asdict(config)},
                                                indent=2, default=str))  # fmt: skip

    train_render = RenderConfig(num_samples=config.num_samples, stratified=True, detach_normals=config.detach_normals)
    eval_render = RenderConfig(num_samples=config.num_samples)
    guidance_scale = config.guidance_scale_for(guidance)
    pairs = None
    if config.shape.enabled:
        library = library or AssetLibrary.build(guidance.text_encoder)
        asset = library.retrieve([prompt])[0]
        pairs = AssetPairs(asset, asset, np.zeros(1))
    sampling, generator, draws = CameraSampling(), torch.Generator(), random.Random()
    started = time.perf_counter()
    if config.converge_eps is not None and int(monitor.epochs) == 0:  # the start is the first epoch's reference
        monitor.update(monitor.views(nerf, background, eval_render), config.converge_eps)
    if config.field_every and step == 0:
        nerf.save_pretrained(out / "fields" / "step_00000")
    bar = tqdm(total=config.steps, initial=step, desc=prompt[:40], disable=not progress)
    while step < config.steps and converged_at is None:
        step_seed = derived_seed(config.seed, step)  # a step's randomness depends on (seed, step) alone
        generator.manual_seed(step_seed)
        draws.seed(step_seed)
        cameras = sample_cameras(config.views, resolution, resolution, sampling, generator, device)
        shading = config.pick_shading(draws.random())
        light = sample_light_directions(cameras, generator=generator) if shading != "albedo" else None
        rendered = render(nerf, cameras, train_render, shading, light, background, generator=generator)
        sds_config = config.sds_config(guidance, step)
        images = rendered.rgb[0].permute(0, 3, 1, 2)  # [V, 3, r, r]
        sds = guidance.sds_loss(images, [prompt] * config.views, cameras, sds_config, generator=generator)
        loss = config.loss(sds.loss, rendered.opacity)
        if pairs is not None:
            shape_args = (nerf, rendered.opacity, cameras.reshape(1, -1), library, pairs, generator)
            loss = loss + shape_prior_loss(config.shape, step, *shape_args)[0]
        if isinstance(nerf, VoxelGridField):  # the other fields have no total variation
            loss = config.smoothed(loss, nerf.total_variation(), nerf.total_variation(slice(1, 4)))
        optimiser.update(loss)
        step += 1
        bar.update(1)
        if config.converge_eps is not None and step % config.converge_epoch == 0:
            change = monitor.update(monitor.views(nerf, background, eval_render), config.converge_eps)
            bar.set_postfix(change=f"{change:.2e}")
            if math.isfinite(change):
                render_changes.append((step, change))
            if int(monitor.calm_epochs) >= config.converge_patience:
                converged_at = step
        if config.field_every and (step % config.field_every == 0 or step == config.steps or converged_at is not None):
            nerf.save_pretrained(out / "fields" / f"step_{step:05d}")
        if config.render_every and (step % config.render_every == 0 or step == config.steps):
            views = monitor.views(nerf, background, eval_render)
            save_image_grid(views.unsqueeze(0), out / "renders" / f"step_{step:05d}.png")
        if step % config.checkpoint_every == 0 or step == config.steps or converged_at is not None:
            extra = {"converged_at": converged_at, "render_changes": render_changes}
            optimiser.save(checkpoint, step, extra)
        if on_step is not None:
            on_step(step, config.steps)
    bar.close()
    seconds = time.perf_counter() - started

    nerf.save_pretrained(out / "field")
    metrics = {"prompt": prompt, "steps": step, "converged_at": converged_at, "seconds_this_run": round(seconds, 1),
               "guidance_scale": guidance_scale, "render_changes": render_changes}  # fmt: skip
    if export:
        # the mesh is the surface the renders show (SDS often leaves density below a fixed threshold),
        # by the export policy of every generator; an object that vanished has no mesh
        try:
            metrics["surface_level"] = rendered_surface_level(nerf)
            save_mesh(rendered_surface_mesh(nerf, config.export_resolution, level=metrics["surface_level"]),
                      out / "model.glb")  # fmt: skip
        except EmptyObjectError:
            metrics["surface_level"] = None
            (out / "model.glb").unlink(missing_ok=True)  # a resumed run's earlier mesh is not this object
    if video:
        frames = render_turntable(nerf, num_frames=config.video_frames, size=config.video_size)
        save_video(frames, out / "turntable.mp4")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return DreamFusionResult(nerf, step, converged_at, render_changes, seconds, out)
