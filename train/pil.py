"""Train Prompt2NeRF-PIL on a weight dataset (`train.pil_dataset`): the views' CLIP embeddings, the
per-token VAE (stage 1), then the aligner from CLIP embeddings to the VAE's latents (stage 2).

    python -m train.pil --data data/pil-nerfs --out runs/pil/toy

Reads top to bottom: the settings; the embeddings (random lit views of every object, as the CLIP
was trained on, encoded once and cached); stage 1; stage 2; the model folder. Each stage checkpoints
and resumes (`nerf.checkpoint`), and a finished stage is skipped on a rerun. The run folder ends up
in the bundle layout `pil.generate` loads, with its model card, in `model/`: `vae/`, `aligner/` (each
`config.json` + safetensors), `scenes.safetensors` + `scenes.json` (the training scenes' view embeddings,
for text prompts through the nearest scene) and `pil.json`; the run folder itself loads as that model.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from guidance.clip import load_clip
from hub.model_card import write_model_card
from nerf.checkpoint import resume, save_training_state
from nerf.files import atomic_path
from nerf.random import derived_seed
from nerf.settings import with_overrides
from pil.aligner import Aligner, AlignerConfig
from pil.dataset import load_weight_dataset
from pil.generate import PILPipeline
from pil.stages import timed, trained_on
from pil.vae import WeightVAE, WeightVAEConfig
from pil.views import embed_images, embed_images_and_patches, view_images

EMBEDDINGS_FILE = "embeddings.safetensors"
PATCHES_FILE = "patches.safetensors"
SET_HELP = "any other PILTrainConfig setting, e.g. views=4 vae.hidden_dim=64 aligner_batch=16"


@dataclass(frozen=True)
class PILTrainConfig:
    clip: str = "toy"  # the CLIP whose image embeddings the aligner reads ("toy", a folder or a Hub repo)
    views: int = 12  # random views per object, embedded once; training draws one per object per epoch
    image_size: int = 64
    vae: WeightVAEConfig = field(default_factory=WeightVAEConfig)  # its `mlp` is replaced by the dataset's
    vae_steps: int = 3000
    vae_lr: float = 1e-3
    vae_batch: int = 64
    kl_weight: float = 1e-4
    # parallel decoding: the autoregressive aligner (the paper's, and the bundled model's) learns to read each
    # token off the true ones before it, not off the image (docs/PIL.md, "Why the aligner underfits")
    aligner: AlignerConfig = field(default_factory=lambda: AlignerConfig(decoding="parallel"))
    aligner_epochs: int = 400
    aligner_lr: float = 3e-4
    aligner_batch: int = 32
    image_patches: bool = False  # the aligner also reads the CLIP image tower's patch tokens (`pil.aligner`)
    hide_patches: float = 0.25  # with image_patches: the share of training views shown without them (as text is)
    checkpoint_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.views, self.vae_steps, self.vae_batch, self.aligner_epochs, self.aligner_batch) < 1:
            raise ValueError("views, vae_steps, vae_batch, aligner_epochs and aligner_batch must be >= 1")
        if not 0 <= self.hide_patches <= 1:
            raise ValueError(f"hide_patches is a share in [0, 1], got {self.hide_patches}")


# --- the views' embeddings --------------------------------------------------------------------------------
def view_embeddings(
    records: list[dict], config: PILTrainConfig, out: Path, progress: bool = True
) -> tuple[Tensor, Tensor | None]:
    """(embeddings `[N, views, embed]` of every object's views, and with `image_patches` their patch tokens
    `[N, views, P, W]`, else None), cached in `out/embeddings.safetensors` (and `out/patches.safetensors`,
    fp16), keyed by category and seed, so the cache survives a change of split."""
    names = [EMBEDDINGS_FILE, PATCHES_FILE] if config.image_patches else [EMBEDDINGS_FILE]
    stored = [load_file(out / name) if (out / name).exists() else {} for name in names]

    def key(record: dict) -> str:
        return f"{record['category']}/{record['seed']}"

    missing = [r for r in records if any(key(r) not in cache for cache in stored)]
    if missing:
        clip, _, _ = load_clip(config.clip)
        for record in tqdm(missing, desc="embedding views", disable=not progress):
            images = view_images(record, config.views, config.image_size, config.seed)
            if config.image_patches:
                stored[0][key(record)], patches = embed_images_and_patches(clip, images)
                stored[1][key(record)] = patches.half()
            else:
                stored[0][key(record)] = embed_images(clip, images)
        for name, cache in zip(names, stored, strict=True):
            with atomic_path(out / name) as partial:
                save_file(cache, partial)
    tensors = [torch.stack([cache[key(r)] for r in records]) for cache in stored]
    return tensors[0], (tensors[1] if config.image_patches else None)


# --- stage 1: the VAE -------------------------------------------------------------------------------------
def train_vae(
    params: Tensor, config: WeightVAEConfig, settings: PILTrainConfig, out: Path, progress: bool = True
) -> WeightVAE:
    """Fit the per-token VAE to the training weights `[N, n_params]`; resumes from `out/checkpoint`."""
    torch.manual_seed(settings.seed)
    vae = WeightVAE(config)
    vae.set_statistics(params)
    optimizer = torch.optim.Adam(vae.parameters(), lr=settings.vae_lr)
    checkpoint = out / "checkpoint"
    step = resume(checkpoint, vae, optimizer)
    generator = torch.Generator()
    bar = tqdm(total=settings.vae_steps, initial=step, desc="stage 1: VAE", disable=not progress)
    while step < settings.vae_steps:
        generator.manual_seed(derived_seed(settings.seed, step))  # a step depends on its number alone: resumable
        batch = params[torch.randint(len(params), (settings.vae_batch,), generator=generator)]
        out_ = vae(batch, generator=generator)
        loss, mse, kl = vae.loss(batch, out_, settings.kl_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(mse=f"{mse.item():.4f}", kl=f"{kl.item():.3f}")
        if step % settings.checkpoint_every == 0 or step == settings.vae_steps:
            save_training_state(checkpoint, vae, optimizer, step)
    bar.close()
    return vae.eval()


# --- stage 2: the aligner ---------------------------------------------------------------------------------
def train_aligner(
    embeddings: Tensor,
    latents: Tensor,
    settings: PILTrainConfig,
    out: Path,
    progress: bool = True,
    patches: Tensor | None = None,
) -> Aligner:
    """Fit the aligner from view embeddings `[N, V, embed]` (one random view per object per epoch; with its
    patch tokens `[N, V, P, W]` where given, hidden for a `hide_patches` share of the views) to the VAE's
    latent means `[N, T, latent]`, teacher-forced; resumes from `out/checkpoint`."""
    torch.manual_seed(settings.seed)
    aligner = Aligner(settings.aligner)
    optimizer = torch.optim.Adam(aligner.parameters(), lr=settings.aligner_lr)
    checkpoint = out / "checkpoint"
    epoch = resume(checkpoint, aligner, optimizer)
    count, views = embeddings.shape[:2]
    bar = tqdm(total=settings.aligner_epochs, initial=epoch, desc="stage 2: aligner", disable=not progress)
    aligner.train()
    while epoch < settings.aligner_epochs:
        generator = torch.Generator().manual_seed(derived_seed(settings.seed, epoch))  # an epoch depends on its number
        view = torch.randint(views, (count,), generator=generator)
        order = torch.randperm(count, generator=generator)
        total = 0.0
        for start in range(0, count, settings.aligner_batch):
            rows = order[start : start + settings.aligner_batch]
            shown = hide = None
            if patches is not None:  # drawn only then: without patches, every draw is as it always was
                hide = torch.rand(len(rows), generator=generator) < settings.hide_patches
                shown = patches[rows, view[rows]].float()
            prediction = aligner(embeddings[rows, view[rows]], latents[rows], shown, hide)
            loss = (prediction - latents[rows]).square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        epoch += 1
        bar.update(1)
        bar.set_postfix(mse=f"{total / count:.4f}")
        if epoch % max(1, settings.checkpoint_every // 10) == 0 or epoch == settings.aligner_epochs:
            save_training_state(checkpoint, aligner, optimizer, epoch)
    bar.close()
    return aligner.eval()


# --- the run ----------------------------------------------------------------------------------------------
def train_pil(
    data: str | Path,
    out: str | Path,
    settings: PILTrainConfig = PILTrainConfig(),
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Both stages on the train split of the dataset in `data`, in the run folder `out`; returns the model
    folder it writes, `out/model` (the pipeline and its card; `command`, the recipe the card names)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    params, records, dataset_config = load_weight_dataset(data, "train")
    with timed(out, "embeddings"):
        embeddings, patches = view_embeddings(records, settings, out, progress)
    # the shapes follow the data: the dataset's MLP, and latents as wide as the CLIP embedding (the paper's)
    width, tokens = embeddings.shape[-1], len(dataset_config.mlp.token_sizes)
    patch_shape = patches.shape[2:] if patches is not None else (0, 0)
    settings = replace(
        settings,
        vae=replace(settings.vae, mlp=dataset_config.mlp, latent_dim=width),
        aligner=replace(
            settings.aligner,
            embed_dim=width,
            latent_dim=width,
            num_tokens=tokens,
            patch_tokens=patch_shape[0],
            patch_width=patch_shape[1],
        ),
    )
    (out / "train_config.json").write_text(json.dumps({"data": str(data), **asdict(settings)}, indent=2))

    if not (out / "vae" / "config.json").exists():
        with timed(out, "vae"):
            vae = train_vae(params, settings.vae, settings, out / "vae-run", progress)
            vae.save_pretrained(out / "vae")
    vae = WeightVAE.from_pretrained(out / "vae").eval()
    with torch.no_grad():
        latents = vae.encode(params)[0]

    if not (out / "aligner" / "config.json").exists():
        with timed(out, "aligner"):
            aligner = train_aligner(embeddings, latents, settings, out / "aligner-run", progress, patches)
            aligner.save_pretrained(out / "aligner")

    scenes = [{k: r[k] for k in ("category", "seed", "caption", "colour")} for r in records]
    aligner = Aligner.from_pretrained(out / "aligner").eval()
    model = out / "model"
    PILPipeline(vae, aligner, settings.clip, embeddings, scenes, image_size=settings.image_size).save_pretrained(model)
    stages = trained_on(out)
    write_card(model, data, dataset_config, settings, params, embeddings, patches, vae, aligner, command, stages)
    return model


@torch.no_grad()
def write_card(model: Path, data, dataset_config, settings: PILTrainConfig, params: Tensor, embeddings: Tensor,
               patches: Tensor | None, vae: WeightVAE, aligner: Aligner, command: str | None,
               stages: dict | None = None) -> None:  # fmt: skip
    """The model card of `model/` (what `hub.push` uploads): the recipe, the objects it learned and what the run
    measured on them (the VAE's reconstruction of the training weights, standardized per token, and the
    aligner's teacher-forced latent error from each object's first view). `python -m evaluation.pil` judges
    it from held-out views against the truth."""
    output = vae(params, sample=False)
    latents = vae.encode(params)[0]
    first_patches = patches[:, 0].float() if patches is not None else None
    aligner_error = (aligner(embeddings[:, 0], latents, first_patches) - latents).square().mean()
    categories = ", ".join(dataset_config.categories)
    summary = (f"Prompt2NeRF-PIL: a per-token VAE over the weights of small MLP NeRFs and an aligner from CLIP "
               f"(`{settings.clip}`) image embeddings to its latents, trained on the train split of `{data}` "
               f"({len(params)} objects of {categories}). An image (or a text, through the nearest training "
               "scene) becomes a NeRF in one pass. Load it with `PILPipeline.from_pretrained`, or serve it with "
               "`python app.py --pil FOLDER_OR_REPO`.")  # fmt: skip
    metrics = {
        "objects_trained": len(params),
        "categories": list(dataset_config.categories),
        "vae_steps": settings.vae_steps,
        "aligner_epochs": settings.aligner_epochs,
        "vae_reconstruction_mse": round(vae.loss(params, output, 0.0)[1].item(), 6),
        "aligner_latent_mse": round(aligner_error.item(), 6),
        "trained_on": stages,  # each stage's wall seconds (all sittings) and the machines
    }
    write_model_card(model, "Prompt2NeRF-PIL", summary, metrics, "amortized-3d", ("image-to-3d", "nerf", "pil"),
                     command=command or "python -m train.pil")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    defaults = PILTrainConfig()
    parser = argparse.ArgumentParser(description="Train PIL's VAE and aligner on a weight dataset.")
    parser.add_argument("--data", type=Path, required=True, help="a dataset folder from python -m train.pil_dataset")
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder (stages resume or are skipped); the model goes to model/"
    )
    parser.add_argument("--clip", default=defaults.clip)
    parser.add_argument("--vae-steps", type=int, default=defaults.vae_steps)
    parser.add_argument("--kl-weight", type=float, default=defaults.kl_weight)
    parser.add_argument("--aligner-epochs", type=int, default=defaults.aligner_epochs)
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "train.pil", *(sys.argv[1:] if argv is None else argv)])
    try:
        settings = PILTrainConfig(clip=args.clip, vae_steps=args.vae_steps, kl_weight=args.kl_weight,
                                  aligner_epochs=args.aligner_epochs)  # fmt: skip
        out = train_pil(args.data, args.out, with_overrides(settings, args.set), command=command)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
