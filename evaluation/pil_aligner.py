"""Where PIL's aligner loses: its latent error against simple predictors from the same CLIP embedding.

    python -m evaluation.pil_aligner --model runs/pil/toy --data data/pil-nerfs --out docs/pil/aligner

The aligner maps a view's CLIP embedding to the VAE's 14 token latents (`pil.aligner`). docs/PIL.md found it
underfitting even its training objects. This judge separates the possible reasons, on both splits, from
the held-out view `evaluation.pil` uses (a render no training epoch showed):

- `aligner, greedy`: what the pipeline does (each token from the aligner's own previous predictions);
- `aligner, teacher-forced`: each token from the *true* previous tokens. The gap to greedy is the cost of
  the autoregression (exposure bias);
- `mean`: the training objects' mean latent: the error of a predictor that knows nothing (relative error 1);
- `category mean`: the mean latent of the object's own category among the training objects: what knowing
  the category alone is worth;
- `nearest view`: the latent of the training object whose training view is nearest in CLIP space;
- `ridge`: a linear map from the embedding to the latents, fitted in closed form on every training view;
- `ridge, patch tokens`: the same from the CLIP image tower's last patch tokens (what the pooled embedding
  is made from; open_clip's `forward_intermediates`), fitted on as many fresh views of each training
  object: what a predictor could read from the picture beyond the embedding.

The error is the latents' mean squared error over the training latents' variance (1 − R²): 0 is the VAE's
own latent, 1 is the mean. `ridge` and `nearest view` on the test split say how much of the latent a view's
embedding holds for unseen objects; the aligner on the train split says whether it reaches even what a
linear map does. Beside them, the VAE's own error on each split (`vae_weight_error`: the mean squared error
of its reconstruction of the standardized weights, from the latent means), the cheap proxy of how well the
weight space generalizes. Nothing is rendered: this is the cheap part of `evaluation.pil`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import Tensor

from evaluation.pil import HELD_OUT_VIEW_SEED, VIEW_SIZE
from pil.dataset import load_weight_dataset
from pil.generate import PILPipeline
from pil.views import embed_images_and_patches, view_images

PREDICTORS = ("aligner, greedy", "aligner, teacher-forced", "mean", "category mean", "nearest view", "ridge",
              "ridge, patch tokens")  # fmt: skip
RIDGE = 1.0  # the ridge penalty, relative to the inputs' variance per feature (so any input scale alike)
FRESH_VIEW_SEED = 2_000_003  # the training objects' views for the patch-token map: neither training nor judged


def ridge_map(inputs: Tensor, targets: Tensor, penalty: float = RIDGE) -> tuple[Tensor, Tensor]:
    """Least squares with an L2 penalty on the weights (not the bias): `inputs [N, E]`, `targets [N, D]` →
    (weights `[E, D]`, bias `[D]`) minimising |X W + b − Y|² + λ |W|², λ = penalty · |X − X̄|² / E, in float64."""
    x, y = inputs.double(), targets.double()
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    ridge = penalty * xc.square().sum() / x.shape[1]  # penalty 1: λ the inputs' summed variance per feature
    if x.shape[1] <= len(x):  # (XᵀX + λI)⁻¹ XᵀY
        weights = torch.linalg.solve(xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ yc)
    else:  # wider than tall: the same map as Xᵀ (XXᵀ + λI)⁻¹ Y, solved in the smaller space
        weights = xc.T @ torch.linalg.solve(xc @ xc.T + ridge * torch.eye(len(x), dtype=x.dtype), yc)
    return weights.float(), (y_mean - x_mean @ weights).float()


def held_out_views(records: list[dict]) -> Tensor:
    """Each object's held-out view (the one `evaluation.pil` shows), uint8 `[N, 3, H, W]`."""
    return torch.cat([view_images(record, 1, VIEW_SIZE, HELD_OUT_VIEW_SEED) for record in records])


@torch.no_grad()
def predictions(pipe: PILPipeline, train: dict, images: Tensor, latents: Tensor, records: list[dict]) -> dict:
    """Each predictor's latents `[N, T, latent]` for objects seen in `images` (uint8 `[N, 3, H, W]`) with true
    `latents` (for teacher forcing only); `train` holds the training objects' latents, view embeddings,
    patch tokens of fresh views and records."""
    embeddings, tokens = embed_images_and_patches(pipe.clip, images.to(pipe.device))  # one pass for both
    patches = tokens if pipe.reads_patches else None
    flat_train = train["latents"].flatten(1)
    views = train["views"]  # [M, V, embed]
    category_means = {}
    for category in {r["category"] for r in train["records"]}:
        rows = [i for i, r in enumerate(train["records"]) if r["category"] == category]
        category_means[category] = train["latents"][rows].mean(0)
    nearest = torch.einsum("ne,mve->nmv", embeddings, views).amax(2).argmax(1)
    weights, bias = ridge_map(views.flatten(0, 1), flat_train.repeat_interleave(views.shape[1], dim=0))
    train_tokens = train["patch_tokens"]  # [M · V', patches · width]
    patch_weights, patch_bias = ridge_map(
        train_tokens, flat_train.repeat_interleave(len(train_tokens) // len(flat_train), dim=0)
    )
    shape = (len(embeddings), *train["latents"].shape[1:])
    mean = train["latents"].mean(0)
    return {
        "aligner, greedy": pipe.aligner.generate(embeddings, patches),
        "aligner, teacher-forced": pipe.aligner(embeddings, latents, patches),
        "mean": mean.expand(shape),
        "category mean": torch.stack([category_means.get(r["category"], mean) for r in records]),
        "nearest view": train["latents"][nearest],
        "ridge": (embeddings @ weights + bias).view(shape),
        "ridge, patch tokens": (tokens.flatten(1) @ patch_weights + patch_bias).view(shape),
    }


@torch.no_grad()
def evaluate(pipe: PILPipeline, data: Path) -> dict:
    """Per split and predictor: the relative latent error (MSE over the training latents' variance), overall
    and per token; plus the latents' scale."""
    params, records, _ = load_weight_dataset(data, "train")
    if len(records) != len(pipe.scenes):
        raise ValueError(f"{data} has {len(records)} training objects but the model's scenes {len(pipe.scenes)}: "
                         "give the dataset the model was trained on")  # fmt: skip
    views = pipe.scenes.shape[1]
    fresh = torch.cat([view_images(record, views, VIEW_SIZE, FRESH_VIEW_SEED) for record in records])
    train = {"latents": pipe.vae.encode(params)[0], "views": pipe.scenes, "records": records,
             "patch_tokens": embed_images_and_patches(pipe.clip, fresh.to(pipe.device))[1].flatten(1)}  # fmt: skip
    variance = train["latents"].var(0, unbiased=False).mean()
    results: dict = {"latent_rms": train["latents"].square().mean().sqrt().item(), "latent_variance": variance.item()}
    for split in ("train", "test"):
        split_params, split_records, _ = load_weight_dataset(data, split)
        latents = pipe.vae.encode(split_params)[0]
        scores = {}
        for name, predicted in predictions(pipe, train, held_out_views(split_records), latents, split_records).items():
            per_token = (predicted - latents).square().mean((0, 2)) / variance
            scores[name] = {"error": per_token.mean().item(), "per_token": [round(v, 4) for v in per_token.tolist()]}
        vae_error = pipe.vae.loss(split_params, pipe.vae(split_params, sample=False), 0.0)[1].item()
        results[split] = {"objects": len(split_records), "vae_weight_error": vae_error, **scores}
    return results


def markdown_table(results: dict) -> str:
    lines = ["| predictor | train: relative latent error | test: relative latent error |", "| --- | --- | --- |"]
    for name in PREDICTORS:
        lines.append(f"| {name} | {results['train'][name]['error']:.3f} | {results['test'][name]['error']:.3f} |")
    lines.append(f"| (the VAE's standardized weight error) | {results['train']['vae_weight_error']:.3f} "
                 f"| {results['test']['vae_weight_error']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PIL's aligner against simple predictors, from held-out views.")
    parser.add_argument("--model", type=Path, required=True, help="a PIL model folder (python -m train.pil)")
    parser.add_argument("--data", type=Path, required=True, help="the weight dataset it was trained on")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        results = evaluate(PILPipeline.from_pretrained(args.model), args.data)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "table.md").write_text(markdown_table(results))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
