"""Per-prompt DreamFusion (score distillation into one NeRF) as library code: the optimizer
(`dreamfusion.optimize`) and where a run starts (`dreamfusion.warm_start`). `train.dreamfusion` is its
command line; the app and the evaluations call `dreamfusion()` in-process."""

from dreamfusion.optimize import (
    SET_HELP,
    DreamFusionConfig,
    DreamFusionResult,
    dreamfusion,
)

__all__ = ["SET_HELP", "DreamFusionConfig", "DreamFusionResult", "dreamfusion"]
