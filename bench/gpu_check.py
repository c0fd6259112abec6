"""The GPU rows of docs/BENCHMARKS.md in one short run (`bash bench/gpu_check.sh` on a GPU machine calls it
after the CUDA tests): a bf16 ATT3D training step on the hash-grid backbone, hash-grid throughput
against the GPU's memory bandwidth (measured here by a device-to-device copy), and text → `.glb` at
256³ with the bundled model.

`python -m bench.gpu_check`
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import torch

from att3d.generate import ATT3DPipeline
from att3d.training import ATT3DTrainConfig, train_att3d
from bench.bench_encoding import CONFIGS
from bench.common import print_table, seconds
from nerf.encoding import hash_grid_encode
from nerf.settings import with_overrides

COPY_BYTES = 1 << 30


def copy_bandwidth() -> float:
    """GB/s of a 1 GiB device-to-device copy (read + write): what the memory delivers in practice."""
    source = torch.empty(COPY_BYTES // 4, device="cuda")
    target = torch.empty_like(source)
    return 2 * COPY_BYTES / seconds(lambda: target.copy_(source), repeat=10) / 1e9


def encoding_rows(bandwidth: float, points: int = 1 << 22) -> list[list[object]]:
    """Forward hash-grid throughput and the bytes it reads (8 corners × features × 4 B per level and point)
    as a share of the copy bandwidth: an upper bound on how memory-bound the lookup is."""
    rows = []
    for name, config in CONFIGS.items():
        x = torch.rand(1, points, 3, device="cuda")
        params = (torch.rand(1, config.n_params, device="cuda") - 0.5) * 2e-4
        with torch.no_grad():
            time = seconds(lambda x=x, p=params, c=config: hash_grid_encode(x, p, c), repeat=10)
        read = points * config.num_levels * 8 * config.features_per_level * 4
        rows.append([name, points / time / 1e6, read / time / 1e9, read / time / 1e9 / bandwidth])
    return rows


def training_step_seconds(steps: int = 12) -> tuple[float, float]:
    """A bf16 ATT3D run on the hash-grid backbone (8 toy64 prompts × 4 views of 64² per step, the toy
    guide), timed from its own log: (seconds per step after the first two, seconds of those two)."""
    config = with_overrides(ATT3DTrainConfig(steps=steps, mixed_precision="bf16", checkpoint_every=steps,
                                             render_every=0, log_every=2),
                            ["model.backbone=hashgrid", "views=4", "prompts_per_step=8", "resolution=64"])  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        train_att3d(config, "toy", Path(folder), "cuda", progress=False)
        log = [json.loads(line) for line in (Path(folder) / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(record["loss"]) for record in log), "a bf16 step gave a non-finite loss"
    warm = log[0]["seconds"]  # after step 2
    return (log[-1]["seconds"] - warm) / (log[-1]["step"] - log[0]["step"]), warm


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine")
    bandwidth = copy_bandwidth()
    print_table(f"Hash-grid forward on the GPU (device copy bandwidth {bandwidth:,.0f} GB/s)",
                ["grid", "Mpts/s", "GB/s read", "share of copy bandwidth"], encoding_rows(bandwidth))  # fmt: skip
    mean, first = training_step_seconds()
    print_table("ATT3D training, bf16, hash-grid backbone (8 prompts × 4 views of 64² per step, toy guide)",
                ["s per step (steps 3-12)", "first two steps, s"], [[mean, first]])  # fmt: skip
    pipe = ATT3DPipeline.from_pretrained("toy", "cuda")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "object.glb"
        for resolution in (128, 256):
            rows.append([f"{resolution}³", seconds(lambda r=resolution: pipe.export("a red cube", path, r), repeat=5)])
    print_table("Text → .glb on the GPU (bundled toy ATT3D, 'a red cube')", ["grid", "text → .glb s"], rows)


if __name__ == "__main__":
    main()
