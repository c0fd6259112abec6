"""The score-distillation step that per-prompt DreamFusion (`dreamfusion/optimize.py`) and amortized ATT3D
(`att3d/training.py`) share: one home for their settings and their update.

- `SDSRunSettings`: timesteps and their annealing, guidance scale, shading modes, the regularizers and their
  weights, LATTE3D's shape prior, and the optimiser (Adam's betas, a learning-rate schedule with warm-up,
  clipping of the gradient norm). Each run's config subclasses it with its own defaults: DreamFusion keeps
  plain Adam (β1 0.9, constant rate, no clipping), ATT3D the paper's (β1 0, warm-up + cosine, clipping at 1).
- `SDSRunSettings.loss` and `SDSRunSettings.smoothed`: SDS plus the opacity terms, then the weighted total
  variation of density and albedo for fields that have it.
- `SDSUpdate`: the optimiser and its schedule around a model, through Hugging Face Accelerate where the run
  gives one (ATT3D: processes, mixed precision) and plain PyTorch where not (per-prompt DreamFusion: one
  process, and no process-wide Accelerate state that a later run in the same process would conflict with);
  `update(loss)` backpropagates, clips, steps; `save`/`resume` checkpoint all of it, so a killed run
  resumed makes the same updates as an unbroken one.

What differs between the two methods stays with them: what is rendered (one field, or a mapping network's
fields for a batch of prompts and interpolants) and how the text conditioning is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from diffusers.optimization import get_scheduler
from torch import Tensor, nn

from distillation.shape_prior import ShapePrior
from guidance import Guidance, SDSConfig, TimestepSchedule
from nerf.checkpoint import has_training_state, load_training_state, save_training_state
from nerf.render import Shading

# diffusers' schedules (`diffusers.optimization.get_scheduler`) a run may name
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")


@dataclass(frozen=True)
class SDSRunSettings:
    """What every score-distillation run shares: timesteps, guidance scale, shading modes, the regularizers
    and the optimiser. The defaults are per-prompt DreamFusion's; `ATT3DTrainConfig` sets the paper's."""

    guidance_scale: float | None = None  # None: the guidance backend's default_guidance_scale
    t_min: float = 0.02
    t_max_start: float = 0.98
    t_max_end: float = 0.5
    anneal_steps: int = 300  # t_max goes from start to end over these steps, then stays (however long the run)
    num_samples: int = 64  # per ray
    albedo_probability: float = 0.2  # shading of each step: albedo, textureless, else lambertian
    textureless_probability: float = 0.2
    detach_normals: bool = True  # shading's gradient skips the normals (see RenderConfig; measured in docs)
    opacity_weight: float = 0.01  # opacity penalty against fog and bloating, per pixel (summed over each image)
    # binary entropy of each pixel's opacity (summed over each image): silhouettes either opaque or empty,
    # against the soft rims that export as rounded edges
    opacity_entropy_weight: float = 0.0
    tv_weight: float = 0.02  # total variation of the voxel grid's density (smoothness, against floaters)
    colour_tv_weight: float = 0.01  # ... and of its albedo (against colour speckle)
    # LATTE3D's shape regularization towards a retrieved toy-world asset (off: pure score distillation)
    shape: ShapePrior = field(default_factory=ShapePrior)
    # the optimiser: Adam (eps 1e-15) with these betas, a diffusers learning-rate schedule (LR_SCHEDULES)
    # after `warmup` steps of linear warm-up, and the global gradient norm clipped to `grad_clip` (None: not)
    beta1: float = 0.9
    beta2: float = 0.99
    lr_schedule: str = "constant"
    warmup: int = 0
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        if min(self.num_samples, self.anneal_steps) < 1:
            raise ValueError("num_samples and anneal_steps must be >= 1")
        if min(self.opacity_weight, self.opacity_entropy_weight, self.tv_weight, self.colour_tv_weight) < 0:
            raise ValueError("opacity_weight, opacity_entropy_weight, tv_weight and colour_tv_weight must be >= 0")
        if not 0 <= self.albedo_probability + self.textureless_probability <= 1:
            raise ValueError("albedo_probability + textureless_probability must be within [0, 1]")
        SDSConfig(self.guidance_scale or 0.0, self.t_min, max(self.t_max_start, self.t_min))  # validates the SDS part
        if not self.t_min <= self.t_max_end <= 1:
            raise ValueError(f"t_max_end must be in [t_min, 1], got {self.t_max_end}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"need 0 <= beta1 < 1 and 0 <= beta2 < 1, got {self.beta1} and {self.beta2}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.warmup < 0 or (self.warmup and self.lr_schedule == "constant"):
            raise ValueError(f"warmup must be >= 0, and 0 with the constant schedule; got {self.warmup}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0 or null (no clipping), got {self.grad_clip}")

    def guidance_scale_for(self, guidance: Guidance) -> float:
        """The guidance scale this run uses with `guidance`: its own, unless the config sets one."""
        return self.guidance_scale if self.guidance_scale is not None else guidance.default_guidance_scale

    def sds_config(self, guidance: Guidance, step: int) -> SDSConfig:
        """The SDS step at step number `step`: t_max annealed from `t_max_start` to `t_max_end`."""
        schedule = TimestepSchedule(self.t_max_start, self.t_max_end, self.anneal_steps)
        return SDSConfig(self.guidance_scale_for(guidance), self.t_min, max(schedule.t_max(step), self.t_min))

    def opacity_penalty(self, opacity: Tensor) -> Tensor:
        """The opacity terms of the loss for renders' opacity `[..., H, W]`: per image, the pixels' sum of
        `opacity_weight · o + opacity_entropy_weight · H(o)`, averaged over the images."""
        per_image = opacity.flatten(0, -3).float()
        loss = self.opacity_weight * per_image.sum((-1, -2)).mean()
        if self.opacity_entropy_weight > 0:
            o = per_image.clamp(1e-5, 1 - 1e-5)
            entropy = -(o * o.log() + (1 - o) * (1 - o).log())
            loss = loss + self.opacity_entropy_weight * entropy.sum((-1, -2)).mean()
        return loss

    def loss(self, sds: Tensor, opacity: Tensor) -> Tensor:
        """The SDS loss plus the opacity terms of the renders' opacity `[..., H, W]`."""
        return sds + self.opacity_penalty(opacity)

    def smoothed(self, loss: Tensor, tv: Tensor, colour_tv: Tensor) -> Tensor:
        """`loss` plus the weighted total variation of density (`tv`) and of albedo (`colour_tv`). (Each
        method adds its terms in the order its documented runs were made: the sum's order is in the bits.)"""
        return loss + self.tv_weight * tv + self.colour_tv_weight * colour_tv

    def pick_shading(self, draw: float) -> Shading:
        """The shading mode for a uniform draw in [0, 1)."""
        if draw < self.albedo_probability:
            return "albedo"
        if draw < self.albedo_probability + self.textureless_probability:
            return "textureless"
        return "lambertian"


class SDSUpdate:
    """The optimisation of a score-distillation run over `model`'s parameters: Adam at `lr` with the
    settings' betas and schedule over `steps` steps, prepared by `accelerator` when one is given (`wrapped`
    is the model to call in the forward pass: across processes, the one that averages gradients)."""

    def __init__(
        self, settings: SDSRunSettings, model: nn.Module, lr: float, steps: int, accelerator: Accelerator | None = None
    ) -> None:
        self.settings, self.model, self.accelerator = settings, model, accelerator
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(settings.beta1, settings.beta2), eps=1e-15)
        # not prepared by Accelerate, which would step it once per process
        warmup, schedule = settings.warmup, settings.lr_schedule
        self.schedule = get_scheduler(schedule, optimizer, num_warmup_steps=warmup, num_training_steps=steps)
        self.wrapped, self.optimizer = accelerator.prepare(model, optimizer) if accelerator else (model, optimizer)

    def update(self, loss: Tensor) -> None:
        """Backpropagate `loss`, clip the gradient norm (when the settings do), step the optimiser and the
        learning-rate schedule."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.accelerator is not None:
            self.accelerator.backward(loss)
        else:
            loss.backward()
        if self.settings.grad_clip is not None:
            clip = self.accelerator.clip_grad_norm_ if self.accelerator is not None else torch.nn.utils.clip_grad_norm_
            clip(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        self.schedule.step()

    @property
    def lr(self) -> float:
        return self.schedule.get_last_lr()[0]

    def save(self, folder: Path, step: int, extra: dict | None = None) -> None:
        """Checkpoint the model, optimiser, schedule and RNG at `step` (atomically; see nerf/checkpoint.py)."""
        save_training_state(folder, self.model, self.optimizer, step, extra, schedule=self.schedule)

    def resume(self, folder: Path) -> tuple[int, dict]:
        """(step, extra) a run continues from: (0, {}) for a new run, else its checkpoint's, with the model,
        optimiser, schedule and RNG restored to it."""
        if not has_training_state(folder):
            return 0, {}
        return load_training_state(folder, self.model, self.optimizer, self.schedule)
