"""A small NeRF: a 7-layer MLP on a positional encoding (Prompt2NeRF-PIL's field, and per-prompt
DreamFusion's `mlp` backbone), whose 7 weight matrices and 7 bias vectors are the 14 *tokens* that PIL's
VAE encodes and its aligner predicts.

A field of B objects holds B weight sets as one flat tensor `[B, n_params]` (token after token, each
row-major), so many objects fit or render in one batched pass (`torch.baddbmm`), and a weight set made
elsewhere (PIL's decoder) binds like ATT3D's grids do (`bind`). Density is unshaded output 0 through the
density activation, albedo outputs 1-3 through a sigmoid; no view dependence (shading is the renderer's).

Saved as `config.json` + `model.safetensors` (`save_pretrained`, float32: a warm start resumes from
exactly these weights), so a generated object is a DreamFusion warm start
(`python -m train.dreamfusion --init-from FOLDER`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nerf.checks import check_float_tensor, check_int_range
from nerf.encoding import FrequencyEncoding
from nerf.field import BoundField, DensityConfig, FieldOutput, RadianceField, activate_density, density_blob
from nerf.saving import HubModel, config_from


@dataclass(frozen=True)
class MLPNeRFConfig(DensityConfig):
    """The MLP's shape. No density blob by default: PIL's shared initialization is itself a ball."""

    num_frequencies: int = 6  # positional encoding of x ∈ [-1, 1]³: 3 + 6·num_frequencies inputs
    hidden_dim: int = 64
    num_layers: int = 7  # linear layers; num_layers - 1 of them end in a ReLU
    blob_density: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int_range(self.num_frequencies, "num_frequencies", 0, 16)
        check_int_range(self.hidden_dim, "hidden_dim", 1, 1024)
        check_int_range(self.num_layers, "num_layers", 2, 32)

    @property
    def input_dim(self) -> int:
        return 3 * (1 + 2 * self.num_frequencies)

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each linear layer."""
        widths = [self.input_dim] + [self.hidden_dim] * (self.num_layers - 1) + [4]
        return [(widths[i + 1], widths[i]) for i in range(self.num_layers)]

    @property
    def token_names(self) -> list[str]:
        """ "weight_0", "bias_0", "weight_1", ...: 2 × num_layers tokens, in sequence order."""
        return [f"{kind}_{i}" for i in range(self.num_layers) for kind in ("weight", "bias")]

    @property
    def token_sizes(self) -> list[int]:
        return [size for out, inp in self.layer_shapes for size in (out * inp, out)]

    @property
    def n_params(self) -> int:
        return sum(self.token_sizes)


class MLPNeRF(RadianceField, HubModel, tags=["nerf", "prompt2nerf-pil"]):
    """B small MLP NeRFs. With `num_objects` the weights are owned (fitting, DreamFusion); with
    `num_objects=None` they come from outside through `bind(params [B, n_params])` (PIL's decoder)."""

    model_type = "mlp_nerf_field"

    def __init__(self, config: MLPNeRFConfig | dict = MLPNeRFConfig(), num_objects: int | None = 1) -> None:
        super().__init__()
        config = config_from(MLPNeRFConfig, config)
        self.config = config
        self.bound = config.bound
        self.encoding = FrequencyEncoding(config.num_frequencies)
        self.params = None
        if num_objects is not None:
            self.params = nn.Parameter(initial_params(config, num_objects))
        self.record_config(config, num_objects=num_objects)

    @property
    def num_objects(self) -> int | None:
        return None if self.params is None else self.params.shape[0]

    def forward(self, points: Tensor, params: Tensor | None = None) -> FieldOutput:
        """points `[B, N, 3]` (optional weight sets `params [B, n_params]`) → density `[B, N]`, albedo `[B, N, 3]`."""
        if params is None:
            self.check_points(points)
            if self.params is None:
                raise ValueError("this MLPNeRF owns no weights (num_objects=None): pass params [B, n_params]")
            params = self.params
        hidden = self.encoding(points / self.bound)  # [B, N, input_dim]
        tokens = split_tokens(params, self.config)
        for layer in range(self.config.num_layers):
            weight, bias = tokens[2 * layer], tokens[2 * layer + 1]  # [B, out, in], [B, out]
            hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
            if layer < self.config.num_layers - 1:
                hidden = F.relu(hidden)
        blob = density_blob(points, self.config.blob_density, self.config.blob_radius)
        density = activate_density(hidden[..., 0] + blob, self.config.density_activation)
        return FieldOutput(density=density, albedo=torch.sigmoid(hidden[..., 1:]))

    def bind(self, params: Tensor) -> BoundField:
        """Weight sets made elsewhere, flat `[B, n_params]`, as a field of B objects."""
        return BoundField(self, params)

    def with_params(self, params: Tensor) -> MLPNeRF:
        """A field that owns a copy of the weight sets `params [B, n_params]` (to optimise further)."""
        owned = MLPNeRF(self.config, num_objects=params.shape[0]).to(params.device)
        with torch.no_grad():
            owned.params.copy_(params)
        return owned


def split_tokens(params: Tensor, config: MLPNeRFConfig) -> list[Tensor]:
    """Flat weight sets `[B, n_params]` → the 14 tokens, shaped: weight_i `[B, out, in]`, bias_i `[B, out]`."""
    check_float_tensor(params, "params", ndim=2)
    if params.shape[1] != config.n_params:
        raise ValueError(f"params must be [B, {config.n_params}] for this MLP, got {tuple(params.shape)}")
    flat = params.split(config.token_sizes, dim=1)
    shapes = [shape for out, inp in config.layer_shapes for shape in ((out, inp), (out,))]
    return [token.reshape(params.shape[0], *shape) for token, shape in zip(flat, shapes, strict=True)]


def initial_params(config: MLPNeRFConfig, num_objects: int, generator: torch.Generator | None = None) -> Tensor:
    """PyTorch's default `nn.Linear` initialization (uniform in ±1/√fan_in), drawn independently per
    object: `[num_objects, n_params]`. PIL replaces it by one shared, pretrained start."""
    check_int_range(num_objects, "num_objects", 1, 1 << 20)
    tokens = []
    for out, inp in config.layer_shapes:
        limit = 1.0 / math.sqrt(inp)
        for size in (out * inp, out):
            tokens.append((torch.rand(num_objects, size, generator=generator) * 2 - 1) * limit)
    return torch.cat(tokens, dim=1)
