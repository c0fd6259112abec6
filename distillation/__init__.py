"""Score distillation as training, shared by per-prompt DreamFusion (`dreamfusion/`) and amortized ATT3D
(`att3d/training.py`): the run settings and the update step (`distillation.step`) and LATTE3D's shape prior
(`distillation.shape_prior`). The SDS gradient itself comes from `guidance/`."""

from distillation.step import SDSRunSettings, SDSUpdate

__all__ = ["SDSRunSettings", "SDSUpdate"]
