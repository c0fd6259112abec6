"""Hash-grid throughput: points per second, forward and forward+backward, owned vs batched parameters.

`python -m bench.bench_encoding [--points N] [--device cuda]`
"""

from __future__ import annotations

import argparse

import torch

from bench.common import print_table, seconds
from nerf.encoding import HashGridConfig, hash_grid_encode

CONFIGS = {
    "toy (L=8, T=2^12, F=2)": HashGridConfig(),
    "Instant-NGP (L=16, T=2^19, F=2)": HashGridConfig(16, 2, 19, 16, 2048),
}


def throughput(config: HashGridConfig, objects: int, points: int, device: str) -> tuple[float, float, float]:
    """Million points per second for `objects` parameter sets: forward; forward+backward to the
    parameters (training, points fixed); forward+backward to parameters and positions (autograd normals)."""
    x = torch.rand(objects, points // objects, 3, device=device)
    params = (torch.rand(objects, config.n_params, device=device) - 0.5) * 2e-4

    def forward() -> None:
        with torch.no_grad():
            hash_grid_encode(x, params, config)

    def backward_to(positions: bool) -> None:
        xg, pg = x.clone().requires_grad_(positions), params.clone().requires_grad_(True)
        hash_grid_encode(xg, pg, config).square().sum().backward()

    times = seconds(forward), seconds(lambda: backward_to(False)), seconds(lambda: backward_to(True))
    return tuple(points / t / 1e6 for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1 << 18, help="points per call, over all objects")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    rows = []
    for name, config in CONFIGS.items():
        for objects in (1, 8):
            label = "one set (B=1)" if objects == 1 else f"batched (B={objects})"
            rows.append([name, label, *throughput(config, objects, args.points, args.device)])
    print_table(
        "Hash-grid encoding",
        ["grid", "parameters", "forward Mpts/s", "fwd+bwd (params) Mpts/s", "fwd+bwd (params, positions) Mpts/s"],
        rows,
    )


if __name__ == "__main__":
    main()
