"""Prompt2NeRF-PIL's quality in the toy world, against exact ground truth.

    python -m evaluation.pil --model runs/pil/toy --data data/pil-nerfs --out docs/pil \\
        [--random-init-data data/pil-nerfs-random] [--bundle checkpoints/toy-pil]

For every object of the test split (and of the train split: the upper bound) it makes the object
five ways and scores each against the ground truth from 4 turntable views:
- `fitted`: the dataset's own NeRF (the ceiling for everything below);
- `vae`: that NeRF through the VAE (encode to the latent means, decode): stage 1's reconstruction;
- `image`: from a view of the object that no training epoch showed (a fresh random lit render);
- `text-nearest`: from the object's caption, through the nearest training scene (the paper's route);
- `text-direct`: from the caption's own text embedding.
Scores: the toy CLIP's cosine similarity between the views and the caption, mask IoU (opacity > 0.5
against the true silhouette), PSNR of albedo renders against the true ones, the exported mesh's
fidelity to the true shape (`nerf.fidelity.export_scores`: volume IoU, Chamfer distance, convexity),
and the Fréchet distance
between all generated and all true views in toy-CLIP feature space (CLIP-FD: the paper's FID, with
CLIP features because Inception weights cannot be had here).

It also draws the paper's ablation (PCA of the fitted weights of two classes, shared vs random
initialization, `pca.png`) and a latent interpolation between two test objects (`interpolation.png`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch import Tensor

from evaluation.plots import save_figure, subplots
from hub.model_card import write_model_card
from nerf.background import ConstantBackground
from nerf.cameras import orbit_cameras, turntable
from nerf.fidelity import TrueShape, export_scores
from nerf.field import RadianceField
from nerf.mlp_nerf import MLPNeRF
from nerf.render import RenderConfig, render
from nerf.settings import changed_settings
from nerf.video import save_image_grid
from pil.dataset import INDEX_FILE, DatasetConfig, dataset_config, load_weight_dataset
from pil.generate import PILPipeline
from pil.stages import trained_on
from pil.views import embed_images, view_images
from toyworld.categories import CategoryObject, pil_object
from toyworld.clip import text_features
from toyworld.palette import nearest_colour
from toyworld.render_gt import BACKGROUND, render_ground_truth

VIEW_SIZE = 64  # the toy CLIP's input size
ROUTES = ("fitted", "vae", "image", "text-nearest", "text-direct")
HELD_OUT_VIEW_SEED = 1_000_003  # the image prompts' renders: a seed no training view used


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to feature sets `a [N, E]` and `b [M, E]` (float64):
    |μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^½)."""
    a, b = a.double().numpy(), b.double().numpy()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root  # numerical noise gives tiny imaginary parts
    return float(np.square(mean_a - mean_b).sum() + np.trace(cov_a + cov_b - 2 * root))


def main_colour_right(albedo: Tensor, mask: Tensor, colour: str) -> float:
    """1 if the mean albedo of the object's pixels (`albedo [V, H, W, 3]` where `mask [V, H, W]`) is nearest, in
    chromaticity, to the palette colour `colour` (the object's main colour; its trim is in the mean too), else 0."""
    return float(bool(mask.any()) and nearest_colour(albedo[mask].mean(0, keepdim=True))[0] == colour)


class PILJudge:
    """Scores one-object fields against a category object's ground truth from 4 turntable views."""

    def __init__(self, pipe: PILPipeline, samples: int = 128) -> None:
        self.clip, self.tokenizer = pipe.clip, pipe.tokenizer
        self.cameras = turntable(4, 20.0, 3.0, 45.0, VIEW_SIZE, VIEW_SIZE)
        self.render = RenderConfig(num_samples=samples)
        self.background = ConstantBackground(BACKGROUND)

    @torch.no_grad()
    def truth(self, obj: CategoryObject) -> dict:
        """The object's true albedo and lit views, silhouettes, CLIP features, shape and main colour."""
        colour, obj = obj.colour, obj.field()
        albedo, lit = render_ground_truth(obj, self.cameras, "albedo"), render_ground_truth(obj, self.cameras)
        return {"albedo": albedo.rgb, "mask": albedo.mask, "features": self.features(lit.rgb),
                "shape": TrueShape.of_field(obj), "colour": colour}  # fmt: skip

    def features(self, rgb: Tensor) -> Tensor:
        """Unit toy-CLIP image features `[V, E]` of views `[V, H, W, 3]` in [0, 1]."""
        pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 3, 1, 2)
        return embed_images(self.clip, pixels).float()

    def similarity(self, features: Tensor, caption: str) -> float:
        """Mean cosine similarity of view features `[V, E]` to the caption's text feature."""
        return (features @ text_features(self.clip, self.tokenizer, [caption])[0]).mean().item()

    @torch.no_grad()
    def __call__(self, field: RadianceField, truth: dict, caption: str) -> tuple[dict, Tensor, Tensor]:
        """(scores, CLIP features of the lit views `[V, E]`, the lit views `[V, H, W, 3]`)."""
        cameras = self.cameras.to(field.device)
        albedo = render(field, cameras, self.render, "albedo", background=self.background.to(field.device))
        lit = render(field, cameras, self.render, "lambertian", background=self.background.to(field.device))
        rgb, mask = lit.rgb[0].cpu(), albedo.opacity[0].cpu() > 0.5
        features = self.features(rgb)
        mse = (albedo.rgb[0].cpu().clamp(0, 1) - truth["albedo"]).square().mean()
        scores = {
            "clip_similarity": self.similarity(features, caption),
            "colour_right": main_colour_right(albedo.rgb[0].cpu(), mask, truth["colour"]),
            "iou": ((mask & truth["mask"]).sum() / (mask | truth["mask"]).sum().clamp(min=1)).item(),
            "psnr": (-10 * torch.log10(mse.clamp(min=1e-10))).item(),
        }
        return scores | export_scores(field, truth["shape"]), features, rgb


def route_fields(pipe: PILPipeline, params: Tensor, record: dict) -> dict[str, RadianceField]:
    """The object of `record` (fitted weights `params [n_params]`) made each of the five ways."""
    nerf = MLPNeRF(pipe.vae.config.mlp, num_objects=None)
    weights = params.unsqueeze(0)
    with torch.no_grad():
        reconstructed = pipe.vae.decode(pipe.vae.encode(weights)[0])
        image = view_images(record, 1, VIEW_SIZE, HELD_OUT_VIEW_SEED)[0]
        from_image = pipe.from_embeddings(*pipe.encode_views(image.unsqueeze(0)))[0]
    return {
        "fitted": nerf.bind(weights),
        "vae": nerf.bind(reconstructed),
        "image": from_image,
        "text-nearest": pipe(text=record["caption"]).field,
        "text-direct": pipe(text=record["caption"], text_mode="direct").field,
    }


def evaluate_split(pipe: PILPipeline, judge: PILJudge, data: Path, split: str, limit: int | None) -> dict:
    """Per-route means of the scores over the split's objects (at most `limit`), and CLIP-FD per route."""
    params, records, _ = load_weight_dataset(data, split)
    if limit is not None:  # spread over the categories, not the first category's objects
        picked = np.linspace(0, len(records) - 1, min(limit, len(records))).round().astype(int)
        params, records = params[picked], [records[i] for i in picked]
    rows: dict[str, list[dict]] = {route: [] for route in (*ROUTES, "truth")}
    features: dict[str, list[Tensor]] = {route: [] for route in (*ROUTES, "truth")}
    for weights, record in zip(params, records, strict=True):
        truth = judge.truth(pil_object(record["category"], record["seed"]))
        features["truth"].append(truth["features"])
        similarity = judge.similarity(truth["features"], record["caption"])
        colour_right = main_colour_right(truth["albedo"], truth["mask"], truth["colour"])  # the truth's own reading
        rows["truth"].append({"clip_similarity": similarity, "colour_right": colour_right})
        for route, field in route_fields(pipe, weights, record).items():
            scores, seen, _ = judge(field, truth, record["caption"])
            rows[route].append(scores)
            features[route].append(seen)
    truth_features = torch.cat(features["truth"])
    summary: dict = {"objects": len(records)}
    for route in (*ROUTES, "truth"):
        means = {k: round(float(np.nanmean([r[k] for r in rows[route]])), 4) for k in rows[route][0]}
        if route != "truth":
            means["clip_fd"] = round(frechet_distance(torch.cat(features[route]), truth_features), 4)
        summary[route] = means
    return summary


def plot_weight_pca(shared: Path, random: Path | None, categories: tuple[str, str], path: Path) -> dict:
    """The ablation: 2-D PCA of the fitted weights of two classes, from the shared initialization and
    (if given) from per-object random ones. Returns, per panel, the nearest-class-mean accuracy in the
    2-D projection (how well the classes separate)."""
    panels = [("shared initialization", shared)] + ([("random initialization", random)] if random else [])
    figure, axes = subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    separation = {}
    for axis, (title, folder) in zip(axes[0], panels, strict=True):
        params, records, _ = load_weight_dataset(folder)
        keep = [i for i, r in enumerate(records) if r["category"] in categories]
        x = params[keep].double()
        labels = np.array([records[i]["category"] for i in keep])
        centred = x - x.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        points = (centred @ v[:2].T).numpy()
        means = {c: points[labels == c].mean(0) for c in categories}
        nearest = [min(categories, key=lambda c, p=p: np.square(p - means[c]).sum()) for p in points]
        separation[title] = round(float(np.mean(np.array(nearest) == labels)), 3)
        for category, marker in zip(categories, "os", strict=True):
            chosen = points[labels == category]
            axis.scatter(chosen[:, 0], chosen[:, 1], s=14, marker=marker, label=category)
        axis.set_title(f"{title}\n(nearest-mean accuracy {separation[title]:.2f})")
        axis.set_xlabel("PC 1")
        axis.set_ylabel("PC 2")
        axis.legend()
    save_figure(figure, path, dpi=110)
    return separation


def plot_interpolation(pipe: PILPipeline, data: Path, path: Path, config: RenderConfig, steps: int = 7) -> list[str]:
    """Renders along the straight line between the latents of two test objects (from their held-out
    views): `steps` objects, one row. Returns the two captions."""
    _, records, _ = load_weight_dataset(data, "test")
    first, second = records[0], next(r for r in records if r["category"] != records[0]["category"])
    ends = []
    for record in (first, second):
        image = view_images(record, 1, VIEW_SIZE, HELD_OUT_VIEW_SEED)
        field, latents = pipe.from_embeddings(*pipe.encode_views(image))
        ends.append(latents)
    alphas = torch.linspace(0, 1, steps)
    field = pipe.decode(ends[0] + alphas.view(-1, 1, 1) * (ends[1] - ends[0]))
    cameras = orbit_cameras(torch.zeros(steps), 20.0, 3.0, 45.0, 96, 96).reshape(steps, 1)  # one view each
    rgb = render(field, cameras, config, "lambertian",
                 background=ConstantBackground(BACKGROUND)).rgb  # fmt: skip  # [steps, 1, H, W, 3]
    save_image_grid(rgb.permute(1, 0, 2, 3, 4), path)
    return [first["caption"], second["caption"]]


def markdown_table(results: dict) -> str:
    lines = ["| split | route | toy-CLIP similarity | mask IoU | PSNR (dB) | CLIP-FD | mesh IoU | colour error "
             "| main colour right |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for split in ("test", "train"):
        for route in ROUTES:
            r = results[split][route]
            lines.append(f"| {split} | {route} | {r['clip_similarity']:.3f} | {r['iou']:.3f} | {r['psnr']:.2f} | "
                         f"{r['clip_fd']:.3f} | {r['mesh_iou']:.3f} | {r['colour_error']:.3f} "
                         f"| {r['colour_right']:.2f} |")  # fmt: skip
        truth = results[split]["truth"]
        lines.append(f"| {split} | ground truth | {truth['clip_similarity']:.3f} | 1 | ∞ | 0 | 1 | 0 "
                     f"| {truth['colour_right']:.2f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def dataset_command(data: Path) -> str:
    """The line that rebuilds the weight dataset in `data` as it was built: every setting its config.json holds
    that differs from the defaults, by name."""
    changed = changed_settings(dataset_config(data), DatasetConfig())
    command = ["python", "-m", "train.pil_dataset", "--out", str(data)]
    return shlex.join([*command, "--set", *changed] if changed else command)


def recipe(args: argparse.Namespace) -> str:
    """One shell line that rebuilds a bundled model from nothing: the dataset (and the ablation's), the
    training (its settings: train_config.json) and this evaluation."""
    steps = [dataset_command(args.data)]
    if args.random_init_data is not None:
        steps.append(dataset_command(args.random_init_data))
    steps.append(f"python -m train.pil --data {shlex.quote(str(args.data))} --out {shlex.quote(str(args.model))}")
    steps.append(shlex.join(["python", "-m", "evaluation.pil", *sys.argv[1:]]))
    return " && ".join(steps)


def run_folder(model: Path) -> Path:
    """The `train.pil` run folder of `model` (given as the run folder or as its `model/`): where its
    `train_config.json` and stage times are."""
    model = Path(model)
    return model if (model / "train_config.json").exists() else model.parent


def training_time(model: Path, data: Path) -> dict:
    """Where and how long the model and its dataset trained: the dataset's fits (its shards' seconds, summed) and
    each training stage's wall time over its sittings (`train.pil.timed`; absent for runs before it)."""
    summary = json.loads((Path(data) / INDEX_FILE).read_text())["summary"]
    stages = trained_on(run_folder(model))
    return {"dataset_fit_minutes": round(summary["seconds_per_object"] * summary["objects"] / 60, 1),
            "training_minutes": {k: round(v / 60, 1) for k, v in stages["seconds"].items()} if stages else None,
            "machines": stages["machines"] if stages else None}  # fmt: skip


def bundle(model: Path, folder: Path, results: dict, recipe: str, trained: dict | None = None) -> None:
    """Copy the trained model to `folder` in fp16 (VAE and aligner; scenes already fp16) with a model card."""
    PILPipeline.from_pretrained(model).save_pretrained(folder, half=True)
    (folder / "train_config.json").write_bytes((run_folder(model) / "train_config.json").read_bytes())
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
    summary = ("Prompt2NeRF-PIL in the toy world: a VAE per weight token of a 7-layer MLP NeRF and a "
               "Transformer from toy-CLIP image embeddings to the 14 token latents. Image or text → NeRF in one "
               "forward pass.")  # fmt: skip
    notes = ("Scores are on held-out objects (test) and training objects (train); the VAE and aligner "
             "weights are stored in fp16. Training settings are in train_config.json. See docs/PIL.md.")  # fmt: skip
    metrics = {"size_mb": round(size, 1), "trained_on": trained, "test": results["test"], "train": results["train"]}
    write_model_card(folder, "Toy-world Prompt2NeRF-PIL", summary, metrics, "amortized-3d",
                     ("image-to-3d", "text-to-3d", "nerf", "prompt2nerf-pil"), recipe, notes)  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="PIL quality against ground truth, its ablation and interpolation.")
    parser.add_argument("--model", type=Path, required=True, help="a PIL model folder (python -m train.pil)")
    parser.add_argument("--data", type=Path, required=True, help="the weight dataset it was trained on")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="at most N objects per split")
    parser.add_argument("--random-init-data", type=Path, default=None,
                        help="a dataset built with --random-init, for the PCA ablation")  # fmt: skip
    parser.add_argument("--samples", type=int, default=128, help="samples per ray of the judged renders")
    parser.add_argument("--pca-categories", nargs=2, default=["chair", "airplane"])
    parser.add_argument("--bundle", type=Path, default=None, help="also write the model in fp16 here, with a card")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if not 8 <= args.samples <= 1024:
        parser.error("--samples must be 8..1024")
    pipe = PILPipeline.from_pretrained(args.model)
    judge = PILJudge(pipe, args.samples)
    results = {split: evaluate_split(pipe, judge, args.data, split, args.limit) for split in ("test", "train")}
    args.out.mkdir(parents=True, exist_ok=True)
    results["pca_separation"] = plot_weight_pca(args.data, args.random_init_data, tuple(args.pca_categories),
                                                args.out / "pca.png")  # fmt: skip
    results["interpolation"] = plot_interpolation(pipe, args.data, args.out / "interpolation.png", judge.render)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "table.md").write_text(markdown_table(results))
    if args.bundle is not None:
        bundle(args.model, args.bundle, results, recipe(args), training_time(args.model, args.data))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
