"""ATT3D training as library code: one mapping network for a whole prompt set, by score distillation.
Its command line is `train/att3d.py`:

    python -m train.att3d --prompts toy64 --split seen --out runs/att3d/toy64
    accelerate launch --multi_gpu --num_processes 4 -m train.att3d ...      # the same update, split over GPUs
    torchrun --nproc_per_node 2 -m train.att3d --device cpu ...             # ... or over CPU processes (gloo)

Each step draws a batch of prompts from the training split (or interpolants `(1-α)c1 + αc2` of prompt
pairs), random cameras, view-dependent prompt suffixes and one shading mode; renders every prompt's
object through the shared model; and applies SDS through `guidance/`. The settings, loss and update
are `distillation.step`'s, shared with per-prompt DreamFusion, with the paper's optimiser: Adam without
momentum (β1 = 0), gradient clipping, warm-up + cosine learning rate, mixed precision on CUDA. All randomness of a step
is drawn from (seed, step, place in the global batch), so a resumed run continues exactly where it was
and a run split over processes (Hugging Face Accelerate) makes the same update as one process.

Outputs in `--out`: `checkpoint/` (resumable, written atomically), `snapshots/step_N/` (the model in
Hub layout at chosen steps: the evaluation's compute budgets), `model/` (the final one), `renders/`
(periodic views of fixed prompts), `log.jsonl` (loss, learning rate, prompt spread, seconds) and the
`config.json` that made them, with `sittings.jsonl` (the step each sitting started at, and the machine it ran on).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list
from torch import Tensor
from tqdm.auto import tqdm

from att3d import ATT3D, ATT3DConfig, prompt_spread
from att3d.interpolation import InterpolantSampling, sample_interpolants
from att3d.model import prompt_words
from distillation.shape_prior import AssetPairs, shape_prior_loss
from distillation.step import SDSRunSettings, SDSUpdate
from guidance import Guidance, load_guidance
from guidance.prompts import clean_prompt
from hub.model_card import machine, write_model_card
from nerf.cameras import Cameras, CameraSampling, sample_cameras, turntable
from nerf.interpolation import interpolate
from nerf.random import derived_seed, object_generators
from nerf.render import RenderConfig, render, sample_light_directions
from nerf.video import save_image_grid
from toyworld.assets import AssetLibrary
from toyworld.prompts import prompt_key, prompt_set


@dataclass(frozen=True)
class ATT3DTrainConfig(SDSRunSettings):
    """One amortized run. Defaults suit the toy world on a CPU (toy64's 56 seen prompts: minutes)."""

    prompts: str = "toy64"  # a toy-world prompt set, or a .txt file of prompts (one per line)
    split: str = "seen"  # the split trained on
    steps: int = 1500
    prompts_per_step: int = 8  # the global batch, split over processes
    views: int = 1  # per prompt and step
    resolution: int | None = None  # None: the guidance model's own
    lr: float = 1e-2
    beta1: float = 0.0  # Adam without momentum, as the paper (momentum made its training oscillate)
    lr_schedule: str = "cosine"  # after the warm-up
    warmup: int = 50
    grad_clip: float | None = 1.0  # of the global gradient norm
    interpolants: InterpolantSampling = field(default_factory=InterpolantSampling)
    # draw each kind of training prompt (toy64's single objects, stacks, category captions) equally often,
    # whatever their counts: in the world set, toy64 is 56 of 2315 seen prompts and would be met rarely
    balance_kinds: bool = False
    anneal_steps: int = 1000
    model: ATT3DConfig = field(default_factory=ATT3DConfig)  # text_encoder and text sizes come from the guidance
    mixed_precision: str = "auto"  # "auto": bf16 on CUDA, none on CPU; or "no", "bf16", "fp16"
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()  # save the model at these steps (compute budgets to evaluate)
    render_every: int = 100
    checkpoint_every: int = 100
    log_every: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "snapshot_steps", tuple(sorted(set(self.snapshot_steps))))
        if min(self.steps, self.prompts_per_step, self.views) < 1:
            raise ValueError("steps, prompts_per_step and views must be >= 1")
        if self.resolution is not None and not 16 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be 16..1024, got {self.resolution}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ValueError(f"mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        if self.balance_kinds and self.prompts.endswith(".txt"):
            raise ValueError(
                "balance_kinds needs a toy-world prompt set, whose prompts have kinds; a .txt file's do not"
            )
        if self.snapshot_steps and not 1 <= self.snapshot_steps[0] <= self.snapshot_steps[-1] <= self.steps:
            raise ValueError(f"snapshot_steps must lie in 1..steps ({self.steps}), got {self.snapshot_steps}")

    def frames_per_prompt(self, step: int, num_prompts: int) -> float:
        """The compute budget after `step` steps: rendered frames per training prompt (the paper's Fig. 6 axis)."""
        return step * self.prompts_per_step * self.views / num_prompts


@dataclass
class TrainingBatch:
    """One step's draws for the global batch of B prompts (or interpolants) × V views."""

    first: np.ndarray  # [B] prompt indices
    second: np.ndarray  # [B]
    alpha: np.ndarray  # [B] interpolation weights
    shading: str
    seed: int  # the step's seed, from which per-object generators derive
    cameras: Cameras  # [B, V]
    light: Tensor | None  # [B, V, 3]


def draw_batch(
    config: ATT3DTrainConfig, step: int, num_prompts: int, resolution: int, probabilities: np.ndarray | None = None
) -> TrainingBatch:
    """Everything random about step `step` that is shared by the global batch (every process draws it whole);
    prompts uniformly, or by `probabilities` (`kind_probabilities`)."""
    rng = np.random.default_rng([config.seed, step])
    batch, views = config.prompts_per_step, config.views
    first, second, alpha = sample_interpolants(rng, batch, num_prompts, config.interpolants, probabilities)
    shading = config.pick_shading(rng.random())
    seed = derived_seed(config.seed, step)
    generator = torch.Generator().manual_seed(seed)
    cameras = sample_cameras(batch * views, resolution, resolution, CameraSampling(), generator).reshape(batch, views)
    light = sample_light_directions(cameras, generator=generator) if shading != "albedo" else None
    return TrainingBatch(first, second, alpha, shading, seed, cameras, light)


def local_rows(batch: int, process: int, processes: int) -> slice:
    """This process's contiguous share of the global batch."""
    if batch % processes:
        raise ValueError(f"prompts_per_step ({batch}) must be divisible by the number of processes ({processes})")
    share = batch // processes
    return slice(process * share, (process + 1) * share)


class Trainer:
    """An amortized run over `prompts` (texts) with `guidance`; `step()` makes one update."""

    def __init__(
        self,
        config: ATT3DTrainConfig,
        guidance: Guidance,
        prompts: list[str],
        accelerator: Accelerator,
        library: AssetLibrary | None = None,
    ) -> None:
        self.config, self.guidance, self.prompts, self.accelerator = config, guidance, prompts, accelerator
        if config.shape.enabled and library is None:
            raise ValueError("the shape regularization (config.shape) needs an asset library")
        self.library = library if config.shape.enabled else None
        # each training prompt's asset: the library's nearest caption (LATTE3D's retrieval)
        self.assets = library.retrieve(prompts)[0] if self.library is not None else None
        self.resolution = config.resolution or guidance.resolution
        self.probabilities = kind_probabilities(config.prompts, prompts) if config.balance_kinds else None
        self.embeddings = guidance.text_encoder.encode(prompts).states.float()  # [P, L, W]: the mapping input
        words = sorted({w for p in prompts for w in prompt_words(p)})
        model_config = replace(
            config.model,
            text_tokens=self.embeddings.shape[1],
            text_width=self.embeddings.shape[2],
            background=guidance.background,
            training_words=tuple(words),
            training_prompts=tuple(prompts),
        )
        with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed alone
            torch.manual_seed(config.seed)
            self.model = ATT3D(model_config)
        self.optimiser = SDSUpdate(config, self.model, config.lr, config.steps, accelerator)
        self.train_render = RenderConfig(num_samples=config.num_samples, stratified=True,
                                         detach_normals=config.detach_normals)  # fmt: skip

    def step(self, step: int) -> dict[str, float]:
        """One update at step number `step` (0-based); returns the local losses and the prompt spread."""
        config, accelerator = self.config, self.accelerator
        draws = draw_batch(config, step, len(self.prompts), self.resolution, self.probabilities)
        rows = local_rows(config.prompts_per_step, accelerator.process_index, accelerator.num_processes)
        first, second = draws.first[rows], draws.second[rows]
        alpha = torch.as_tensor(draws.alpha[rows], dtype=torch.float32)
        views, device = config.views, accelerator.device
        embeddings = interpolate(self.embeddings[first], self.embeddings[second], alpha).to(device)
        cameras = draws.cameras[rows].to(device)
        light = None if draws.light is None else draws.light[rows].to(device)
        global_rows = range(config.prompts_per_step)[rows]
        render_generators = object_generators(draws.seed, global_rows)  # ids 0..B-1: objects, then B + image
        image_ids = [config.prompts_per_step + r * views + v for r in global_rows for v in range(views)]
        sds_generators = object_generators(draws.seed, image_ids)
        flat_cameras = cameras.reshape(-1)
        text = self.guidance.view_conditioning([self.prompts[i] for i in np.repeat(first, views)], flat_cameras)
        if config.interpolants.kind != "binary":
            other = self.guidance.view_conditioning([self.prompts[i] for i in np.repeat(second, views)], flat_cameras)
            weights = alpha.repeat_interleave(views)
            text = text.apply(lambda a, b: interpolate(a, b, weights.to(a)), other)
        sds_config = config.sds_config(self.guidance, step)
        with accelerator.autocast():
            params = self.optimiser.wrapped(embeddings).float()  # [b, n_params]; grid lookups stay fp32 under autocast
            fields = self.model.bind(params)
            rendered = render(fields, cameras, self.train_render, draws.shading, light,
                              self.model.background, generator=render_generators)  # fmt: skip
            images = rendered.rgb.flatten(0, 1).permute(0, 3, 1, 2).float()  # [b·V, 3, r, r]
            sds = self.guidance.sds_loss_from_text(images, text, flat_cameras, sds_config, sds_generators)
            tv, colour_tv = self.model.regularizers(params)
            opacity = rendered.opacity.float().flatten(0, 1).sum((-1, -2)).mean()
            loss = config.smoothed(config.loss(sds.loss, rendered.opacity), tv, colour_tv)
            shape_parts = {}
            if self.library is not None:
                pairs = AssetPairs(self.assets[first], self.assets[second], draws.alpha[rows])
                shape_ids = [config.prompts_per_step * (1 + views) + r for r in global_rows]  # after the images
                points = object_generators(draws.seed, shape_ids)
                mean = partial(accelerator.reduce, reduction="mean")  # the colour term's count, over processes
                shape, shape_parts = shape_prior_loss(
                    config.shape, step, fields, rendered.opacity, cameras, self.library, pairs, points, mean
                )
                loss = loss + shape
        self.optimiser.update(loss)
        return {"loss": loss.item(), "sds": sds.loss.item(), "opacity": opacity.item(), "tv": tv.item(),
                "spread": prompt_spread(params), "lr": self.optimiser.lr, **shape_parts}  # fmt: skip


# --- the run ---------------------------------------------------------------------------------------------
def kind_probabilities(prompt_set_name: str, prompts: list[str]) -> np.ndarray:
    """Each training prompt's probability of being drawn so that every kind of prompt in a toy-world set
    (single objects, stacks, category captions) is drawn equally often, and the prompts of a kind alike.
    (`ATT3DTrainConfig` refuses `balance_kinds` for a .txt prompt file, whose prompts have no kinds.)"""
    kinds = {p.text: p.kind for p in prompt_set(prompt_set_name).prompts}
    of_prompt = [kinds[text] for text in prompts]
    counts = {kind: of_prompt.count(kind) for kind in set(of_prompt)}
    weights = np.array([1 / (counts[kind] * len(counts)) for kind in of_prompt])
    return weights / weights.sum()


def training_prompts(prompts: str, split: str) -> tuple[list[str], list[str]]:
    """(training prompts, held-out prompts) of a toy-world prompt set's split, or of a text file with
    one prompt per line (all of them trained; `split` does not apply)."""
    if prompts.endswith(".txt"):
        path = Path(prompts)
        if not path.is_file():
            raise ValueError(f"prompt file {prompts} does not exist")
        texts: dict[str, str] = {}  # by prompt_key: one prompt whatever its case and spacing
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                text = clean_prompt(line)  # as the app will clean it
            except ValueError as error:
                raise ValueError(f"{prompts}, line {number}: {error}") from None
            texts.setdefault(prompt_key(text), text)
        if not texts:
            raise ValueError(f"{prompts} holds no prompt: write one prompt a line")
        return list(texts.values()), []
    chosen = prompt_set(prompts)
    training = [p.text for p in chosen.split(split)]
    return training, [p.text for p in chosen.prompts if p.text not in set(training)]


def preview_prompts(prompts: list[str], held_out: list[str], count: int = 8) -> list[str]:
    """Fixed prompts for the periodic renders: a fixed random `count` of the training prompts and of the
    held-out ones (a set's neighbours in order differ in one word only)."""
    rng = np.random.default_rng(0)
    return [group[i] for group in (prompts, held_out) for i in sorted(rng.permutation(len(group))[:count])]


@torch.no_grad()
def render_previews(model: ATT3D, guidance: Guidance, prompts: list[str], path: Path, size: int = 64) -> None:
    """4 lambertian views of each prompt's object, one row per prompt, into one image."""
    was_training = model.training
    model.eval()
    embeddings = guidance.text_encoder.encode(prompts).states.float().to(model.device)
    cameras = turntable(4, width=size, height=size).to(model.device)
    out = render(model.fields(embeddings), cameras, RenderConfig(), "lambertian", background=model.background)
    save_image_grid(out.rgb.cpu(), path)
    model.train(was_training)


def json_records(path: Path) -> list[dict]:
    """Every whole record of a run's JSON-lines file (`log.jsonl`, `sittings.jsonl`), in order (none when the
    file does not exist); a line cut short by a killed sitting is skipped."""
    lines = path.read_text().splitlines() if path.is_file() else []
    whole = []
    for line in lines:
        try:
            whole.append(json.loads(line))
        except ValueError:
            continue
    return whole


def logged(run: Path, key: str) -> list[float]:
    """`key`'s value in every whole record of a run's log that has it, in order (none when the run has no log)."""
    return [float(record[key]) for record in json_records(run / "log.jsonl") if key in record]


def trained_on(run: Path) -> list[str]:
    """The machines a run's sittings ran on (`sittings.jsonl`), each once, in order; none for a run whose
    sittings were not recorded."""
    machines = []
    for record in json_records(run / "sittings.jsonl"):
        processes = record.get("processes", 1)
        name = record["machine"] + (f" × {processes} processes" if processes > 1 else "")
        if name not in machines:
            machines.append(name)
    return machines


def training_seconds(run: Path, step: int | None = None) -> float:
    """The wall seconds of a run's training, from its log: each sitting's clock starts at 0 (a resumed
    run), so the total is the sum of each sitting's last record. With `step`: the seconds until the run first
    logged that step (when its snapshot there was written): the sittings before, and the clock of the one
    that got there. NaN when the run has no log, or never got to `step`."""
    records = list(zip(logged(run, "step"), logged(run, "seconds"), strict=True))
    if not records:
        return float("nan")
    sittings, spent = [[records[0]]], 0.0
    for previous, record in itertools.pairwise(records):
        if record[1] < previous[1]:  # a sitting ended before a restart
            sittings.append([])
        sittings[-1].append(record)
    for sitting in sittings:
        reached = [seconds for logged_step, seconds in sitting if step is not None and logged_step >= step]
        if reached:
            return spent + reached[0]
        spent += sitting[-1][1]
    return spent if step is None else float("nan")


def write_card(
    out: Path, config: ATT3DTrainConfig, guidance: str, training: list[str], held_out: list[str], step: int
) -> None:
    """The model card of a run's `model/` at `step` (what `hub.push` uploads): the run's command as its recipe,
    the prompt set it was trained on and what it kept out, and what the run measured (its last logged losses,
    its training time over every sitting and the machines they ran on). A run on a toy-world prompt set is
    judged against the truth by `python -m evaluation.att3d --att3d RUN`."""
    run = json.loads((out / "config.json").read_text())
    losses = logged(out, "loss")[-10:]
    shown = ", ".join(f'"{p}"' for p in training[:8]) + (f" and {len(training) - 8} more" if len(training) > 8 else "")
    summary = (f"An ATT3D mapping network (`{config.model.backbone}` backbone): one forward pass from a prompt's text "
               f"embedding to a radiance field, trained by score distillation from `{guidance}` on "
               f"{len(training)} prompts of `{config.prompts}` (split `{config.split}`): {shown}. "
               f"{len(held_out)} prompts of the set were held out and never trained on. Load it with "
               "`ATT3DPipeline.from_pretrained`, or serve it with `python app.py --att3d FOLDER_OR_REPO`.")  # fmt: skip
    metrics = {"steps": step, "steps_planned": config.steps, "prompts_trained": len(training),
               "prompts_held_out": len(held_out), "prompts_per_step": config.prompts_per_step,
               "shape_prior": config.shape.enabled, "final_loss": round(float(np.mean(losses)), 6) if losses else None,
               "training_minutes": round(training_seconds(out) / 60, 1), "processes": run["processes"],
               "trained_on": trained_on(out)}  # fmt: skip
    write_model_card(out / "model", "ATT3D", summary, metrics, "amortized-3d", ("text-to-3d", "nerf", "att3d"),
                     command=run.get("command") or "python -m train.att3d")  # fmt: skip


def mixed_precision(config: ATT3DTrainConfig, device: str | None) -> str:
    cuda = torch.cuda.is_available() and device != "cpu"
    return ("bf16" if cuda else "no") if config.mixed_precision == "auto" else config.mixed_precision


def train_att3d(
    config: ATT3DTrainConfig,
    guidance_source: str,
    out: str | Path,
    device: str | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    command: str | None = None,
    minutes: float | None = None,
) -> ATT3D:
    """Train (or resume) an amortized model into folder `out`; returns the model. `stop_after`: end this
    call after that many steps (a later call resumes), as if the process had been killed. `command`: the
    command line that made the run, recorded in its config.json (the model card's recipe). `minutes`: one
    sitting, ended at the first checkpoint after that long, with the model so far written to `model/` (to
    judge it); the same call resumes the run exactly."""
    out = Path(out)
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=mixed_precision(config, device))
    guidance = load_guidance(guidance_source, device=accelerator.device)
    config = replace(config, model=replace(config.model, text_encoder=str(guidance_source)))
    training, held_out = training_prompts(config.prompts, config.split)
    # the held-out prompts' own objects never enter the library (unseen stays unseen)
    library = AssetLibrary.build(guidance.text_encoder, exclude=held_out) if config.shape.enabled else None
    trainer = Trainer(config, guidance, training, accelerator, library)
    checkpoint = out / "checkpoint"
    step, _ = trainer.optimiser.resume(checkpoint)
    if step:
        print(f"resumed at step {step}")
    main = accelerator.is_main_process
    if main:
        out.mkdir(parents=True, exist_ok=True)
        if command is None and (out / "config.json").exists():  # a resumed run keeps the command that started it
            command = json.loads((out / "config.json").read_text()).get("command")
        (out / "config.json").write_text(json.dumps({"guidance": str(guidance_source), "prompts_trained": len(training),
                                                     "processes": accelerator.num_processes, "command": command,
                                                     **asdict(config)}, indent=2, default=str))  # fmt: skip
        if step < config.steps:  # where each sitting ran, for the card (a finished run rerun trains nothing)
            with (out / "sittings.jsonl").open("a") as sittings:
                sittings.write(json.dumps({"from_step": step, "machine": machine(accelerator.device),
                                           "processes": accelerator.num_processes}) + "\n")  # fmt: skip
        if library is not None:
            index, similarity = library.retrieve(training)
            retrieval = [{"prompt": p, "asset": library.captions[i], "similarity": round(float(s), 4)}
                         for p, i, s in zip(training, index, similarity, strict=True)]  # fmt: skip
            (out / "retrieval.json").write_text(json.dumps(retrieval, indent=1))
    previews = preview_prompts(training, held_out)
    started = time.perf_counter()
    end = config.steps if stop_after is None else min(config.steps, step + stop_after)
    bar = tqdm(total=config.steps, initial=step, desc="att3d", disable=not (progress and main))
    sitting_over = False
    while step < end:
        metrics = trainer.step(step)
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}", spread=f"{metrics['spread']:.2f}")
        if minutes is not None and step < end and step % config.checkpoint_every == 0:
            # every process ends the sitting at the same step: the main process's clock decides
            late = time.perf_counter() - started > 60 * minutes
            sitting_over = broadcast_object_list([late])[0]
            end = step if sitting_over else end
        if not main:
            continue
        if step % config.log_every == 0 or step == config.steps or step == end:  # a sitting's last step too
            frames = config.frames_per_prompt(step, len(training))
            record = {"step": step, "frames_per_prompt": frames, "seconds": round(time.perf_counter() - started, 2)}
            with (out / "log.jsonl").open("a") as log:
                log.write(json.dumps(record | {k: round(v, 6) for k, v in metrics.items()}) + "\n")
        if config.render_every and (step % config.render_every == 0 or step == config.steps):
            render_previews(trainer.model, guidance, previews, out / "renders" / f"step_{step:05d}.png")
        if step in config.snapshot_steps:
            trainer.model.save_pretrained(out / "snapshots" / f"step_{step:05d}")
        if step % config.checkpoint_every == 0 or step == config.steps or step == end:
            trainer.optimiser.save(checkpoint, step)
    bar.close()
    accelerator.wait_for_everyone()
    if main and (step == config.steps or sitting_over):
        trainer.model.save_pretrained(out / "model")
        write_card(out, config, str(guidance_source), training, held_out, step)
    if main and sitting_over:
        print(f"sitting over at step {step} of {config.steps}; run the same command again to resume")
    return trainer.model
