"""Train the toy CLIP contrastively on toy-world renders and their captions.

    python -m toyworld.dataset --set toy64 --views 32 --out data/clip-toy64        # (and stacks, categories)
    python -m train.toy_clip --data data/clip-toy64 data/clip-stacks data/clip-categories \\
        --eval data/eval-toy64 data/eval-stacks --out runs/toy-clip

Reads top to bottom: data, model, loop (with resumable checkpoints), evaluation, export. A caption
is the bare prompt or its view-suffixed form, half and half, so the text tower learns both (the
diffusion model conditions on suffixed captions, retrieval queries are bare). Several images in a
batch can share a caption: the loss treats all of them as positives instead of punishing the model
for matching them.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.optimization import get_cosine_schedule_with_warmup
from torch import Tensor
from tqdm.auto import tqdm

from guidance.clip import load_clip
from hub.model_card import write_model_card
from nerf.checkpoint import resume, save_training_state
from nerf.random import derived_seed
from nerf.settings import with_overrides
from toyworld.clip import new_toy_clip, normalise, retrieval_top1, save_clip, text_features
from toyworld.dataset import load_renders
from train.optimization import optimizer_step

CARD_SUMMARY = (
    "A small open_clip model (ViT 4×192 on 64×64 images, text transformer 4×128, embedding 128, open_clip's BPE "
    "tokenizer) trained contrastively on renders of the project's toy world. It stands in for an internet-scale "
    "CLIP: PIL's embeddings and the R-precision evaluation model. Load it with "
    "`open_clip.create_model_and_transforms('local-dir:<this folder>')` or `hf-hub:<repo>`. "
    "`top1_*` is zero-shot caption retrieval on held-out renders among every caption of the set."
)


# --- data ------------------------------------------------------------------------------------------------
def multi_positive_loss(image_features: Tensor, text_features: Tensor, scale: Tensor, ids: Tensor) -> Tensor:
    """Symmetric InfoNCE where every pair with the same prompt id `[B]` counts as a positive."""
    logits = scale * image_features @ text_features.T
    positives = (ids[:, None] == ids[None, :]).float()
    targets = positives / positives.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


# --- training ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyCLIPTrainConfig:
    """A toy CLIP run's training settings (the flags set them, `--set NAME=VALUE` any of them)."""

    steps: int = 3000
    batch: int = 128
    lr: float = 1e-3
    warmup: int = 100
    checkpoint_every: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch < 2 or self.checkpoint_every < 1 or self.warmup < 0 or not self.lr > 0:
            raise ValueError("steps and checkpoint_every must be >= 1, batch >= 2, warmup >= 0 and lr > 0")


FLAGS = ("steps", "batch", "lr", "warmup", "checkpoint_every", "seed")  # the settings with a flag of their own


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the toy CLIP on toy-world renders.")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="dataset folders (toyworld.dataset)")
    parser.add_argument("--eval", type=Path, nargs="*", default=[], help="held-out dataset folders to evaluate on")
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoint/, model/, metrics.json")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="start from this CLIP ('toy', a folder or a Hub repo id), not new weights")
    parser.add_argument(
        "--freeze-text",
        action="store_true",
        help="train the image tower only (needs --init): every text embedding stays the one --init gives, so "
        "the models conditioned on it (toy diffusion, ATT3D, PIL's aligner) stay valid",
    )
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="any ToyCLIPTrainConfig setting, e.g. warmup=200")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        config = with_overrides(ToyCLIPTrainConfig(**{name: getattr(args, name) for name in FLAGS}), args.set)
    except ValueError as error:
        parser.error(str(error))
    if args.freeze_text and args.init is None:
        parser.error("--freeze-text needs --init (the CLIP whose text tower is kept)")

    images, prompts, captions, _ = load_renders(args.data)
    prompt_ids = {p: i for i, p in enumerate(sorted(set(prompts)))}
    ids = torch.tensor([prompt_ids[p] for p in prompts])
    print(f"{len(images)} renders of {len(prompt_ids)} prompts")

    if args.init is None:
        model, tokenizer = new_toy_clip(config.seed)
    else:
        model, _, tokenizer = load_clip(args.init)
    frozen_text = None
    if args.freeze_text:  # every caption's embedding, once: the text tower never changes
        model.requires_grad_(False).visual.requires_grad_(True)
        texts = sorted(set(prompts) | set(captions))
        frozen_text = dict(zip(texts, text_features(model, tokenizer, texts), strict=True))
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.lr, betas=(0.9, 0.98), weight_decay=0.1)
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup, config.steps)
    checkpoint = args.out / "checkpoint"
    step = resume(checkpoint, model, optimizer, schedule)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    started = time.perf_counter()
    progress = tqdm(total=config.steps, initial=step, desc="toy CLIP")
    while step < config.steps:
        generator.manual_seed(derived_seed(config.seed, step))  # the batch depends on the step alone: resumable
        batch = torch.randint(len(images), (config.batch,), generator=generator)
        suffixed = torch.rand(config.batch, generator=generator) < 0.5
        text = [captions[i] if s else prompts[i] for i, s in zip(batch.tolist(), suffixed.tolist(), strict=True)]
        if frozen_text is None:
            out = model(normalise(images[batch]), tokenizer(text))
        else:
            out = {"image_features": model.encode_image(normalise(images[batch]), normalize=True),
                   "text_features": torch.stack([frozen_text[t] for t in text]),
                   "logit_scale": model.logit_scale.exp()}  # fmt: skip
        loss = multi_positive_loss(out["image_features"], out["text_features"], out["logit_scale"], ids[batch])
        optimizer_step(loss, trained, optimizer, schedule)
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        progress.update(1)
        progress.set_postfix(loss=f"{loss.item():.3f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_training_state(checkpoint, model, optimizer, step, schedule=schedule)
    progress.close()

    model.eval()
    metrics = {"steps": config.steps, "batch": config.batch, "renders": len(images), "prompts": len(prompt_ids),
               "train_seconds_this_run": round(time.perf_counter() - started, 1), "init": args.init,
               "frozen_text": args.freeze_text}  # fmt: skip
    for folder in args.eval:
        eval_images, eval_prompts, _, _ = load_renders([folder])
        metrics[f"top1_{folder.name}"] = retrieval_top1(model, tokenizer, eval_images, eval_prompts)
    save_clip(model, args.out / "model")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_model_card(args.out / "model", "Toy CLIP", CARD_SUMMARY, metrics, "open_clip", ("clip", "toy-world"))
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
