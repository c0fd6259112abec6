"""Building PIL's weight dataset (`python -m train.pil_dataset`): one small MLP NeRF fitted per toy-world
category object, every one from the *same* initialization (the paper's choice, which keeps weight space
organised by class; see the PCA ablation in `evaluation.pil`).

Reads top to bottom: the shared initialization (an MLP fitted to a grey ball: every genus-zero object is a
deformed sphere), the two ways to supervise a fit (3D points of the exact field, the fast default; or rays
of multi-view renders, as in the paper), the batched fit (a shard of objects in one pass), the held-out-view
PSNR, and the shards on disk (`pil.dataset` reads them): each shard is written whole (temporary file, then
rename), so an interrupted build resumes at the first missing shard. Then the measurements of a built
dataset (anti-aliased PSNR, how much of the test weights the train split's principal directions hold).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm.auto import tqdm

from nerf.analytic import SDFField, sphere_sdf
from nerf.background import ConstantBackground
from nerf.cameras import Cameras, CameraSampling, orbit_cameras, sample_cameras
from nerf.export import EmptyObjectError, opacity_surface_level, rendered_surface_mesh
from nerf.fidelity import TrueShape, export_scores
from nerf.files import atomic_path
from nerf.fit import segment_opacity
from nerf.mlp_nerf import MLPNeRF, initial_params
from nerf.random import derived_seed
from nerf.render import RenderConfig, render, render_rays
from pil.dataset import (
    CONFIG_FILE,
    INDEX_FILE,
    INIT_FILE,
    DatasetConfig,
    dataset_config,
    load_weight_dataset,
    shard_path,
)
from toyworld.categories import pil_object, pil_split
from toyworld.render_gt import BACKGROUND, render_ground_truth


# --- the shared initialization ----------------------------------------------------------------------------
def ball() -> SDFField:
    """What every fit starts from: a mid-grey ball about the size of a toy object, standing in the box."""
    return SDFField([(sphere_sdf((0.0, 0.0, 0.0), 0.35), (0.5, 0.5, 0.5))])


def shared_initialization(config: DatasetConfig) -> Tensor:
    """One weight set `[n_params]`: default-initialized MLP (seed `config.seed`) fitted to `ball()`."""
    generator = torch.Generator().manual_seed(config.seed)
    start = initial_params(config.mlp, 1, generator)
    fitted = fit_objects(
        start, [ball()], replace(config, supervision="points", steps=config.init_steps), progress=False
    )
    return fitted[0]


# --- supervision ------------------------------------------------------------------------------------------
def point_targets(obj: SDFField, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """`count` points of the box (half uniform, half within 0.04 of the surface) with the exact field's
    segment opacity and albedo there: points `[count, 3]`, opacity `[count]`, albedo `[count, 3]`."""
    near, have = [], 0
    for _ in range(64):  # thin objects (lamps, bottles) leave ~1 % of uniform points near their surface
        candidates = torch.rand(min(1 << 18, 32 * count), 3, generator=generator) * 2 - 1
        distance, _ = obj.signed_distance(candidates)
        band = candidates[distance.abs() < 0.04]
        near.append(band)
        have += band.shape[0]
        if have >= count // 2:
            break
    near_points = torch.cat(near)[: count // 2]
    uniform = torch.rand(count - near_points.shape[0], 3, generator=generator) * 2 - 1
    points = torch.cat((near_points, uniform)) * obj.bound
    target = obj(points.unsqueeze(0))
    return points, segment_opacity(target.density[0]), target.albedo[0]


def view_targets(obj: SDFField, config: DatasetConfig, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Albedo renders of `config.train_views` random views: ray origins, directions `[V·H·W, 3]` and colours."""
    cameras = sample_cameras(config.train_views, config.image_size, config.image_size, CameraSampling(), generator)
    origins, directions = cameras.rays()
    rgb = render_ground_truth(obj, cameras, shading="albedo").rgb
    return origins.reshape(-1, 3), directions.reshape(-1, 3), rgb.reshape(-1, 3)


# --- the batched fit --------------------------------------------------------------------------------------
def fit_objects(
    start: Tensor, objects: list[SDFField], config: DatasetConfig, device: str = "cpu", progress: bool = True
) -> Tensor:
    """Fit one MLP per object from `start` (`[n_params]` shared, or `[B, n_params]` per object), all at
    once. Returns the weights `[B, n_params]` (CPU, float32)."""
    batch = len(objects)
    generator = torch.Generator().manual_seed(config.seed)
    if config.supervision == "points":
        targets = [point_targets(obj, config.pool_points, generator) for obj in objects]
    else:
        targets = [view_targets(obj, config, generator) for obj in objects]
    stacked = [torch.stack(parts).to(device) for parts in zip(*targets, strict=True)]  # each [B, P, ...]
    nerf = MLPNeRF(config.mlp, num_objects=batch).to(device)
    anchor = start.expand(batch, -1).clone().to(device)
    with torch.no_grad():
        nerf.params.copy_(anchor)
    optimizer = torch.optim.Adam(nerf.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps, eta_min=config.lr / 20)
    background = ConstantBackground(BACKGROUND).to(device)
    ray_config = RenderConfig(num_samples=config.num_samples, stratified=True)
    pool = stacked[0].shape[1]
    per_step = config.points_per_step if config.supervision == "points" else config.rays_per_step
    for _ in tqdm(range(config.steps), desc=f"fitting {batch} NeRFs", disable=not progress):
        rows = torch.randint(pool, (batch, per_step), generator=generator).to(device)
        picked = [t.gather(1, rows.view(batch, -1, *[1] * (t.ndim - 2)).expand(-1, -1, *t.shape[2:])) for t in stacked]
        if config.supervision == "points":
            points, opacity, albedo = picked
            prediction = nerf(points)
            opacity_error = (segment_opacity(prediction.density) - opacity).square().mean()
            loss = opacity_error + (opacity.unsqueeze(-1) * (prediction.albedo - albedo).square()).mean()
        else:
            origins, directions, rgb = picked
            rendered = render_rays(
                nerf, origins, directions, ray_config, "albedo", None, background, generator=generator
            )
            loss = (rendered["rgb"] - rgb).square().mean()
        if config.anchor_weight > 0:
            loss = loss + config.anchor_weight * (nerf.params - anchor).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return nerf.params.detach().float().cpu()


# --- quality ----------------------------------------------------------------------------------------------
def eval_cameras(config: DatasetConfig) -> Cameras:
    """Held-out views: an orbit at 25° elevation, offset from the front so no view repeats a training one."""
    azimuth = 22.5 + torch.arange(config.eval_views) * (360.0 / config.eval_views)
    return orbit_cameras(azimuth, 25.0, 3.0, 45.0, config.image_size, config.image_size)


@torch.no_grad()
def render_psnr(
    params: Tensor, objects: list[SDFField], config: DatasetConfig, device: str = "cpu", supersample: int = 1
) -> Tensor:
    """PSNR (dB) `[B]` of albedo renders of the fitted MLPs `params [B, n_params]` against the exact
    objects' renders from `eval_cameras`; with `supersample` s, both average s×s rays per pixel
    (anti-aliased: at 64² nearly all the error of a good fit sits on silhouette pixels)."""
    cameras = eval_cameras(config)
    truth = torch.stack([render_ground_truth(obj, cameras, "albedo", supersample=supersample).rgb for obj in objects])
    fine = Cameras(cameras.c2w, cameras.fov_y, cameras.width * supersample, cameras.height * supersample)
    nerf = MLPNeRF(config.mlp, num_objects=None).to(device).bind(params.to(device))
    rgb = render(nerf, fine.to(device), RenderConfig(num_samples=config.num_samples), "albedo",
                 background=ConstantBackground(BACKGROUND).to(device)).rgb.cpu()  # fmt: skip
    size = config.image_size
    rgb = rgb.view(len(objects), -1, size, supersample, size, supersample, 3).mean(dim=(3, 5))
    mse = (rgb.clamp(0, 1) - truth).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp(min=1e-10))


# --- the dataset on disk ----------------------------------------------------------------------------------
def build_dataset(
    config: DatasetConfig, out: str | Path, device: str = "cpu", progress: bool = True, workers: int = 1
) -> dict:
    """Fit every object into `out` (resuming: finished shards are kept). Returns the summary. `workers`
    processes (one thread each) fit the missing shards side by side, one shard each at a time: every shard's
    fit depends on its number alone, so the shards are the ones one process makes."""
    if not 1 <= workers <= 256:
        raise ValueError(f"workers must be 1..256, got {workers}")
    try:
        kind = torch.device(device).type
    except RuntimeError as error:
        raise ValueError(f"device {device!r}: {error}") from None
    if workers > 1 and kind != "cpu":
        raise ValueError(f"workers > 1 are processes on CPU cores; on {device} one process fits the shards in turn")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config_text = json.dumps(asdict(config), indent=2)
    # compared as settings, not as text: a dataset begun before a setting existed (its default) resumes
    if (out / CONFIG_FILE).exists() and dataset_config(out) != config:
        raise ValueError(f"{out} holds a dataset built with other settings; use a new folder")
    (out / CONFIG_FILE).write_text(config_text)
    if not (out / INIT_FILE).exists():
        _save_atomic({"params": shared_initialization(config)}, out / INIT_FILE)
    shards = (len(config.objects()) + config.shard_size - 1) // config.shard_size
    missing = [number for number in range(shards) if not shard_path(out, number).exists()]
    if workers == 1:
        for number in missing:
            _build_shard(config, out, number, device, progress)
    else:
        # spawned, not forked: a fork after this process's own multi-threaded torch work can hang
        processes = min(workers, max(len(missing), 1))
        with ProcessPoolExecutor(processes, get_context("spawn"), initializer=_one_thread) as pool:
            list(pool.map(_build_shard, [config] * len(missing), [out] * len(missing), missing,
                          [device] * len(missing), [progress] * len(missing)))  # fmt: skip
    return write_index(out, config)


def _one_thread() -> None:
    torch.set_num_threads(1)  # a worker per core: threads within each would only contend


def _build_shard(config: DatasetConfig, out: Path, number: int, device: str, progress: bool) -> None:
    """Fit shard `number`'s objects from the shared start (or their own, for the ablation), measure their
    held-out PSNR and write the shard whole."""
    members = config.objects()[number * config.shard_size : (number + 1) * config.shard_size]
    began = time.perf_counter()
    fields = [obj.field() for obj in members]
    shard_config = replace(config, seed=derived_seed(config.seed, number))
    start = load_file(out / INIT_FILE)["params"]
    own = initial_params(config.mlp, len(members), torch.Generator().manual_seed(shard_config.seed))
    params = fit_objects((start if config.shared_init else own).to(device), fields, shard_config, device, progress)
    seconds = time.perf_counter() - began
    psnr = render_psnr(params, fields, config, device)
    _save_atomic({"params": params, "psnr": psnr, "seconds": torch.tensor(seconds)}, shard_path(out, number))
    if progress:
        print(f"shard {number}: {len(members)} objects in {seconds:.0f} s, PSNR {psnr.mean():.2f} dB", flush=True)


def _save_atomic(tensors: dict[str, Tensor], path: Path) -> None:
    with atomic_path(path) as partial:
        save_file({k: v.contiguous() for k, v in tensors.items()}, partial)


def write_index(out: Path, config: DatasetConfig) -> dict:
    """`index.json`: a record per object and the summary (PSNR by split, seconds per object)."""
    objects, records, seconds, weights = config.objects(), [], 0.0, []
    for number in range(0, (len(objects) + config.shard_size - 1) // config.shard_size):
        shard = load_file(shard_path(out, number))
        seconds += float(shard["seconds"])
        weights.append(shard["params"])
        for row, psnr in enumerate(shard["psnr"].tolist()):
            obj = objects[number * config.shard_size + row]
            records.append({"category": obj.category, "seed": obj.seed, "split": pil_split(obj.seed),
                            "caption": obj.caption, "colour": obj.colour, "shard": number, "row": row,
                            "psnr": round(psnr, 2)})  # fmt: skip
    psnrs = torch.tensor([r["psnr"] for r in records])
    params = torch.cat(weights)
    start = load_file(out / INIT_FILE)["params"] if config.shared_init and (out / INIT_FILE).exists() else None
    summary = {
        "objects": len(records),
        "train": sum(r["split"] == "train" for r in records),
        "test": sum(r["split"] == "test" for r in records),
        "psnr_mean": round(psnrs.mean().item(), 2),
        "psnr_min": round(psnrs.min().item(), 2),
        "share_above_28db": round((psnrs >= 28).float().mean().item(), 3),
        "seconds_per_object": round(seconds / len(records), 2),
        "supervision": config.supervision,
        # how far the fits went from the shared start: RMS of w − w₀ over the RMS of w₀
        "distance_from_start": None
        if start is None
        else round(((params - start).square().mean() / start.square().mean()).sqrt().item(), 3),
    }
    (out / INDEX_FILE).write_text(json.dumps({"summary": summary, "objects": records}, indent=1))
    return summary


def fit_mesh_scores(params: Tensor, records: list[dict], config: DatasetConfig) -> list[dict]:
    """Each fitted NeRF's `.glb` against its object's true shape (`nerf.fidelity.export_scores`: mesh IoU,
    Chamfer distance, colour error), the ceiling of every PIL route's mesh; and, as `surface_iou`, the mesh IoU
    at the fit's own surface (`nerf.export.opacity_surface_level`), which the export's level hides: the true
    objects' soft shell fattens thin parts at the export's level as much as the fits' does (docs/PIL.md)."""
    nerf = MLPNeRF(config.mlp, num_objects=None)
    scores = []
    for weights, record in zip(params, records, strict=True):
        truth = TrueShape.of_field(pil_object(record["category"], record["seed"]).field())
        field = nerf.bind(weights[None])
        with torch.no_grad():
            exported = export_scores(field, truth)
            try:
                surface = truth.score(rendered_surface_mesh(field, level=opacity_surface_level(field))).iou
            except EmptyObjectError:
                surface = 0.0
        scores.append({"category": record["category"], **exported, "surface_iou": surface})
    return scores


def measure_supersampled(folder: str | Path, split: str = "test", supersample: int = 2) -> dict:
    """Anti-aliased PSNR of a split's fitted NeRFs (`render_psnr` with `supersample`) and their `.glb`'s
    mesh IoU against the true shapes (mean, lowest, per category; and at the fits' own surface, `surface_iou`),
    written to `quality.json` beside the index."""
    params, records, config = load_weight_dataset(folder, split)
    psnr = torch.cat([
        render_psnr(params[i : i + 8], [pil_object(r["category"], r["seed"]).field() for r in records[i : i + 8]],
                    config, supersample=supersample)
        for i in range(0, len(records), 8)
    ])  # fmt: skip
    quality = {"split": split, "objects": len(records), "supersample": supersample,
               "psnr_mean": round(psnr.mean().item(), 2), "psnr_min": round(psnr.min().item(), 2),
               "share_above_28db": round((psnr >= 28).float().mean().item(), 3),
               "pixel_centre_psnr_mean": round(float(sum(r["psnr"] for r in records) / len(records)), 2)}  # fmt: skip
    train, _, _ = load_weight_dataset(folder, "train")
    meshes = fit_mesh_scores(params, records, config)
    ious = np.array([m["mesh_iou"] for m in meshes])
    categories = np.array([m["category"] for m in meshes])
    per_category = {c: round(float(ious[categories == c].mean()), 3) for c in sorted(set(categories.tolist()))}
    surface = np.array([m["surface_iou"] for m in meshes])
    quality |= {"mesh_iou_mean": round(float(ious.mean()), 3), "mesh_iou_min": round(float(ious.min()), 3),
                "mesh_iou_per_category": per_category, "surface_iou_mean": round(float(surface.mean()), 3),
                "surface_iou_min": round(float(surface.min()), 3)}  # fmt: skip
    quality["test_variance_explained_by_train_pca"] = {
        str(k): round(explained_variance(train, load_weight_dataset(folder, "test")[0], k), 3) for k in (8, 32, 128)
    }
    (Path(folder) / "quality.json").write_text(json.dumps(quality, indent=1))
    return quality


def explained_variance(train: Tensor, test: Tensor, components: int) -> float:
    """The share of the test weights' variance (around the train mean) that the train weights' top
    `components` principal directions hold: how low-dimensional, and so how learnable from this many
    objects, the weight space is (float64)."""
    mean = train.double().mean(0)
    centred, held_out = train.double() - mean, test.double() - mean
    directions = torch.linalg.svd(centred, full_matrices=False)[2][:components]  # [k, n_params]
    residual = held_out - held_out @ directions.T @ directions
    return 1.0 - (residual.square().sum() / held_out.square().sum().clamp(min=1e-30)).item()
