"""Tiny random models built from configs, shared by tests: real code paths, seconds to run, no downloads."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDPMScheduler, IFPipeline, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast, T5Config, T5EncoderModel

from nerf.mlp_nerf import MLPNeRFConfig
from pil.build import build_dataset
from pil.dataset import DatasetConfig
from pil.vae import WeightVAEConfig
from toyworld.clip import new_toy_clip, save_clip
from toyworld.diffusion import new_scheduler, new_unet, save_diffusion
from train.pil import PILTrainConfig, train_pil

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


# --- tiny diffusers pipelines (Stable Diffusion, DeepFloyd IF) ----------------------------------------------
WORDS = [
    "a",
    "red",
    "blue",
    "green",
    "cube",
    "sphere",
    "cone",
    "torus",
    "front",
    "side",
    "back",
    "overhead",
    "view",
    ",",
    "of",
]


def tiny_tokenizer(max_length: int) -> PreTrainedTokenizerFast:
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=max_length
    )


def tiny_unet(in_channels: int, out_channels: int, **extra) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=out_channels, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=8,
        attention_head_dim=8, **extra,
    )  # fmt: skip


def tiny_stable_diffusion(folder: Path, prediction_type: str) -> Path:
    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=32, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=16)  # fmt: skip
    text_encoder = CLIPTextModel(config)
    vae = AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8)  # fmt: skip
    scheduler = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              prediction_type=prediction_type, clip_sample=False, steps_offset=1)  # fmt: skip
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tiny_tokenizer(16), unet=tiny_unet(4, 4), scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(folder)
    return folder


def tiny_deepfloyd(folder: Path) -> Path:
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=32, d_model=24, d_kv=8, d_ff=48, num_layers=2, num_heads=3))
    unet = tiny_unet(
        3,
        6,
        encoder_hid_dim=24,
        encoder_hid_dim_type="text_proj",
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
    )
    pipeline = IFPipeline(
        tokenizer=tiny_tokenizer(77), text_encoder=text_encoder, unet=unet, scheduler=DDPMScheduler(
            beta_schedule="squaredcos_cap_v2", variance_type="learned_range"),
        safety_checker=None, feature_extractor=None, watermarker=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(folder)
    return folder
