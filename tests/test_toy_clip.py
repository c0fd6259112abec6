"""The toy CLIP: built by open_clip from the shipped config, saved and loaded in open_clip's Hub
layout, the contrastive loss and retrieval metric against hand-made cases, and the training command
(killed and resumed equals unbroken)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from killed_run import Killed, assert_same_training_state, kill_after_checkpoint

from guidance.clip import clip_source, load_clip
from toyworld.clip import BUNDLED, new_toy_clip, retrieval_scores, retrieval_top1, save_clip
from toyworld.dataset import DatasetConfig, build, render_sample
from toyworld.prompts import toy64
from train import toy_clip
from train.toy_clip import multi_positive_loss

MIN_TOY64_TOP1 = 0.85  # measured 0.9375 (60 of 64) on these renders; see checkpoints/toy-clip/README.md


def test_save_and_load_round_trip_through_open_clip(tmp_path: Path) -> None:
    model, tokenizer = new_toy_clip(seed=1)
    model.eval()
    save_clip(model, tmp_path / "clip", half=False)
    loaded, preprocess, loaded_tokenizer = load_clip(tmp_path / "clip")
    images = torch.rand(2, 3, 64, 64)
    text = tokenizer(["a red cube", "an orange cross on top of a blue cube, side view"])
    assert torch.equal(text, loaded_tokenizer(["a red cube", "an orange cross on top of a blue cube, side view"]))
    with torch.no_grad():
        assert torch.allclose(loaded.encode_image(images), model.encode_image(images), atol=1e-5)
        assert torch.allclose(loaded.encode_text(text), model.encode_text(text), atol=1e-5)
    assert preprocess.transforms[0].size == 64


def test_half_precision_weights_change_embeddings_by_little(tmp_path: Path) -> None:
    model, tokenizer = new_toy_clip(seed=2)
    model.eval()
    save_clip(model, tmp_path / "half")
    loaded, _, _ = load_clip(tmp_path / "half")
    text = tokenizer(["a green torus, back view"])
    with torch.no_grad():
        cosine = F.cosine_similarity(loaded.encode_text(text), model.encode_text(text)).item()
    assert cosine > 0.999
    assert (tmp_path / "half" / "open_clip_model.safetensors").stat().st_size < 20e6


def test_model_sources(tmp_path: Path) -> None:
    assert clip_source("toy") == f"local-dir:{BUNDLED}"
    assert clip_source(BUNDLED) == f"local-dir:{BUNDLED}"
    with pytest.raises(ValueError, match=r"'toy' \(the bundled model\), a local folder, or a Hub repo id"):
        clip_source("no-such-folder")
    with pytest.raises(ValueError, match=r"holds no open_clip model \(open_clip_config\.json\)"):
        clip_source(tmp_path)  # Hub repos: tests/test_hub.py


def test_multi_positive_loss_is_clip_loss_for_distinct_prompts_and_shares_targets_for_duplicates() -> None:
    generator = torch.Generator().manual_seed(0)
    image = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    text = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    scale = torch.tensor(10.0)
    logits = scale * image @ text.T
    clip = 0.5 * (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6)))
    assert torch.allclose(multi_positive_loss(image, text, scale, torch.arange(6)), clip)
    # a batch where images 0 and 1 show one prompt: each row's target is shared by both of its captions
    ids = torch.tensor([0, 0, 1, 2, 3, 4])
    loss = multi_positive_loss(image, text, scale, ids).double()
    logits = (scale * image @ text.T).double()
    reference = 0.0
    for scores in (logits, logits.T):
        for i in range(6):
            positives = [j for j in range(6) if ids[j] == ids[i]]
            log_p = torch.log_softmax(scores[i], dim=0)
            reference -= sum(log_p[j] for j in positives) / len(positives) / 12
    assert torch.allclose(loss, reference)
    # identical features for the two: nothing to tell them apart, and the loss sits at its floor, log 2
    both = F.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), dim=-1)
    assert torch.allclose(multi_positive_loss(both, both, scale, torch.tensor([0, 0])), torch.log(torch.tensor(2.0)))


class Oracle(torch.nn.Module):
    """Encodes an image as the one-hot of its red channel's level and a text as its index: a perfect CLIP."""

    logit_scale = torch.tensor(math.log(2.0))  # softmax over 2 · cosine similarity

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return F.one_hot(((images[:, 0, 0, 0] * 0.25 + 0.5) * 255).round().long(), 256).float()

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return F.one_hot(tokens[:, 0], 256).float()


def test_retrieval_top1_counts_own_captions() -> None:
    captions = ["a", "b", "c"]
    images = torch.tensor([0, 1, 2, 1], dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()

    def tokenizer(texts: list[str]) -> torch.Tensor:
        return torch.tensor([[captions.index(t)] for t in texts])

    assert retrieval_top1(Oracle(), tokenizer, images, ["a", "b", "c", "b"]) == 1.0
    assert retrieval_top1(Oracle(), tokenizer, images, ["a", "b", "c", "c"]) == 0.75
    hits, probability = retrieval_scores(Oracle(), tokenizer, images, ["a", "b", "c", "c"], captions)
    assert hits.tolist() == [True, True, True, False]
    # the image's own caption scores cosine 1, the other two 0: softmax(2·[1, 0, 0]); the miss gets a 0
    expected = [math.e**2 / (math.e**2 + 2)] * 3 + [1 / (math.e**2 + 2)]
    assert torch.allclose(probability.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_bundled_toy_clip_retrieves_captions_of_fresh_renders() -> None:
    """A regression guard on the shipped checkpoint: fresh views (a seed no training or evaluation
    data used) of all 64 toy64 objects, matched against the 64 captions."""
    model, _, tokenizer = load_clip("toy")
    config = DatasetConfig(set="toy64", views=1, size=64, supersample=1, seed=2)
    samples = [render_sample(p.text, p.field(), index, config) for index, p in enumerate(toy64().prompts)]
    images = torch.from_numpy(np.stack([image for image, _ in samples])).permute(0, 3, 1, 2).contiguous()
    assert retrieval_top1(model, tokenizer, images, [record["prompt"] for _, record in samples]) >= MIN_TOY64_TOP1


@pytest.mark.slow
def test_training_command_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(tmp_path / "data", DatasetConfig(set="toy64", views=1, size=64, supersample=1), limit=6, progress=False)

    def train(run: str) -> None:
        toy_clip.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / run), "--steps", "4", "--batch", "4",
                       "--warmup", "3", "--checkpoint-every", "1"])  # fmt: skip

    train("unbroken")
    with monkeypatch.context() as dying:
        kill_after_checkpoint(dying, toy_clip, step=2)
        with pytest.raises(Killed):
            train("killed")
    train("killed")  # resumes at step 2: the last warm-up step, then the first of the cosine
    assert_same_training_state(tmp_path / "unbroken" / "checkpoint", tmp_path / "killed" / "checkpoint")
    assert json.loads((tmp_path / "killed" / "metrics.json").read_text())["steps"] == 4


@pytest.mark.slow
def test_freezing_the_text_tower_keeps_every_text_embedding(tmp_path: Path) -> None:
    # fine-tuning the image tower alone must leave what the diffusion model, ATT3D and PIL condition on
    build(tmp_path / "data", DatasetConfig(set="toy64", views=1, size=64, supersample=1), limit=6, progress=False)
    model, _ = new_toy_clip(seed=3)
    save_clip(model, tmp_path / "start", half=False)
    toy_clip.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--steps", "3", "--batch", "4",
                   "--warmup", "1", "--init", str(tmp_path / "start"), "--freeze-text", "--lr", "1e-3"])  # fmt: skip
    before, _, tokenizer = load_clip(tmp_path / "start")
    after, _, _ = load_clip(tmp_path / "run" / "model")  # fp16 weights: compare through the same rounding
    save_clip(before, tmp_path / "start16")
    before, _, _ = load_clip(tmp_path / "start16")
    text = tokenizer(["a red cube", "a green torus, side view"])
    with torch.no_grad():
        assert torch.equal(before.encode_text(text), after.encode_text(text))
        images = torch.rand(2, 3, 64, 64)
        assert not torch.allclose(before.encode_image(images), after.encode_image(images), atol=1e-3)
    with pytest.raises(SystemExit):
        toy_clip.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "bad"), "--freeze-text"])
