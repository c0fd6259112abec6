"""Point encodings: Instant-NGP's multiresolution hash grid and NeRF's frequency encoding.

The hash grid follows tiny-cuda-nn's conventions (level scales, resolutions, table sizes rounded
to multiples of 8, dense indexing where a level fits in its table, the coherent prime hash otherwise,
and the parameter layout level after level). Level scales are computed in float64 here and in
float32 there, so for some (levels, base, finest) choices a level's resolution can differ by one;
the default configuration agrees.
Its parameters can be owned by the module or passed in per object as a batch `[B, n_params]`:
ATT3D's mapping network produces one such row per prompt.

This pure-PyTorch implementation is the reference and the CPU path. It is plain autograd, so
gradients reach both the parameters and the positions, to any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from nerf.checks import check_float_tensor, check_int_range

# tiny-cuda-nn's coherent prime hash: the first dimension's prime is 1 so that neighbouring
# cells along x stay neighbours in the table (better cache behaviour on the GPU).
HASH_PRIMES = (1, 2654435761, 805459861)

# Points per chunk when no gradient is needed (export, occupancy updates): bounds peak memory.
INFERENCE_CHUNK = 1 << 17


@dataclass(frozen=True)
class GridLevel:
    """One resolution level of the grid: where its table sits in the parameter vector and how it is indexed."""

    scale: float  # positions in [0, 1] map to x * scale + 0.5 grid units
    resolution: int  # grid vertices per axis
    entries: int  # rows of the table (each `features_per_level` wide)
    offset: int  # first parameter of this level in the flat parameter vector
    hashed: bool  # True: spatial hash into the table; False: dense indexing


@dataclass(frozen=True)
class HashGridConfig:
    """Instant-NGP hash-grid hyperparameters (L levels, table size T = 2^log2_table_size, F features)."""

    num_levels: int = 8
    features_per_level: int = 2
    log2_table_size: int = 12
    base_resolution: int = 16
    finest_resolution: int = 256

    def __post_init__(self) -> None:
        check_int_range(self.num_levels, "num_levels", 1, 32)
        check_int_range(self.log2_table_size, "log2_table_size", 4, 24)
        check_int_range(self.base_resolution, "base_resolution", 2, 1 << 16)
        check_int_range(self.finest_resolution, "finest_resolution", 2, 1 << 16)
        if check_int_range(self.features_per_level, "features_per_level", 1, 8) not in (1, 2, 4, 8):
            raise ValueError(f"features_per_level must be 1, 2, 4 or 8, got {self.features_per_level!r}")
        if not self.base_resolution <= self.finest_resolution:
            raise ValueError(
                "need 2 <= base_resolution <= finest_resolution <= 65536, "
                f"got base {self.base_resolution}, finest {self.finest_resolution}"
            )

    @property
    def per_level_scale(self) -> float:
        """Growth factor b between levels, so that the last level reaches `finest_resolution`."""
        if self.num_levels == 1:
            return 1.0
        return math.exp(math.log(self.finest_resolution / self.base_resolution) / (self.num_levels - 1))

    @property
    def output_dim(self) -> int:
        return self.num_levels * self.features_per_level

    @cached_property
    def levels(self) -> tuple[GridLevel, ...]:
        table_size = 1 << self.log2_table_size
        levels, offset = [], 0
        for index in range(self.num_levels):
            scale = math.exp2(index * math.log2(self.per_level_scale)) * self.base_resolution - 1.0
            resolution = math.ceil(scale) + 1
            dense_entries = -(-(resolution**3) // 8) * 8  # rounded up to a multiple of 8
            entries = min(dense_entries, table_size)
            levels.append(GridLevel(scale, resolution, entries, offset, hashed=resolution**3 > entries))
            offset += entries * self.features_per_level
        return tuple(levels)

    @property
    def n_params(self) -> int:
        last = self.levels[-1]
        return last.offset + last.entries * self.features_per_level


def _corner_rows(lower: Tensor, level: GridLevel) -> Tensor:
    """Table rows of the 8 corners of the cells with lower corners `lower [B, N, 3]` → `[B, N, 2, 2, 2]` (z, y, x)."""
    pair = torch.stack((lower, lower + 1), dim=-1)  # [B, N, 3, 2]: each axis' two corner coordinates
    if level.hashed:
        h = pair * _primes(lower.device).view(3, 1)
        # the table size is a power of two when hashed, so & is tiny-cuda-nn's uint32 modulo
        return (h[..., 2, :, None, None] ^ h[..., 1, None, :, None] ^ h[..., 0, None, None, :]) & (level.entries - 1)
    r = level.resolution
    return (pair[..., 2, :, None, None] * (r * r) + pair[..., 1, None, :, None] * r + pair[..., 0, None, None, :]) % (
        level.entries
    )


def _primes(device: torch.device) -> Tensor:
    return torch.tensor(HASH_PRIMES, device=device)


def _encode(x: Tensor, params: Tensor, config: HashGridConfig) -> Tensor:
    """Unchecked core of `hash_grid_encode` for one chunk: `x [B, N, 3]`, `params [B, P]` → `[B, N, L*F]`."""
    batch, n_points, _ = x.shape
    features = config.features_per_level
    object_base = torch.arange(batch, device=x.device).view(batch, 1, 1)
    outputs = []
    for level in config.levels:
        position = x * level.scale + 0.5
        cell = torch.floor(position)
        frac = position - cell  # [B, N, 3]
        rows = _corner_rows(cell.long(), level).reshape(batch, n_points, 8) + object_base * level.entries
        # trilinear weights as the outer product of the per-axis (1 - t, t), in the same (z, y, x) order
        w = torch.stack((1 - frac, frac), dim=-1)  # [B, N, 3, 2]
        weights = w[..., 2, :, None, None] * w[..., 1, None, :, None] * w[..., 0, None, None, :]
        table = params[:, level.offset : level.offset + level.entries * features].reshape(-1, features)
        gathered = table.index_select(0, rows.reshape(-1)).view(batch, n_points, 8, features)
        outputs.append((weights.reshape(batch, n_points, 1, 8).to(gathered.dtype) @ gathered).squeeze(-2))
    return torch.cat(outputs, dim=-1)


def hash_grid_encode(x: Tensor, params: Tensor, config: HashGridConfig) -> Tensor:
    """Encode points with per-object hash-grid parameters.

    x: `[B, N, 3]` positions in the unit cube [0, 1]^3 (outside it the grid wraps, as in tiny-cuda-nn).
    params: `[B, config.n_params]`, one parameter set per object (B may be 1 for a shared grid).
    Returns `[B, N, L*F]`, levels coarse to fine, each level's F features together.
    """
    check_float_tensor(x, "x (positions)", last_dim=3, ndim=3)
    check_float_tensor(params, "params (hash-grid parameters)", ndim=2)
    if params.shape[1] != config.n_params:
        raise ValueError(f"params must have {config.n_params} columns for this config, got shape {tuple(params.shape)}")
    if params.shape[0] != x.shape[0]:
        raise ValueError(f"x and params must have the same batch size B, got {x.shape[0]} and {params.shape[0]}")
    if torch.is_grad_enabled() and (x.requires_grad or params.requires_grad):
        return _encode(x, params, config)
    chunks = [_encode(x[:, i : i + INFERENCE_CHUNK], params, config) for i in range(0, x.shape[1], INFERENCE_CHUNK)]
    if not chunks:
        return x.new_zeros(x.shape[0], 0, config.output_dim, dtype=params.dtype)
    return torch.cat(chunks, dim=1)


class HashGrid(nn.Module):
    """A multiresolution hash grid over [0, 1]^3.

    With `num_objects` it owns `params [num_objects, n_params]` (Instant-NGP's U(-1e-4, 1e-4) init);
    with `num_objects=None` it owns nothing and every call passes `params [B, n_params]`.
    """

    def __init__(self, config: HashGridConfig, num_objects: int | None = 1) -> None:
        super().__init__()
        self.config = config
        self.params = None
        if num_objects is not None:
            self.params = nn.Parameter(torch.empty(num_objects, config.n_params).uniform_(-1e-4, 1e-4))

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def forward(self, x: Tensor, params: Tensor | None = None) -> Tensor:
        """x `[B, N, 3]` in [0, 1]^3 (and optional `params [B, n_params]`) → features `[B, N, L*F]`."""
        if params is None:
            if self.params is None:
                raise ValueError("this HashGrid owns no parameters (num_objects=None): pass params [B, n_params]")
            params = self.params
        return hash_grid_encode(x, params, self.config)


class FrequencyEncoding(nn.Module):
    """NeRF's positional encoding: p → (p, sin(2^k π p), cos(2^k π p)) for k < num_frequencies.

    Meant for coordinates in [-1, 1]. Output per point: `3 * (include_input + 2 * num_frequencies)`,
    ordered (p, sin f0 p, cos f0 p, sin f1 p, cos f1 p, ...), each block 3 wide.
    """

    def __init__(self, num_frequencies: int = 6, include_input: bool = True) -> None:
        super().__init__()
        if not 0 <= num_frequencies <= 32:
            raise ValueError(f"num_frequencies must be 0..32, got {num_frequencies}")
        self.num_frequencies = num_frequencies
        self.include_input = include_input
        frequencies = math.pi * 2.0 ** torch.arange(num_frequencies, dtype=torch.float64)
        self.register_buffer("frequencies", frequencies, persistent=False)

    @property
    def output_dim(self) -> int:
        return 3 * (int(self.include_input) + 2 * self.num_frequencies)

    def forward(self, x: Tensor) -> Tensor:
        """x `[..., 3]` → `[..., output_dim]`."""
        check_float_tensor(x, "x (positions)", last_dim=3)
        angles = x.unsqueeze(-2) * self.frequencies.to(x.dtype).unsqueeze(
            -1
        )  # a float64 buffer stays exact  # [..., K, 3]
        blocks = torch.stack((angles.sin(), angles.cos()), dim=-2).flatten(-3)  # [..., K*2*3]
        return torch.cat((x, blocks), dim=-1) if self.include_input else blocks
