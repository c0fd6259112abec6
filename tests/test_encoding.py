"""Tests for `nerf.encoding` against an independent, naive float64 reference.

The reference re-derives everything about the multiresolution hash grid from tiny-cuda-nn's definition
(level scales, resolutions, table sizes, dense or hashed indexing, parameter layout) and evaluates it with
plain Python loops over objects, points, levels and the 8 cell corners. Its gradients are analytic: the
derivative of an output with respect to a table entry is the corner's trilinear weight, and with respect
to a position it is the derivative of the trilinear weights times the level's scale. Only the
hyperparameter fields of `HashGridConfig` are read from the code under test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import Tensor

from nerf import encoding
from nerf.encoding import FrequencyEncoding, HashGrid, HashGridConfig, hash_grid_encode

# tiny-cuda-nn's coherent prime hash, written out independently of the module under test.
PRIMES = (1, 2654435761, 805459861)
UINT32_MASK = 0xFFFFFFFF

DENSE = HashGridConfig(num_levels=4, features_per_level=2, log2_table_size=14, base_resolution=4, finest_resolution=16)
HASHED = HashGridConfig(num_levels=4, features_per_level=4, log2_table_size=6, base_resolution=8, finest_resolution=32)
MIXED = HashGridConfig(num_levels=8, features_per_level=2, log2_table_size=10, base_resolution=4, finest_resolution=64)
# Default-like: level 0 has exactly 16^3 = 2^12 vertices, so it just fits its table and stays dense.
MIXED_F1 = HashGridConfig(num_levels=8, features_per_level=1, log2_table_size=12, base_resolution=16)
SINGLE_F1 = HashGridConfig(
    num_levels=1, features_per_level=1, log2_table_size=8, base_resolution=5, finest_resolution=40
)
SINGLE_F4 = HashGridConfig(
    num_levels=1, features_per_level=4, log2_table_size=10, base_resolution=6, finest_resolution=6
)
# Two levels, one dense (2^3 = 8 vertices) and one hashed (4^3 = 64 > 16 rows): small enough for gradcheck.
TINY = HashGridConfig(num_levels=2, features_per_level=2, log2_table_size=4, base_resolution=2, finest_resolution=4)

CONFIGS = {
    "dense": DENSE,
    "hashed": HASHED,
    "mixed": MIXED,
    "mixed-F1": MIXED_F1,
    "single-F1": SINGLE_F1,
    "single-F4": SINGLE_F4,
}
BATCH = 3
N_POINTS = 50


@dataclass(frozen=True)
class RefLevel:
    """One grid level as the reference derives it."""

    scale: float
    resolution: int
    entries: int
    offset: int
    hashed: bool


def reference_levels(config: HashGridConfig) -> list[RefLevel]:
    """Levels per tiny-cuda-nn: scale, vertices per axis, table rows (rounded to 8, capped at 2^T), offset."""
    n_levels, base, finest = config.num_levels, config.base_resolution, config.finest_resolution
    growth = 1.0 if n_levels == 1 else math.exp(math.log(finest / base) / (n_levels - 1))
    table_size = 2**config.log2_table_size
    levels, offset = [], 0
    for index in range(n_levels):
        scale = math.exp2(index * math.log2(growth)) * base - 1.0
        resolution = math.ceil(scale) + 1
        vertices = resolution**3
        entries = min(8 * math.ceil(vertices / 8), table_size)
        levels.append(RefLevel(scale, resolution, entries, offset, hashed=vertices > entries))
        offset += entries * config.features_per_level
    return levels


def reference_n_params(config: HashGridConfig) -> int:
    """Total parameter count: every level's table, one after another."""
    return sum(level.entries for level in reference_levels(config)) * config.features_per_level


def reference_row(corner: tuple[int, int, int], level: RefLevel) -> int:
    """Table row of an integer grid corner: dense index or prime hash, in tiny-cuda-nn's uint32 arithmetic
    (coordinates and products wrap mod 2^32; this only matters outside the unit cube or when hashing)."""
    cx, cy, cz = (c & UINT32_MASK for c in corner)
    if level.hashed:
        index = (cx * PRIMES[0]) ^ (cy * PRIMES[1]) ^ (cz * PRIMES[2])
    else:
        index = cx + level.resolution * (cy + level.resolution * cz)
    return (index & UINT32_MASK) % level.entries


def reference_encode(
    x: np.ndarray, params: np.ndarray, config: HashGridConfig, grad_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive encoding of `x [B, N, 3]` with `params [B, P]`, plus the vector-Jacobian products with `grad_out`.

    Returns `(out [B, N, L*F], grad_x [B, N, 3], grad_params [B, P])`, all float64.
    """
    batch, n_points, _ = x.shape
    features = config.features_per_level
    out = np.zeros((batch, n_points, config.num_levels * features))
    grad_x = np.zeros((batch, n_points, 3))
    grad_params = np.zeros(params.shape)
    for b in range(batch):
        for n in range(n_points):
            for index, level in enumerate(reference_levels(config)):
                position = [float(x[b, n, d]) * level.scale + 0.5 for d in range(3)]
                cell = [math.floor(p) for p in position]
                frac = [p - c for p, c in zip(position, cell, strict=True)]
                columns = slice(index * features, (index + 1) * features)
                upstream = grad_out[b, n, columns]
                for corner in range(8):
                    bits = [(corner >> d) & 1 for d in range(3)]
                    factors = [frac[d] if bits[d] else 1.0 - frac[d] for d in range(3)]
                    signs = [1.0 if bits[d] else -1.0 for d in range(3)]
                    row = reference_row(tuple(c + bit for c, bit in zip(cell, bits, strict=True)), level)
                    start = level.offset + row * features
                    value = params[b, start : start + features]
                    out[b, n, columns] += math.prod(factors) * value
                    grad_params[b, start : start + features] += math.prod(factors) * upstream
                    for d in range(3):
                        others = math.prod(factors[e] for e in range(3) if e != d)
                        grad_x[b, n, d] += level.scale * signs[d] * others * float(upstream @ value)
    return out, grad_x, grad_params


def sample_points(
    config: HashGridConfig,
    batch: int,
    n_points: int,
    seed: int,
    margin: float = 0.01,
    box: tuple[float, float] = (0, 1),
) -> np.ndarray:
    """Uniform points in `box`^3 whose fractional cell position is at least `margin` from 0 and 1 at every level."""
    rng = np.random.default_rng(seed)
    scales = np.array([level.scale for level in reference_levels(config)])
    kept = np.empty((0, 3))
    while len(kept) < batch * n_points:
        candidates = rng.uniform(*box, (4 * batch * n_points, 3))
        position = candidates[:, None, :] * scales[None, :, None] + 0.5
        frac = position - np.floor(position)
        kept = np.concatenate([kept, candidates[((frac > margin) & (frac < 1 - margin)).all(axis=(1, 2))]])
    return kept[: batch * n_points].reshape(batch, n_points, 3)


def sample_case(
    config: HashGridConfig, seed: int, box: tuple[float, float] = (0, 1)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points `[B, N, 3]` in `box`^3, O(1) parameters `[B, P]` (a different row per object), an upstream gradient."""
    rng = np.random.default_rng(seed + 1)
    x = sample_points(config, BATCH, N_POINTS, seed, box=box)
    params = rng.standard_normal((BATCH, reference_n_params(config)))
    grad_out = rng.standard_normal((BATCH, N_POINTS, config.num_levels * config.features_per_level))
    return x, params, grad_out


def encode_with_grads(
    encode: Callable[[Tensor, Tensor], Tensor],
    x: np.ndarray,
    params: np.ndarray,
    grad_out: np.ndarray,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run `encode(x, params)` in `dtype` and backpropagate `grad_out`: `(out, grad_x, grad_params)`."""
    x_t = torch.tensor(x, dtype=dtype, requires_grad=True)
    params_t = torch.tensor(params, dtype=dtype, requires_grad=True)
    out = encode(x_t, params_t)
    grad_x, grad_params = torch.autograd.grad(out, (x_t, params_t), torch.tensor(grad_out, dtype=dtype))
    return out.detach(), grad_x, grad_params


def assert_matches_reference(actual: tuple[Tensor, ...], expected: tuple[np.ndarray, ...], tolerance: float) -> None:
    """Compare `(out, grad_x, grad_params)` with the reference's, elementwise to `tolerance` relative to each
    element and to the quantity's largest magnitude (so cancellation in a sum of large terms is allowed for)."""
    for name, got, want in zip(("out", "grad_x", "grad_params"), actual, expected, strict=True):
        atol = tolerance * float(np.abs(want).max())
        torch.testing.assert_close(
            got.double(), torch.from_numpy(want), rtol=tolerance, atol=atol, msg=lambda m, name=name: f"{name}: {m}"
        )


def float32_tolerance(config: HashGridConfig) -> float:
    """1e-5, plus the float32 rounding of `x * scale + 0.5` at the finest level (a few ulps of the position in
    grid units), which shifts every trilinear weight by as much."""
    finest_scale = reference_levels(config)[-1].scale
    return 1e-5 + 4 * float(np.finfo(np.float32).eps) * finest_scale


@pytest.fixture(scope="module")
def reference_cases() -> dict[str, tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]]:
    """Per config: the inputs `(x, params, grad_out)` and the reference `(out, grad_x, grad_params)`."""
    cases = {}
    for seed, (name, config) in enumerate(CONFIGS.items()):
        inputs = sample_case(config, seed)
        cases[name] = (inputs, reference_encode(*inputs[:2], config, inputs[2]))
    return cases


def test_configs_cover_dense_hashed_and_mixed_levels() -> None:
    """The named configs really exercise what their names say (guards the other tests' coverage)."""
    assert not any(level.hashed for level in reference_levels(DENSE))
    assert all(level.hashed for level in reference_levels(HASHED))
    for config in (MIXED, MIXED_F1, TINY):
        assert {level.hashed for level in reference_levels(config)} == {False, True}
    # Dense tables that had to be rounded up to a multiple of 8 rows (7^3 = 343, 9^3 = 729).
    assert any(level.resolution**3 % 8 for level in reference_levels(DENSE))
    assert any(not level.hashed and level.resolution**3 % 8 for level in reference_levels(MIXED))
    assert reference_levels(MIXED_F1)[0].resolution ** 3 == 2**MIXED_F1.log2_table_size


@pytest.mark.parametrize("name", CONFIGS)
def test_layout_matches_reference(name: str) -> None:
    """n_params, per-level offsets, table sizes, resolutions, scales and hashing match tiny-cuda-nn's rules."""
    config = CONFIGS[name]
    expected = reference_levels(config)
    assert config.n_params == reference_n_params(config)
    assert config.output_dim == config.num_levels * config.features_per_level
    assert len(config.levels) == len(expected)
    for got, want in zip(config.levels, expected, strict=True):
        assert (got.resolution, got.entries, got.offset, got.hashed) == (
            want.resolution,
            want.entries,
            want.offset,
            want.hashed,
        )
        assert got.scale == pytest.approx(want.scale, rel=1e-12)


def test_per_level_scale_reaches_finest_resolution() -> None:
    """The growth factor takes the base resolution to the finest over L - 1 steps; one level means no growth."""
    assert MIXED.per_level_scale ** (MIXED.num_levels - 1) == pytest.approx(64 / 4, rel=1e-12)
    assert SINGLE_F1.per_level_scale == 1.0
    assert [level.resolution for level in MIXED_F1.levels][-1] == 256


@pytest.mark.parametrize("name", CONFIGS)
def test_hash_grid_encode_matches_reference_float64(name: str, reference_cases: dict) -> None:
    """Forward values and gradients for positions and parameters agree with the naive reference to ~1e-10."""
    (x, params, grad_out), expected = reference_cases[name]
    config = CONFIGS[name]
    actual = encode_with_grads(lambda a, p: hash_grid_encode(a, p, config), x, params, grad_out, torch.float64)
    assert_matches_reference(actual, expected, tolerance=1e-10)


@pytest.mark.parametrize("name", CONFIGS)
def test_hash_grid_encode_matches_reference_float32(name: str, reference_cases: dict) -> None:
    """float32 inputs give the reference's values (from the same float32-rounded inputs) to ~1e-5 relative."""
    (x, params, grad_out), _ = reference_cases[name]
    config = CONFIGS[name]
    x, params, grad_out = (a.astype(np.float32).astype(np.float64) for a in (x, params, grad_out))
    expected = reference_encode(x, params, config, grad_out)
    actual = encode_with_grads(lambda a, p: hash_grid_encode(a, p, config), x, params, grad_out, torch.float32)
    assert all(t.dtype == torch.float32 for t in actual)
    assert_matches_reference(actual, expected, float32_tolerance(config))


@pytest.mark.parametrize("name", ["mixed", "single-F4"])
def test_hash_grid_module_with_owned_params_matches_reference(name: str, reference_cases: dict) -> None:
    """A HashGrid owning one parameter row per object encodes and backpropagates like the reference."""
    (x, params, grad_out), (out, grad_x, grad_params) = reference_cases[name]
    grid = HashGrid(CONFIGS[name], num_objects=BATCH).double()
    with torch.no_grad():
        grid.params.copy_(torch.from_numpy(params))
    x_t = torch.tensor(x, requires_grad=True)
    result = grid(x_t)
    result.backward(torch.from_numpy(grad_out))
    assert_matches_reference((result.detach(), x_t.grad, grid.params.grad), (out, grad_x, grad_params), tolerance=1e-10)


@pytest.mark.parametrize("name", ["hashed", "mixed-F1"])
def test_hash_grid_module_with_passed_params_matches_reference(name: str, reference_cases: dict) -> None:
    """A HashGrid with num_objects=None uses the params passed to each call."""
    (x, params, grad_out), expected = reference_cases[name]
    grid = HashGrid(CONFIGS[name], num_objects=None)
    assert grid.params is None and list(grid.parameters()) == []
    assert grid.output_dim == CONFIGS[name].num_levels * CONFIGS[name].features_per_level
    actual = encode_with_grads(grid, x, params, grad_out, torch.float64)
    assert_matches_reference(actual, expected, tolerance=1e-10)


def test_hash_grid_default_init() -> None:
    """Owned parameters are [num_objects, n_params], Instant-NGP's U(-1e-4, 1e-4), and not all equal."""
    grid = HashGrid(MIXED, num_objects=2)
    assert grid.params.shape == (2, reference_n_params(MIXED))
    assert grid.params.abs().max() <= 1e-4
    assert grid.params.std() > 1e-5


def test_hashed_levels_wrap_outside_unit_cube() -> None:
    """Outside [0, 1]^3 (negative coordinates included) hashed levels index like tiny-cuda-nn's uint32 hash."""
    x, params, grad_out = sample_case(HASHED, seed=31, box=(-1.0, 2.0))
    actual = encode_with_grads(lambda a, p: hash_grid_encode(a, p, HASHED), x, params, grad_out, torch.float64)
    assert_matches_reference(actual, reference_encode(x, params, HASHED, grad_out), tolerance=1e-10)


def test_dense_levels_wrap_beyond_far_faces() -> None:
    """Beyond the far faces (coordinates in [1, 2]) dense levels wrap their index modulo the table size."""
    x, params, grad_out = sample_case(DENSE, seed=32, box=(1.0, 2.0))
    actual = encode_with_grads(lambda a, p: hash_grid_encode(a, p, DENSE), x, params, grad_out, torch.float64)
    assert_matches_reference(actual, reference_encode(x, params, DENSE, grad_out), tolerance=1e-10)


def test_each_object_uses_its_own_row() -> None:
    """Encoding a batch equals encoding each object alone; zeroing one object's row zeroes only its output."""
    x, params, _ = sample_case(MIXED, seed=11)
    x_t, params_t = torch.from_numpy(x), torch.from_numpy(params)
    together = hash_grid_encode(x_t, params_t, MIXED)
    for b in range(BATCH):
        alone = hash_grid_encode(x_t[b : b + 1], params_t[b : b + 1], MIXED)
        torch.testing.assert_close(together[b : b + 1], alone, rtol=0, atol=0)
    params_t[1] = 0.0
    zeroed = hash_grid_encode(x_t, params_t, MIXED)
    assert torch.equal(zeroed[1], torch.zeros_like(zeroed[1]))
    assert torch.equal(zeroed[[0, 2]], together[[0, 2]])


def test_gradcheck_and_gradgradcheck() -> None:
    """First and second derivatives for positions and parameters match finite differences (float64)."""
    x = torch.tensor(sample_points(TINY, batch=2, n_points=4, seed=5, margin=0.05), requires_grad=True)
    params = torch.randn(2, TINY.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    params.requires_grad_(True)

    def encode(points: Tensor, table: Tensor) -> Tensor:
        return hash_grid_encode(points, table, TINY)

    assert torch.autograd.gradcheck(encode, (x, params), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(encode, (x, params), eps=1e-6, atol=1e-7)


def test_position_hessian_is_nonzero() -> None:
    """Trilinear interpolation has non-zero mixed second derivatives in x: double backward really reaches x."""
    x = torch.tensor(sample_points(TINY, batch=1, n_points=3, seed=6, margin=0.05), requires_grad=True)
    params = torch.randn(1, TINY.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    (grad_x,) = torch.autograd.grad(hash_grid_encode(x, params, TINY).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad_x[..., 0].sum(), x)
    assert second[..., 1:].abs().min() > 0


def test_inference_chunks_give_identical_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no gradient needed the points go through in chunks of INFERENCE_CHUNK, bit-identical to one chunk."""
    x, params, _ = sample_case(MIXED, seed=21)
    x_t, params_t = torch.from_numpy(x), torch.from_numpy(params)
    monkeypatch.setattr(encoding, "INFERENCE_CHUNK", 1 << 20)
    whole = hash_grid_encode(x_t, params_t, MIXED)

    chunk_sizes = []
    unchunked_encode = encoding._encode

    def spy(points: Tensor, table: Tensor, config: HashGridConfig) -> Tensor:
        chunk_sizes.append(points.shape[1])
        return unchunked_encode(points, table, config)

    monkeypatch.setattr(encoding, "_encode", spy)
    monkeypatch.setattr(encoding, "INFERENCE_CHUNK", 7)
    with torch.no_grad():
        chunked = hash_grid_encode(x_t, params_t, MIXED)
    assert chunk_sizes == [7] * (N_POINTS // 7) + [N_POINTS % 7]
    assert torch.equal(chunked, whole)


@pytest.mark.parametrize("grad", [False, True])
def test_no_points(grad: bool) -> None:
    """N = 0 points give an empty [B, 0, L*F] result with or without autograd."""
    x = torch.zeros(BATCH, 0, 3, requires_grad=grad)
    params = torch.zeros(BATCH, MIXED.n_params)
    assert hash_grid_encode(x, params, MIXED).shape == (BATCH, 0, MIXED.output_dim)


def reference_frequency_encoding(x: np.ndarray, num_frequencies: int, include_input: bool) -> np.ndarray:
    """(x, sin(2^0 π x), cos(2^0 π x), sin(2^1 π x), ...) per point, each block 3 wide, in float64."""
    flat = x.reshape(-1, 3)
    rows = []
    for point in flat:
        blocks = [point] if include_input else []
        for k in range(num_frequencies):
            blocks += [np.sin(2.0**k * math.pi * point), np.cos(2.0**k * math.pi * point)]
        rows.append(np.concatenate(blocks) if blocks else np.zeros(0))
    return np.stack(rows).reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("shape", [(3,), (7, 3), (2, 5, 3)])
@pytest.mark.parametrize(("num_frequencies", "include_input"), [(6, True), (4, False), (0, True), (1, False)])
def test_frequency_encoding_float32(shape: tuple[int, ...], num_frequencies: int, include_input: bool) -> None:
    """float32 output matches the explicit formula, for any leading shape, with the documented output_dim."""
    x = np.random.default_rng(3).uniform(-1.0, 1.0, shape).astype(np.float32)
    module = FrequencyEncoding(num_frequencies, include_input)
    assert module.output_dim == 3 * (int(include_input) + 2 * num_frequencies)
    out = module(torch.from_numpy(x))
    assert out.dtype == torch.float32
    assert out.shape == (*shape[:-1], module.output_dim)
    expected = torch.from_numpy(reference_frequency_encoding(x.astype(np.float64), num_frequencies, include_input))
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-5)


def test_frequency_encoding_float64_is_float64_accurate() -> None:
    """float64 input is encoded to float64 accuracy."""
    x = np.random.default_rng(4).uniform(-1.0, 1.0, (20, 3))
    out = FrequencyEncoding(8).double()(torch.from_numpy(x))
    expected = torch.from_numpy(reference_frequency_encoding(x, 8, include_input=True))
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_frequency_encoding_passes_gradients() -> None:
    """d/dx of sin(2^k π x) is 2^k π cos(2^k π x): check one frequency block."""
    x = torch.tensor([[0.3, -0.2, 0.9]], requires_grad=True)
    out = FrequencyEncoding(3)(x)
    out[0, 3 + 2 * 3 * 2 : 3 + 2 * 3 * 2 + 3].sum().backward()  # the sin block of k = 2
    torch.testing.assert_close(x.grad, 4 * math.pi * torch.cos(4 * math.pi * x.detach()), rtol=1e-5, atol=1e-4)


def owned_grid_call(x: Tensor) -> Tensor:
    """Call a MIXED HashGrid owning 3 objects' parameters on `x`."""
    return HashGrid(MIXED, num_objects=3)(x)


GOOD_X = torch.rand(3, 5, 3)
GOOD_PARAMS = torch.zeros(3, MIXED.n_params)
BAD_CALLS: dict[str, tuple[Callable[[], object], str]] = {
    "x last dim": (lambda: hash_grid_encode(torch.rand(3, 5, 2), GOOD_PARAMS, MIXED), r"last dimension 3.*\(3, 5, 2\)"),
    "x ndim": (lambda: hash_grid_encode(torch.rand(5, 3), GOOD_PARAMS, MIXED), r"3 dimensions.*\(5, 3\)"),
    "x integer": (lambda: hash_grid_encode(torch.ones(3, 5, 3, dtype=torch.long), GOOD_PARAMS, MIXED), "floating"),
    "x NaN": (
        lambda: hash_grid_encode(GOOD_X.clone().index_fill_(1, torch.tensor([2]), math.nan), GOOD_PARAMS, MIXED),
        "NaN",
    ),
    "x not a tensor": (lambda: hash_grid_encode(GOOD_X.tolist(), GOOD_PARAMS, MIXED), "torch.Tensor"),
    "params columns": (
        lambda: hash_grid_encode(GOOD_X, torch.zeros(3, MIXED.n_params + 1), MIXED),
        f"{MIXED.n_params} columns",
    ),
    "params ndim": (lambda: hash_grid_encode(GOOD_X, torch.zeros(MIXED.n_params), MIXED), "2 dimensions"),
    "params integer": (lambda: hash_grid_encode(GOOD_X, GOOD_PARAMS.int(), MIXED), "floating"),
    "params inf": (lambda: hash_grid_encode(GOOD_X, GOOD_PARAMS + math.inf, MIXED), "NaN or inf"),
    "batch mismatch": (lambda: hash_grid_encode(GOOD_X, torch.zeros(2, MIXED.n_params), MIXED), r"batch size.*3 and 2"),
    "module batch mismatch": (lambda: owned_grid_call(torch.rand(2, 5, 3)), r"batch size.*2 and 3"),
    "module without params": (lambda: HashGrid(MIXED, num_objects=None)(GOOD_X), r"owns no parameters.*pass params"),
    "frequency x last dim": (lambda: FrequencyEncoding(2)(torch.rand(4, 2)), "last dimension 3"),
    "frequency x integer": (lambda: FrequencyEncoding(2)(torch.ones(4, 3, dtype=torch.int32)), "floating"),
    "frequency x NaN": (lambda: FrequencyEncoding(2)(torch.full((4, 3), math.nan)), "NaN"),
    "num_frequencies negative": (lambda: FrequencyEncoding(-1), "num_frequencies"),
    "num_frequencies too big": (lambda: FrequencyEncoding(33), "num_frequencies"),
}
BAD_CONFIGS: dict[str, tuple[dict[str, int], str]] = {
    "features 3": ({"features_per_level": 3}, "features_per_level"),
    "features 16": ({"features_per_level": 16}, "features_per_level"),
    "no levels": ({"num_levels": 0}, "num_levels"),
    "too many levels": ({"num_levels": 33}, "num_levels"),
    "table too small": ({"log2_table_size": 3}, "log2_table_size"),
    "table too big": ({"log2_table_size": 25}, "log2_table_size"),
    "base > finest": ({"base_resolution": 64, "finest_resolution": 32}, "base_resolution"),
    "base too small": ({"base_resolution": 1}, "base_resolution"),
    "finest too big": ({"finest_resolution": (1 << 16) + 1}, "finest"),
}


@pytest.mark.parametrize("case", BAD_CALLS)
def test_bad_input_raises_value_error(case: str) -> None:
    """Each caller mistake is a ValueError whose message names what is wrong."""
    call, message = BAD_CALLS[case]
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_raises_value_error(case: str) -> None:
    """Out-of-range hash-grid hyperparameters are rejected when the config is built."""
    fields, message = BAD_CONFIGS[case]
    with pytest.raises(ValueError, match=message):
        HashGridConfig(**fields)
