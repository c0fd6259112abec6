"""ATT3D (Lorraine et al. 2023): amortized text-to-3D. A mapping network turns a prompt's token
embeddings into the grid of a NeRF, so one forward pass makes an object, for prompts seen in training
and unseen ones, and for interpolations between prompts.

    from att3d import ATT3D
    model = ATT3D.from_pretrained("checkpoints/toy-att3d")
"""

from att3d.mapping import MappingConfig, MappingNetwork, prompt_spread
from att3d.model import ATT3D, ATT3DConfig

__all__ = ["ATT3D", "ATT3DConfig", "MappingConfig", "MappingNetwork", "prompt_spread"]
