"""Tiny random models built from configs, shared by tests: real code paths, seconds to run, no downloads."""

from __future__ import annotations

from pathlib import Path

from toyworld.clip import new_toy_clip, save_clip
from toyworld.diffusion import new_scheduler, new_unet, save_diffusion

TINY_TOY_UNET = {"block_out_channels": (16, 32), "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
                 "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"), "norm_num_groups": 8,
                 "attention_head_dim": 8, "sample_size": 16}  # fmt: skip


def tiny_toy(folder: Path) -> tuple[Path, Path]:
    clip, _ = new_toy_clip(seed=0)
    save_clip(clip, folder / "clip", half=False)
    save_diffusion(new_unet(seed=0, **TINY_TOY_UNET), new_scheduler(), folder / "diffusion", half=False)
    return folder / "diffusion", folder / "clip"
