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
- `ridge`: a linear map from the embedding to the latents, fitted in closed form on every training view.

The error is the latents' mean squared error over the training latents' variance (1 − R²): 0 is the VAE's
own latent, 1 is the mean. `ridge` and `nearest view` on the test split say how much of the latent a view's
embedding holds for unseen objects; the aligner on the train split says whether it reaches even what a
linear map does. Nothing is rendered: this is the cheap part of `evaluation.pil`.
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
from pil.views import embed_images, view_images

PREDICTORS = ("aligner, greedy", "aligner, teacher-forced", "mean", "category mean", "nearest view", "ridge")
RIDGE = 1e-2  # the ridge penalty, relative to the embeddings' mean squared norm (1: unit embeddings)


def ridge_map(inputs: Tensor, targets: Tensor, penalty: float = RIDGE) -> tuple[Tensor, Tensor]:
    """Least squares with an L2 penalty on the weights (not the bias): `inputs [N, E]`, `targets [N, D]` →
    (weights `[E, D]`, bias `[D]`) minimising |X W + b − Y|² + penalty · N · |W|², in float64."""
    x, y = inputs.double(), targets.double()
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc + penalty * len(x) * torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(gram, xc.T @ yc)
    return weights.float(), (y_mean - x_mean @ weights).float()


def held_out_embeddings(pipe: PILPipeline, records: list[dict]) -> Tensor:
    """Unit CLIP embeddings `[N, embed]` of each object's held-out view (the one `evaluation.pil` shows)."""
    images = torch.cat([view_images(record, 1, VIEW_SIZE, HELD_OUT_VIEW_SEED) for record in records])
    return embed_images(pipe.clip, images).float()


@torch.no_grad()
def predictions(pipe: PILPipeline, train: dict, embeddings: Tensor, latents: Tensor, records: list[dict]) -> dict:
    """Each predictor's latents `[N, T, latent]` for objects with view `embeddings [N, embed]` and true
    `latents` (for teacher forcing only); `train` holds the training objects' latents, view embeddings and
    records."""
    flat_train = train["latents"].flatten(1)
    views = train["views"]  # [M, V, embed]
    category_means = {}
    for category in {r["category"] for r in train["records"]}:
        rows = [i for i, r in enumerate(train["records"]) if r["category"] == category]
        category_means[category] = train["latents"][rows].mean(0)
    nearest = torch.einsum("ne,mve->nmv", embeddings, views).amax(2).argmax(1)
    weights, bias = ridge_map(views.flatten(0, 1), flat_train.repeat_interleave(views.shape[1], dim=0))
    shape = (len(embeddings), *train["latents"].shape[1:])
    mean = train["latents"].mean(0)
    return {
        "aligner, greedy": pipe.aligner.generate(embeddings),
        "aligner, teacher-forced": pipe.aligner(embeddings, latents),
        "mean": mean.expand(shape),
        "category mean": torch.stack([category_means.get(r["category"], mean) for r in records]),
        "nearest view": train["latents"][nearest],
        "ridge": (embeddings @ weights + bias).view(shape),
    }


@torch.no_grad()
def evaluate(pipe: PILPipeline, data: Path) -> dict:
    """Per split and predictor: the relative latent error (MSE over the training latents' variance), overall
    and per token; plus the latents' scale."""
    params, records, _ = load_weight_dataset(data, "train")
    if len(records) != len(pipe.scenes):
        raise ValueError(f"{data} has {len(records)} training objects but the model's scenes {len(pipe.scenes)}: "
                         "give the dataset the model was trained on")  # fmt: skip
    train = {"latents": pipe.vae.encode(params)[0], "views": pipe.scenes, "records": records}
    variance = train["latents"].var(0, unbiased=False).mean()
    results: dict = {"latent_rms": train["latents"].square().mean().sqrt().item(), "latent_variance": variance.item()}
    for split in ("train", "test"):
        split_params, split_records, _ = load_weight_dataset(data, split)
        latents = pipe.vae.encode(split_params)[0]
        embeddings = held_out_embeddings(pipe, split_records)
        scores = {}
        for name, predicted in predictions(pipe, train, embeddings, latents, split_records).items():
            per_token = (predicted - latents).square().mean((0, 2)) / variance
            scores[name] = {"error": per_token.mean().item(), "per_token": [round(v, 4) for v in per_token.tolist()]}
        results[split] = {"objects": len(split_records), **scores}
    return results


def markdown_table(results: dict) -> str:
    lines = ["| predictor | train: relative latent error | test: relative latent error |", "| --- | --- | --- |"]
    for name in PREDICTORS:
        lines.append(f"| {name} | {results['train'][name]['error']:.3f} | {results['test'][name]['error']:.3f} |")
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
