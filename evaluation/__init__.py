"""Experiments and judges against the toy world's ground truth: the ATT3D runs (`evaluation.att3d`,
also the judge every evaluation shares), per-prompt DreamFusion (`evaluation.dreamfusion`), PIL
(`evaluation.pil`), the warm starts (`evaluation.warm_start`) and ATT3D's interpolations."""
