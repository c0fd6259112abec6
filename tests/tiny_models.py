"""Tiny random models built from configs, shared by tests: real code paths, seconds to run, no downloads."""

from __future__ import annotations

from pathlib import Path

from pil.mlp_nerf import MLPNeRFConfig
from pil.vae import WeightVAEConfig
from toyworld.clip import new_toy_clip, save_clip
from toyworld.diffusion import new_scheduler, new_unet, save_diffusion
from train.pil import PILTrainConfig, train_pil
from train.pil_dataset import DatasetConfig, build_dataset

TINY_TOY_UNET = {"block_out_channels": (16, 32), "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
                 "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"), "norm_num_groups": 8,
                 "attention_head_dim": 8, "sample_size": 16}  # fmt: skip


TINY_MLP = MLPNeRFConfig(num_frequencies=2, hidden_dim=16)
# 2 categories × 10 objects (2 in the test split), fitted briefly: PIL's whole pipeline in seconds
TINY_PIL_DATA = DatasetConfig(mlp=TINY_MLP, categories=("chair", "mug"), objects_per_category=10, steps=40,
                              pool_points=2048, points_per_step=512, eval_views=2, image_size=16, num_samples=24,
                              shard_size=8, init_steps=40)  # fmt: skip
TINY_PIL_TRAINING = PILTrainConfig(views=2, vae=WeightVAEConfig(hidden_dim=16), vae_steps=30, vae_batch=8,
                                   aligner_epochs=3, aligner_batch=8)  # fmt: skip


def tiny_pil(folder: Path) -> tuple[Path, Path]:
    """A tiny PIL weight dataset and a PIL model trained on it (the toy CLIP's embeddings): (dataset, model)."""
    build_dataset(TINY_PIL_DATA, folder / "data", progress=False)
    return folder / "data", train_pil(folder / "data", folder / "model", TINY_PIL_TRAINING, progress=False)


def tiny_toy(folder: Path) -> tuple[Path, Path]:
    clip, _ = new_toy_clip(seed=0)
    save_clip(clip, folder / "clip", half=False)
    save_diffusion(new_unet(seed=0, **TINY_TOY_UNET), new_scheduler(), folder / "diffusion", half=False)
    return folder / "diffusion", folder / "clip"
