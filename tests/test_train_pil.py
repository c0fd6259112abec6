"""PIL end to end on a tiny world: the weight dataset (fits, splits, shards, resume), both training
stages, the pipeline from the trained folder (image and text prompts, export) and its command line."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from gltf_validator import validate_gltf
from killed_run import Killed, assert_same_training_state, kill_after_checkpoint
from PIL import Image
from safetensors.torch import load_file
from tiny_models import TINY_MLP, TINY_PIL_DATA, TINY_PIL_TRAINING, tiny_pil, tiny_toy

from dreamfusion.warm_start import nearest_scene_field, warm_start_field
from evaluation import warm_start as warm_start_experiment
from evaluation.pil import ROUTES, PILJudge, frechet_distance, main_colour_right
from evaluation.pil import main as evaluate_main
from evaluation.pil_aligner import PREDICTORS, ridge_map
from evaluation.pil_aligner import main as aligner_judge_main
from hub.model_card import machine
from hub.source import model_folder
from nerf.analytic import SDFField, sphere_sdf
from nerf.mlp_nerf import MLPNeRF
from nerf.saving import config_from
from nerf.settings import changed_settings, with_overrides
from pil.build import (
    build_dataset,
    explained_variance,
    fit_objects,
    measure_supersampled,
    point_targets,
    render_psnr,
    shared_initialization,
    write_index,
)
from pil.dataset import DatasetConfig, load_weight_dataset, shard_path
from pil.generate import PILPipeline, main
from pil.stages import timed, trained_on
from train import pil as pil_training
from train import pil_dataset as pil_dataset_command
from train.pil import train_aligner, train_vae

TINY = TINY_PIL_DATA


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return tiny_pil(tmp_path_factory.mktemp("pil"))


@pytest.fixture(scope="module")
def dataset(built):
    return built[0], write_index(built[0], TINY)


@pytest.fixture(scope="module")
def model(built):
    return built[1]


def test_point_targets_sample_near_the_surface():
    ball = SDFField([(sphere_sdf((0, 0, 0), 0.3), (1.0, 0.0, 0.0))])
    points, opacity, albedo = point_targets(ball, 1000, torch.Generator().manual_seed(0))
    distance = points[:500].norm(dim=-1) - 0.3
    assert distance.abs().max() < 0.04  # the first half: the surface band
    near = opacity[:500][distance.argsort()]
    assert near[0] > 0.99 and near[-1] < 0.3 and (near.diff() <= 1e-6).all()  # opaque inside, fading outside
    torch.testing.assert_close(albedo, torch.tensor([1.0, 0.0, 0.0]).expand(1000, 3))


def test_fitting_from_a_shared_start_learns_each_object():
    config = DatasetConfig(mlp=TINY_MLP, steps=150, pool_points=4096, points_per_step=1024, eval_views=2,
                           image_size=16, num_samples=32, init_steps=100)  # fmt: skip
    balls = [SDFField([(sphere_sdf((0, 0.1, 0), r), (0.9, 0.2, 0.1))]) for r in (0.2, 0.45)]
    start = shared_initialization(config)  # the grey ball of radius 0.35
    fitted = fit_objects(start, balls, config, progress=False)
    psnr = render_psnr(fitted, balls, config)
    assert (psnr > render_psnr(start.expand(2, -1), balls, config) + 5).all()
    assert not torch.allclose(fitted[0], fitted[1])


def test_the_anchor_keeps_fits_near_their_shared_start():
    config = DatasetConfig(mlp=TINY_MLP, steps=100, pool_points=4096, points_per_step=1024, eval_views=2,
                           image_size=16, num_samples=32, init_steps=50)  # fmt: skip
    balls = [SDFField([(sphere_sdf((0, 0.1, 0), r), (0.9, 0.2, 0.1))]) for r in (0.2, 0.45)]
    start = shared_initialization(config)
    free = fit_objects(start, balls, config, progress=False)
    anchored = fit_objects(start, balls, replace(config, anchor_weight=10.0), progress=False)
    distance = lambda fitted: (fitted - start).square().mean(-1)  # noqa: E731
    assert (distance(anchored) < 0.5 * distance(free)).all()
    with pytest.raises(ValueError, match="anchor_weight"):
        DatasetConfig(anchor_weight=-1.0)


def test_dataset_has_the_split_the_shards_and_resumes(dataset):
    out, summary = dataset
    assert summary["objects"] == 20 and summary["test"] == 2 and summary["train"] == 18  # seeds ending in 9
    assert summary["distance_from_start"] > 0
    params, records, config = load_weight_dataset(out, "test")
    assert config == TINY and params.shape == (2, TINY_MLP.n_params)
    assert {(r["category"], r["seed"]) for r in records} == {("chair", 9), ("mug", 9)}
    shard = shard_path(out, 1)
    before, untouched = load_file(shard), shard_path(out, 0).stat().st_mtime_ns
    shard.unlink()
    build_dataset(TINY, out, progress=False)  # refits the missing shard only, the same way
    torch.testing.assert_close(load_file(shard)["params"], before["params"])
    assert shard_path(out, 0).stat().st_mtime_ns == untouched
    # two processes side by side, a shard each: the same shards one process made
    shards = [load_file(shard_path(out, n)) for n in range(summary["objects"] // TINY.shard_size)]
    for number in (0, 1):
        shard_path(out, number).unlink()
    assert build_dataset(TINY, out, progress=False, workers=2)["objects"] == 20
    for number, made in enumerate(shards):
        # one thread in a worker, maybe more in this process: the same fit up to the order of float sums
        torch.testing.assert_close(load_file(shard_path(out, number))["params"], made["params"], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="workers must be 1"):
        build_dataset(TINY, out, progress=False, workers=0)
    with pytest.raises(ValueError, match="processes on CPU cores"):
        build_dataset(TINY, out, device="cuda", progress=False, workers=2)
    with pytest.raises(ValueError, match="other settings"):
        build_dataset(DatasetConfig(mlp=TINY_MLP, steps=41), out, progress=False)
    saved = json.loads((out / "config.json").read_text())
    del saved["anchor_weight"]  # written before the setting existed: its default, so the build resumes
    (out / "config.json").write_text(json.dumps(saved))
    build_dataset(TINY, out, progress=False)


def test_changed_settings_name_what_differs_from_the_defaults_and_round_trip():
    config = replace(TINY, anchor_weight=1.0, shared_init=False, supervision="views")
    changed = changed_settings(config, DatasetConfig())
    assert {"anchor_weight=1.0", "shared_init=false", 'supervision="views"'} <= set(changed)
    assert 'categories=["chair", "mug"]' in changed and "mlp.hidden_dim=16" in changed
    assert not any(c.startswith(("lr=", "seed=", "mlp.num_layers=")) for c in changed)  # left at their defaults
    assert with_overrides(DatasetConfig(), changed) == config
    assert changed_settings(DatasetConfig(), DatasetConfig()) == []


def test_trained_folder_has_the_bundle_layout(model):
    for name in ("vae/config.json", "vae/model.safetensors", "aligner/config.json", "scenes.safetensors",
                 "scenes.json", "pil.json"):  # fmt: skip
        assert (model / name).exists(), name
    assert len(json.loads((model / "scenes.json").read_text())) == 18


def test_pipeline_from_image_and_text(model, tmp_path):
    pipe = PILPipeline.from_pretrained(model)
    image = Image.fromarray(np.pad(np.full((20, 10, 3), 30, dtype=np.uint8), ((10, 10), (10, 10), (0, 0)),
                                   constant_values=200))  # a dark box on a light backdrop  # fmt: skip
    from_image = pipe(image=image)
    assert from_image.field.num_objects == 1 and from_image.latents.shape[1] == 14
    nearest = pipe(text="a red chair")
    assert nearest.nearest[0] in pipe.captions
    direct = pipe(text="a red chair", text_mode="direct")
    assert direct.nearest == [None] and not torch.allclose(direct.latents, nearest.latents)
    steps = pipe.interpolate(from_image, nearest, [0.0, 1.0])
    torch.testing.assert_close(steps.field.params[0], from_image.field.params[0])
    torch.testing.assert_close(steps.field.params[1], nearest.field.params[0])
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):  # ATT3D's check, the one check
        pipe.interpolate(from_image, nearest, [1.5])
    with pytest.raises(ValueError, match="exactly one prompt"):
        pipe(image=image, text="a chair")
    with pytest.raises(ValueError, match="text_mode"):
        pipe(text="a chair", text_mode="closest")


@pytest.mark.slow
def test_an_aligner_reading_patch_tokens_trains_and_serves_images_and_text(dataset, tmp_path):
    settings = replace(TINY_PIL_TRAINING, image_patches=True, hide_patches=0.5)
    model = pil_training.train_pil(dataset[0], tmp_path / "run", settings, progress=False)
    patches = load_file(tmp_path / "run" / pil_training.PATCHES_FILE)
    assert len(patches) == 18 and {p.shape for p in patches.values()} == {(2, 64, 192)}  # views, 8 × 8 patches
    pipe = PILPipeline.from_pretrained(model)
    assert pipe.reads_patches and pipe.aligner.config.patch_width == 192
    image = Image.fromarray(np.pad(np.full((20, 10, 3), 30, dtype=np.uint8), ((10, 10), (10, 10), (0, 0)),
                                   constant_values=200))  # fmt: skip
    embedding, tokens = pipe.image_features(pipe.picture(image))  # framed, as the pipeline shows it
    from_image = pipe(image=image)  # the embedding and the patches
    torch.testing.assert_close(from_image.latents, pipe.aligner.generate(embedding, tokens))
    assert not torch.allclose(from_image.latents, pipe.aligner.generate(embedding), atol=1e-4)
    assert pipe(text="a red chair").field.num_objects == 1  # text: the embedding alone
    PILPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "saved", half=True))(image=image)


@pytest.mark.parametrize("half", [False, True])
def test_pipeline_saves_and_loads_back(model, tmp_path, half):
    pipe = PILPipeline.from_pretrained(model)
    again = PILPipeline.from_pretrained(pipe.save_pretrained(tmp_path / "saved", half=half))
    assert again.captions == pipe.captions and again.clip_source == pipe.clip_source
    assert again.image_size == pipe.image_size == TINY_PIL_TRAINING.image_size
    image = Image.fromarray(np.pad(np.full((20, 10, 3), 220, dtype=np.uint8), ((10, 10), (10, 10), (0, 0)),
                                   constant_values=120))  # fmt: skip
    tolerance = {"atol": 2e-2, "rtol": 2e-2} if half else {"atol": 1e-5, "rtol": 1e-5}
    torch.testing.assert_close(again(image=image).field.params, pipe(image=image).field.params, **tolerance)
    torch.testing.assert_close(again.scenes, pipe.scenes, atol=1e-3, rtol=0)  # stored in fp16
    assert again(text="a red chair").nearest == pipe(text="a red chair").nearest
    dtype = torch.float16 if half else torch.float32
    assert load_file(tmp_path / "saved" / "vae" / "model.safetensors")["weight_mean"].dtype == dtype


def test_command_line_writes_a_valid_glb(model, tmp_path):
    image = tmp_path / "view.png"
    Image.fromarray(np.pad(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8),
                           ((16, 16), (16, 16), (0, 0)), constant_values=204)).save(image)  # fmt: skip
    out = tmp_path / "obj.glb"
    main(["--image", str(image), "-o", str(out), "--model", str(model), "--resolution", "32"])
    assert validate_gltf(out)["issues"]["numErrors"] == 0


def test_command_line_refuses_bad_input(model, tmp_path, capsys):
    out = tmp_path / "obj.glb"
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    for argv, message in [
        (["--image", str(not_image), "-o", str(out)], "not a readable image"),
        (["--image", str(tmp_path / "missing.png"), "-o", str(out)], "not found"),
        (["--text", "  ", "-o", str(out)], "empty"),
        (["--text", "a chair", "-o", str(tmp_path / "x.stl")], "must end in"),
        (["--text", "a chair", "-o", str(out), "--resolution", "4096"], "resolution"),
    ]:
        with pytest.raises(SystemExit):
            main([*argv, "--model", str(model)])
        assert message in capsys.readouterr().err


def test_warm_starts_from_pil_and_from_the_nearest_scene(model, dataset):
    pipe = PILPipeline.from_pretrained(model)
    expected = pipe(text="a red chair").field.params
    start = warm_start_field(f"pil:{model}", "a red chair")
    assert isinstance(start, MLPNeRF) and start.params.requires_grad
    torch.testing.assert_close(start.params, expected)
    scene = nearest_scene_field("a red chair", dataset[0], pipe)
    params, records, _ = load_weight_dataset(dataset[0], "train")
    nearest = pipe.scene_records[pipe.nearest_scene(pipe.embed_text("a red chair"))[0]]
    row = [(r["category"], r["seed"]) for r in records].index((nearest["category"], nearest["seed"]))
    torch.testing.assert_close(scene.params[0], params[row])
    with pytest.raises(ValueError, match="init-from must be"):
        warm_start_field("dreamfusion", "a red chair")


def test_main_colour_is_read_from_the_object_pixels_trim_included():
    albedo = torch.zeros(2, 4, 4, 3)
    albedo[..., 0] = 0.8  # red everywhere...
    mask = torch.zeros(2, 4, 4, dtype=torch.bool)
    mask[:, 1:3, 1:3] = True
    albedo[:, 1, 1] = torch.tensor([0.1, 0.1, 0.1])  # ...with a dark trim pixel in each view
    assert main_colour_right(albedo, mask, "red") == 1.0 and main_colour_right(albedo, mask, "blue") == 0.0
    albedo[mask] = torch.tensor([0.1, 0.2, 0.9])
    assert main_colour_right(albedo, mask, "blue") == 1.0
    assert main_colour_right(albedo, torch.zeros_like(mask), "blue") == 0.0  # nothing drawn: wrong


def test_stage_times_add_up_over_sittings_and_count_a_failed_one(tmp_path):
    with timed(tmp_path, "vae"):
        time.sleep(0.02)
    first = trained_on(tmp_path)["seconds"]["vae"]
    with pytest.raises(RuntimeError), timed(tmp_path, "vae"):  # a sitting that fails is counted too
        time.sleep(0.02)
        raise RuntimeError
    record = trained_on(tmp_path)
    assert first >= 0.02 and record["seconds"]["vae"] >= first + 0.02 and record["machines"] == [machine()]
    assert trained_on(tmp_path / "elsewhere") is None


def test_frechet_distance_matches_the_closed_form_for_shifted_and_scaled_sets():
    a = torch.randn(200, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) @ torch.randn(
        5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))  # fmt: skip
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + shift) == pytest.approx(shift.square().sum().item(), rel=1e-6)
    # b = 2a: Σb = 4Σa, so tr(Σa + Σb - 2(ΣaΣb)^½) = tr(Σa), plus |μa - 2μa|²
    expected = torch.cov(a.T).trace().item() + a.mean(0).square().sum().item()
    assert frechet_distance(a, 2 * a) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_evaluation_scores_every_route_and_draws_its_figures(model, dataset, tmp_path, tmp_path_factory):
    random_data = tmp_path_factory.mktemp("pil-random")
    build_dataset(replace(TINY, shared_init=False, objects_per_category=4, shard_size=4), random_data, progress=False)
    evaluate_main(["--model", str(model), "--data", str(dataset[0]), "--out", str(tmp_path / "eval"),
                   "--limit", "1", "--samples", "16", "--random-init-data", str(random_data),
                   "--pca-categories", "chair", "mug", "--bundle", str(tmp_path / "bundle")])  # fmt: skip
    card = (tmp_path / "bundle" / "README.md").read_text()
    recipe = card.split("```bash\n")[1].split("\n```")[0].split(" && ")
    # the recipe rebuilds each dataset with the settings it was built with, by name
    for command, made in zip(recipe[:2], (dataset[0], random_data), strict=True):
        words = shlex.split(command)
        assert words[:5] == ["python", "-m", "train.pil_dataset", "--out", str(made)]
        config = with_overrides(DatasetConfig(), words[words.index("--set") + 1 :])
        assert config == config_from(DatasetConfig, json.loads((made / "config.json").read_text()))
    trained = json.loads(card.split("```json\n")[1].split("\n```")[0])["trained_on"]
    fits = sum(float(load_file(path)["seconds"]) for path in dataset[0].glob("shard-*.safetensors")) / 60
    assert trained["dataset_fit_minutes"] == pytest.approx(fits, abs=0.06)  # the shards' own times, summed
    assert set(trained["training_minutes"]) == {"embeddings", "vae", "aligner"} and trained["machines"]
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    for split in ("test", "train"):
        assert results[split]["objects"] == 1
        for route in ROUTES:
            scores = results[split][route]
            assert 0 <= scores["iou"] <= 1 and scores["psnr"] > 0 and scores["clip_fd"] >= 0
        assert results[split]["truth"]["colour_right"] == 1.0  # the true chair's and mug's own colours
    assert set(results["pca_separation"]) == {"shared initialization", "random initialization"}
    assert (tmp_path / "eval" / "pca.png").stat().st_size > 0
    assert Image.open(tmp_path / "eval" / "interpolation.png").size == (7 * 96, 96)


@pytest.mark.slow
def test_warm_start_experiment_runs_every_start_and_tabulates(model, dataset, tmp_path, monkeypatch):
    tiny = tiny_toy(tmp_path / "toy")[0]
    monkeypatch.setattr(warm_start_experiment, "PILJudge", lambda pipe, samples: PILJudge(pipe, samples=16))
    arguments = ["--dataset", str(dataset[0]), "--pil-model", str(model), "--guidance", str(tiny),
                 "--out", str(tmp_path / "ws"), "--limit", "1", "--max-steps", "3", "--report-eps", "1e9",
                 "--set", "converge_epoch=1", "field_every=2", "num_samples=8", "resolution=16", "views=1",
                 "mlp.hidden_dim=16", "mlp.num_frequencies=2"]  # fmt: skip
    warm_start_experiment.main(arguments)
    results = json.loads((tmp_path / "ws" / "results.json").read_text())["results"]
    assert [r["init"] for r in results] == ["scratch", "scene", "pil"]
    for r in results:
        # kept at the start, every 2 steps and at the end; changes at every 1-step epoch, all below 1e9
        assert r["iterations"] == 3 and r["converged_at"] is None and sorted(map(int, r["curve"])) == [0, 2, 3]
        assert [step for step, _ in r["render_changes"]] == [1, 2, 3] and r["calm_step"] == {"1000000000.0": 3}
    scratch = results[0]
    if not scratch["collapsed"]:  # (S) reaches its own final similarity by its end
        assert scratch["steps_to_target"] <= 3
    scores = json.loads((tmp_path / "ws" / "scratch" / scratch["prompt"].replace(" ", "-") / "scores.json").read_text())
    assert scores == scratch["curve"]
    assert (tmp_path / "ws" / "curves.png").stat().st_size > 0
    assert "| pil |" in (tmp_path / "ws" / "table.md").read_text()
    # a smaller budget reads the same runs up to it
    warm_start_experiment.main([*arguments[:11], "2", *arguments[12:]])
    shorter = json.loads((tmp_path / "ws" / "results.json").read_text())["results"]
    for r, longer in zip(shorter, results, strict=True):
        assert r["iterations"] == 2 and sorted(map(int, r["curve"])) == [0, 2]
        assert r["render_changes"] == longer["render_changes"][:2] and r["curve"]["2"] == longer["curve"]["2"]


def test_speed_is_measured_against_scratch_unless_it_collapsed():
    def result(prompt, init, clips, ious):
        scores = [{"clip_similarity": c, "iou": i, "psnr": 10.0} for c, i in zip(clips, ious, strict=True)]
        curve = dict(zip((0, 100, 200), scores, strict=True))
        return {"prompt": prompt, "init": init, "curve": curve, "render_changes": [(100, 0.1), (200, 0.01)]}

    same = (0.5,) * 3
    results = [result("a", "scratch", (0.1, 0.6, 0.8), (0.0, 0.5, 0.7)), result("a", "pil", (0.5, 0.85, 0.9), same),
               result("a", "scene", (0.5, 0.7, 0.75), same),
               result("b", "scratch", (0.1, 0.2, 0.3), (0.1, 0.0, 0.0)), result("b", "pil", (0.5, 0.9, 0.9), same),
               result("b", "scene", (0.5, 0.6, 0.7), (0.5, 0.5, 0.01))]  # fmt: skip
    warm_start_experiment.summarise(results, report_eps=[0.05], patience=1)
    assert [r["collapsed"] for r in results] == [False, False, False, True, False, True]
    assert [r["steps_to_target"] for r in results] == [200, 100, None, None, None, None]  # target: 95 % of 0.8
    targets = [r["target_clip"] for r in results]
    assert targets[:3] == pytest.approx([0.76] * 3) and targets[3:] == [None] * 3
    assert all(r["calm_step"] == {"0.05": 200} for r in results)
    table = warm_start_experiment.markdown_table(results, ["scratch", "pil", "scene"], [0.05])
    assert "0.500 → 0.750 / 0.50 / nan / 10.0 / never" in table and "0.500 → 0.900 / 0.50 / nan / 10.0 / n/a" in table
    # means: collapsed count, then iterations over the prompts where (S) stands ("never" counted apart)
    assert "| scratch | 1/2 | 0.1 | 0.55 | 0.35 | nan | 10 | 200 | 200 |" in table
    assert "| scene | 1/2 | 0.5 | 0.725 | 0.255 | nan | 10 | - (1 never) | 200 |" in table


def test_calm_step_needs_patience_epochs_in_a_row():
    changes = [(100, 0.5), (200, 0.1), (300, 0.1), (400, 0.5), (500, 0.1), (600, 0.1), (700, 0.1)]
    assert warm_start_experiment.calm_step(changes, eps=0.2, patience=3) == 700
    assert warm_start_experiment.calm_step(changes, eps=0.2, patience=2) == 300
    assert warm_start_experiment.calm_step(changes, eps=0.05, patience=1) is None


def test_supersampled_psnr_and_the_fits_meshes_are_measured(dataset):
    quality = measure_supersampled(dataset[0], "test", supersample=2)
    assert quality["objects"] == 2 and 0 < quality["psnr_min"] <= quality["psnr_mean"] < 60
    _, records, _ = load_weight_dataset(dataset[0], "test")
    assert set(quality["mesh_iou_per_category"]) == {r["category"] for r in records}
    assert (
        0 <= quality["mesh_iou_min"] <= quality["mesh_iou_mean"] <= max(quality["mesh_iou_per_category"].values()) <= 1
    )
    assert json.loads((dataset[0] / "quality.json").read_text()) == quality


def test_explained_variance_of_a_known_subspace():
    generator = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(20, 3, generator=generator, dtype=torch.float64))[0].T  # [3, 20]
    train = torch.randn(50, 3, generator=generator, dtype=torch.float64) @ basis
    inside = torch.randn(10, 3, generator=generator, dtype=torch.float64) @ basis
    assert explained_variance(train, inside, 3) == pytest.approx(1.0)
    outside = torch.randn(10, 20, generator=generator, dtype=torch.float64)
    outside = outside - outside @ basis.T @ basis  # orthogonal to everything the train set spans
    assert explained_variance(train, outside + train.mean(0), 3) == pytest.approx(0.0, abs=1e-9)


def _augmented_least_squares(x: torch.Tensor, y: torch.Tensor, penalty: float) -> np.ndarray:
    """Ridge regression as plain least squares: centred rows, plus sqrt(λ) I rows with zero targets."""
    xc, yc = (x - x.mean(0)).double().numpy(), (y - y.mean(0)).double().numpy()
    ridge = penalty * np.square(xc).sum() / x.shape[1]
    stacked = np.vstack([xc, np.sqrt(ridge) * np.eye(x.shape[1])])
    return np.linalg.lstsq(stacked, np.vstack([yc, np.zeros((x.shape[1], y.shape[1]))]), rcond=None)[0]


@pytest.mark.parametrize("rows", [40, 5])  # 5 rows of 6 inputs: solved in the row space
def test_ridge_map_matches_least_squares_on_the_augmented_system(rows):
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(rows, 6, generator=generator), torch.randn(rows, 3, generator=generator)
    weights, bias = ridge_map(x, y, penalty=0.1)
    np.testing.assert_allclose(weights.numpy(), _augmented_least_squares(x, y, 0.1), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose((x @ weights + bias).mean(0).numpy(), y.mean(0).numpy(), atol=1e-5)


def test_ridge_map_without_a_penalty_recovers_a_linear_map():
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(0))
    weights, bias = ridge_map(x, x @ torch.arange(18.0).view(6, 3) + 1, penalty=0.0)
    np.testing.assert_allclose(weights.numpy(), np.arange(18.0).reshape(6, 3), atol=1e-3)
    np.testing.assert_allclose(bias.numpy(), np.ones(3), atol=1e-3)


def test_aligner_judge_scores_every_predictor_on_both_splits(model, dataset, tmp_path, capsys):
    aligner_judge_main(["--model", str(model), "--data", str(dataset[0]), "--out", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    for split in ("train", "test"):
        assert set(PREDICTORS) <= set(results[split]) and results[split]["objects"] > 0
        greedy, forced = results[split]["aligner, greedy"], results[split]["aligner, teacher-forced"]
        # the first token reads only [BOS] and the embedding: forced or not, the same prediction
        assert greedy["per_token"][0] == pytest.approx(forced["per_token"][0], rel=1e-4)
    # on the training objects the mean latent is wrong by exactly their variance: relative error 1
    assert results["train"]["mean"]["error"] == pytest.approx(1.0, rel=1e-4)
    assert results["train"]["category mean"]["error"] <= 1.0 + 1e-6
    assert results["train"]["vae_weight_error"] > 0 and results["test"]["vae_weight_error"] > 0
    assert "| ridge |" in (tmp_path / "table.md").read_text() and "| nearest view |" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # another dataset than the model's
        aligner_judge_main(["--model", str(model), "--data", str(tmp_path / "none"), "--out", str(tmp_path)])


@pytest.mark.slow
def test_both_stages_resume_exactly_after_a_kill(tmp_path, monkeypatch):
    settings = replace(TINY_PIL_TRAINING, vae_steps=6, aligner_epochs=4, checkpoint_every=2)
    config = replace(settings.vae, mlp=TINY_MLP, latent_dim=8)
    params = torch.randn(12, MLPNeRF(TINY_MLP).params.shape[-1], generator=torch.Generator().manual_seed(0))
    embeddings = torch.randn(12, 3, 8, generator=torch.Generator().manual_seed(1))
    aligner = replace(settings.aligner, embed_dim=8, latent_dim=8, num_tokens=len(TINY_MLP.token_sizes), d_model=16,
                      feedforward_dim=32, encoder_layers=1, decoder_layers=1)  # fmt: skip
    settings = replace(settings, aligner=aligner)
    latents = torch.randn(12, aligner.num_tokens, 8, generator=torch.Generator().manual_seed(2))

    def stages(run: str) -> None:
        train_vae(params, config, settings, tmp_path / run / "vae", progress=False)
        train_aligner(embeddings, latents, settings, tmp_path / run / "aligner", progress=False)

    stages("unbroken")
    # the VAE writes checkpoints at steps 2, 4, 6 and the aligner at epochs 1, 2, 3, 4: 2 kills the VAE, 3 the aligner
    for killed_at in (2, 3):
        with monkeypatch.context() as dying:
            kill_after_checkpoint(dying, pil_training, step=killed_at)
            with pytest.raises(Killed):
                stages(f"killed-at-{killed_at}")
        stages(f"killed-at-{killed_at}")
        for part in ("vae", "aligner"):
            checkpoints = [tmp_path / run / part / "checkpoint" for run in ("unbroken", f"killed-at-{killed_at}")]
            assert_same_training_state(*checkpoints)


def test_the_run_writes_its_model_with_a_card_and_loads_from_the_run_folder(model) -> None:
    card = (model / "README.md").read_text()
    objects = len(load_weight_dataset(model.parent.parent / "data", "train")[0])
    assert f'"objects_trained": {objects},' in card and '"vae_reconstruction_mse"' in card
    assert '"aligner_latent_mse"' in card and "## Recipe" in card
    stages = json.loads((model.parent / "stages.json").read_text())  # where and how long each stage trained
    assert set(stages["seconds"]) == {"embeddings", "vae", "aligner"} and min(stages["seconds"].values()) > 0
    assert stages["machines"] and '"trained_on"' in card
    assert model.name == "model" and model_folder(model.parent) == model  # the run folder stands for its model
    assert not (model / "vae-run").exists() and (model.parent / "vae-run").is_dir()  # run state stays home


def test_pil_trainers_take_any_setting_by_name_and_refuse_unknown_ones(capsys) -> None:
    for command, bad in ((pil_training.main, ["--data", "x", "--out", "y", "--set", "colour=red"]),
                      (pil_dataset_command.main, ["--out", "y", "--set", "mlp.depth=3"])):  # fmt: skip
        with pytest.raises(SystemExit):
            command(bad)
        assert "unknown setting" in capsys.readouterr().err
