"""Radiance fields: what every 3D generator in this project returns and every renderer or exporter takes.

A field holds B objects at once and answers, for points `[B, N, 3]` in the scene box
[-bound, bound]^3 (world frame: +Y up, right-handed, the glTF convention), a density `[B, N]` and an
albedo `[B, N, 3]`. Shading (lambertian, textureless) is the renderer's job; fields give normals.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nerf.checks import check_choice, check_float_tensor
from nerf.encoding import HashGrid, HashGridConfig
from nerf.saving import HubModel, config_from

NormalMethod = Literal["finite_difference", "autograd"]
QUERY_CHUNK = 1 << 18  # points per field call in `query`: bounds the decoder's activation memory


@dataclass
class FieldOutput:
    density: Tensor  # [B, N], >= 0
    albedo: Tensor  # [B, N, 3], in [0, 1]


class RadianceField(nn.Module):
    """Interface of a batch of radiance fields over [-bound, bound]^3.

    Subclasses implement `forward(points [B, N, 3]) -> FieldOutput`. `num_objects` is B, or None for
    a field that is the same object for any batch size (analytic fields).
    """

    bound: float = 1.0

    @property
    def num_objects(self) -> int | None:
        return None

    @property
    def device(self) -> torch.device:
        """Where the field's tensors live (CPU for a field that holds none)."""
        return next(itertools.chain(self.parameters(), self.buffers()), torch.empty(0)).device

    def forward(self, points: Tensor) -> FieldOutput:  # pragma: no cover - interface
        raise NotImplementedError

    def density(self, points: Tensor) -> Tensor:
        """points `[B, N, 3]` → density `[B, N]`."""
        return self(points).density

    @torch.no_grad()
    def query(self, points: Tensor, chunk: int = QUERY_CHUNK) -> FieldOutput:
        """Inference on many points `[B, N, 3]` (export, evaluation): no gradient, `chunk` points per call."""
        outputs = [self(points[:, i : i + chunk]) for i in range(0, points.shape[1], chunk)]
        return FieldOutput(torch.cat([o.density for o in outputs], 1), torch.cat([o.albedo for o in outputs], 1))

    def normals(self, points: Tensor, method: NormalMethod = "finite_difference", eps: float = 1e-2) -> Tensor:
        """Outward unit normals `[B, N, 3]`: the negative, normalised density gradient.

        "finite_difference" takes central differences with step `eps` (6 more density evaluations,
        differentiable with plain autograd, robust to a grid's piecewise-linear kinks);
        "autograd" differentiates the density exactly (needs double backward when trained through).
        """
        check_choice(method, "normal method", ("finite_difference", "autograd"))
        if method == "autograd":
            with torch.enable_grad():
                inputs = points if points.requires_grad else points.detach().requires_grad_(True)
                density = self.density(inputs)
                (gradient,) = torch.autograd.grad(density.sum(), inputs, create_graph=torch.is_grad_enabled())
        else:
            steps = torch.eye(3, dtype=points.dtype, device=points.device) * eps  # [3, 3]
            shifted = torch.cat((points.unsqueeze(-2) + steps, points.unsqueeze(-2) - steps), dim=-2)  # [B, N, 6, 3]
            density = self.density(shifted.flatten(1, 2)).view(*points.shape[:2], 6)
            gradient = (density[..., :3] - density[..., 3:]) / (2 * eps)
        return F.normalize(-gradient, dim=-1, eps=1e-12)

    def check_points(self, points: Tensor) -> Tensor:
        """Validate `points [B, N, 3]` against this field's batch size."""
        check_float_tensor(points, "points", last_dim=3, ndim=3)
        if self.num_objects is not None and points.shape[0] != self.num_objects:
            raise ValueError(
                f"points must have batch size B = {self.num_objects} (a row per object), got {points.shape[0]}"
            )
        return points


DensityActivation = Literal["softplus", "exp"]


@dataclass(frozen=True)
class DensityConfig:
    """What every trainable field shares: its scene box, its density activation and DreamFusion's
    initial density blob, added before the activation: `blob_density * exp(-|x|^2 / (2 blob_radius^2))`,
    so SDS starts from a soft ball in the middle instead of empty space or fog."""

    bound: float = 1.0
    density_activation: DensityActivation = "softplus"
    # The blob should be about the size of the objects to come, and no denser than SDS can carve in a
    # few hundred steps. At radius 0.5 it filled most of the toy world's box (objects ~0.4 in half-size)
    # and at density 10 a torus kept a white cap from it: score distillation painted the surplus
    # background-grey instead of clearing it (docs/DREAMFUSION.md). stable-dreamfusion uses 5 and 0.2.
    blob_density: float = 5.0
    blob_radius: float = 0.25

    def __post_init__(self) -> None:
        check_choice(self.density_activation, "density_activation", ("softplus", "exp"))
        if self.bound <= 0 or self.blob_radius <= 0:
            raise ValueError(f"bound and blob_radius must be > 0, got {self.bound} and {self.blob_radius}")


@dataclass(frozen=True)
class HashGridFieldConfig(DensityConfig):
    """A hash-grid NeRF: grid features → small MLP → (density, albedo)."""

    grid: HashGridConfig = field(default_factory=HashGridConfig)
    hidden_dim: int = 64
    num_hidden_layers: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_dim < 1 or self.num_hidden_layers < 0:
            raise ValueError(f"need hidden_dim >= 1 and num_hidden_layers >= 0, got {self}")

    @property
    def n_params(self) -> int:
        """Parameters of one object's grid (what ATT3D's mapping network outputs per prompt)."""
        return self.grid.n_params


def density_blob(points: Tensor, density: float, radius: float) -> Tensor:
    """DreamFusion's initial density bias at points `[..., 3]` → `[...]`: a Gaussian ball at the centre."""
    return density * torch.exp(-points.square().sum(-1) / (2 * radius**2))


def activate_density(raw: Tensor, activation: DensityActivation) -> Tensor:
    if activation == "exp":
        return torch.exp(raw.clamp(max=15.0))  # clamped: exp overflows fp16 and explodes gradients
    return F.softplus(raw)


class HashGridField(RadianceField, HubModel, tags=["nerf"]):
    """Instant-NGP-style field for B objects that share one MLP decoder.

    With `num_objects` the grid parameters are owned (per-prompt optimisation); with
    `num_objects=None` they come from outside through `bind(params [B, n_params])` (ATT3D).
    Saved with `save_pretrained` (float32: a warm start resumes from exactly these weights).
    """

    model_type = "hash_grid_field"

    def __init__(self, config: HashGridFieldConfig | dict = HashGridFieldConfig(), num_objects: int | None = 1) -> None:
        super().__init__()
        config = config_from(HashGridFieldConfig, config)
        self.config = config
        self.bound = config.bound
        self.grid = HashGrid(config.grid, num_objects=num_objects)
        layers: list[nn.Module] = []
        width = config.grid.output_dim
        for _ in range(config.num_hidden_layers):
            layers += [nn.Linear(width, config.hidden_dim), nn.ReLU()]
            width = config.hidden_dim
        layers.append(nn.Linear(width, 4))
        self.decoder = nn.Sequential(*layers)
        self.record_config(config, num_objects=num_objects)

    @property
    def num_objects(self) -> int | None:
        return None if self.grid.params is None else self.grid.params.shape[0]

    def blob(self, points: Tensor) -> Tensor:
        """The initial density bias at points `[..., 3]` → `[...]`."""
        return density_blob(points, self.config.blob_density, self.config.blob_radius)

    def forward(self, points: Tensor, params: Tensor | None = None) -> FieldOutput:
        """points `[B, N, 3]` (optional grid `params [B, n_params]`) → density, albedo."""
        if params is None:
            self.check_points(points)
        unit = (points / (2 * self.bound) + 0.5).clamp(0.0, 1.0)
        raw = self.decoder(self.grid(unit, params))  # [B, N, 4]
        density = activate_density(raw[..., 0] + self.blob(points), self.config.density_activation)
        return FieldOutput(density=density, albedo=torch.sigmoid(raw[..., 1:]))

    def bind(self, params: Tensor) -> BoundField:
        """This decoder with externally produced grid parameters `[B, n_params]`: a field of B objects."""
        return BoundField(self, params)

    def with_params(self, params: Tensor) -> HashGridField:
        """A field that owns a copy of this decoder and of the grids `params [B, n_params]` (to optimise
        further: a warm start from an amortized model's output)."""
        owned = HashGridField(self.config, num_objects=params.shape[0]).to(params.device)
        owned.decoder.load_state_dict(self.decoder.state_dict())
        with torch.no_grad():
            owned.grid.params.copy_(params)
        return owned


class BoundField(RadianceField):
    """A shared field (decoder, activation) bound to a batch of parameters produced elsewhere (ATT3D's
    mapping network, PIL's decoder): B objects, `params [B, n_params]`. Gradients reach both.

    `base` is any field whose `forward(points, params)` reads external parameters and whose config
    has `n_params`: a hash grid, a voxel grid or PIL's MLP NeRF."""

    def __init__(self, base: RadianceField, params: Tensor) -> None:
        super().__init__()
        check_float_tensor(params, "params", ndim=2)
        if params.shape[1] != base.config.n_params:
            raise ValueError(f"params must be [B, {base.config.n_params}] for this field, got {tuple(params.shape)}")
        self.base = base
        self.bound = base.bound
        self.params = params

    @property
    def num_objects(self) -> int:
        return self.params.shape[0]

    def forward(self, points: Tensor) -> FieldOutput:
        return self.base(self.check_points(points), self.params)

    def select(self, index: slice | Tensor | list[int]) -> BoundField:
        """Some of these objects (e.g. `slice(0, 1)`: the first), on the same base."""
        return BoundField(self.base, self.params[index])

    def owned(self) -> RadianceField:
        """A field that owns a detached copy of these objects' parameters (and of the base's own
        weights): what per-prompt optimisation can start from."""
        return self.base.with_params(self.params.detach().clone())

    def normals(self, points: Tensor, method: NormalMethod = "finite_difference", eps: float = 1e-2) -> Tensor:
        """The base's own normals where it has them (a voxel grid's), else the density gradient's."""
        if isinstance(self.base, VoxelGridField):
            return self.base.normals_with(self.params, self.check_points(points))
        return super().normals(points, method, eps)


@dataclass(frozen=True)
class VoxelGridFieldConfig(DensityConfig):
    """A dense grid of density and albedo logits, trilinearly interpolated: no decoder, no hashing.
    On a CPU it is ~10× cheaper per point than the hash grid, which makes per-prompt SDS in the toy
    world take seconds instead of minutes."""

    resolution: int = 32  # grid vertices per axis over [-bound, bound]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.resolution <= 512:
            raise ValueError(f"resolution must be 2..512, got {self.resolution}")

    @property
    def n_params(self) -> int:
        """Numbers in one object's grid: 4 channels × R³ (what ATT3D's mapping network outputs per prompt)."""
        return 4 * self.resolution**3


class VoxelGridField(RadianceField, HubModel, tags=["nerf"]):
    """B objects, each a grid `[4, R, R, R]` (density logit, 3 albedo logits) over [-bound, bound]^3.

    With `num_objects` the grids are owned (per-prompt optimisation); with `num_objects=None` they
    come from outside, flat, through `bind(params [B, 4·R³])` (ATT3D). Saved with `save_pretrained`.
    """

    model_type = "voxel_grid_field"

    def __init__(
        self, config: VoxelGridFieldConfig | dict = VoxelGridFieldConfig(), num_objects: int | None = 1
    ) -> None:
        super().__init__()
        config = config_from(VoxelGridFieldConfig, config)
        self.config = config
        self.bound = config.bound
        self.grid = None
        if num_objects is not None:
            self.grid = nn.Parameter(torch.zeros(num_objects, 4, *(config.resolution,) * 3))
        self.record_config(config, num_objects=num_objects)

    @property
    def num_objects(self) -> int | None:
        return None if self.grid is None else self.grid.shape[0]

    def grids(self, params: Tensor | None = None) -> Tensor:
        """The grids `[B, 4, R, R, R]`: the owned ones, or flat `params [B, 4·R³]` reshaped."""
        if params is None:
            if self.grid is None:
                raise ValueError("this VoxelGridField owns no grid (num_objects=None): pass params [B, 4·R³]")
            return self.grid
        return params.view(params.shape[0], 4, *(self.config.resolution,) * 3)

    def sample(self, grid: Tensor, points: Tensor) -> Tensor:
        """Trilinear lookup of a grid `[B, C, R, R, R]` over the box at points `[B, N, 3]` → `[B, N, C]`."""
        batch, count = points.shape[:2]
        # grid_sample reads coordinates as (x, y, z) → (W, H, D): the grid is indexed [z, y, x]
        where = (points / self.bound).view(batch, count, 1, 1, 3).to(grid.dtype)
        values = F.grid_sample(grid, where, mode="bilinear", padding_mode="border", align_corners=True)
        return values.view(batch, grid.shape[1], count).transpose(1, 2)

    def forward(self, points: Tensor, params: Tensor | None = None) -> FieldOutput:
        """points `[B, N, 3]` (optional flat grids `params [B, 4·R³]`) → density `[B, N]`, albedo `[B, N, 3]`."""
        if params is None:
            self.check_points(points)
        raw = self.sample(self.grids(params), points)  # [B, N, 4]
        blob = density_blob(points, self.config.blob_density, self.config.blob_radius)
        density = activate_density(raw[..., 0] + blob, self.config.density_activation)
        return FieldOutput(density=density, albedo=torch.sigmoid(raw[..., 1:]))

    def normals(self, points: Tensor, method: NormalMethod = "finite_difference", eps: float = 1e-2) -> Tensor:
        """Outward unit normals `[B, N, 3]` from central differences between grid vertices, looked up like
        the grid itself (one lookup instead of six; `method` and `eps` do not apply), plus the blob's
        exact gradient. The density activation is monotonic, so the raw density's gradient points the same way."""
        return self.normals_with(None, self.check_points(points))

    def normals_with(self, params: Tensor | None, points: Tensor) -> Tensor:
        """`normals` of the objects whose grids are `params [B, 4·R³]` (None: the owned grids)."""
        logits = self.grids(params)[:, :1]  # [B, 1, D, H, W] indexed z, y, x
        spacing = 2 * self.bound / (self.config.resolution - 1)
        dz, dy, dx = torch.gradient(logits, spacing=spacing, dim=(2, 3, 4))
        gradient = self.sample(torch.cat((dx, dy, dz), dim=1), points)  # [B, N, 3] in x, y, z
        blob = density_blob(points, self.config.blob_density, self.config.blob_radius)
        gradient = gradient - blob.unsqueeze(-1) * points / self.config.blob_radius**2
        return F.normalize(-gradient, dim=-1, eps=1e-12)

    def total_variation(self, channels: slice = slice(0, 1), params: Tensor | None = None) -> Tensor:
        """Mean squared difference of neighbouring logits of `channels` (default: density; `slice(1, 4)`:
        albedo), over the owned grids or `params`: a smoothness prior against floaters and colour speckle."""
        logits = self.grids(params)[:, channels]
        return sum((logits.diff(dim=axis).square().mean() for axis in (2, 3, 4)), torch.zeros(()))

    def bind(self, params: Tensor) -> BoundField:
        """Externally produced grids, flat `[B, 4·R³]`, as a field of B objects."""
        return BoundField(self, params)

    def with_params(self, params: Tensor) -> VoxelGridField:
        """A field that owns a copy of the flat grids `params [B, 4·R³]` (to optimise further)."""
        owned = VoxelGridField(self.config, num_objects=params.shape[0]).to(params.device)
        with torch.no_grad():
            owned.grid.copy_(self.grids(params))
        return owned
