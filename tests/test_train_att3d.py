"""ATT3D training with tiny random models: resuming (also after SIGKILL) continues the same run, and two
processes (Accelerate, gloo on the CPU) make the same update as one process with the same global batch."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_models import tiny_toy

from att3d import ATT3D
from att3d.training import (
    ATT3DTrainConfig,
    draw_batch,
    kind_probabilities,
    local_rows,
    train_att3d,
    trained_on,
    training_prompts,
    training_seconds,
)
from evaluation.att3d import (
    METRICS,
    PART_METRICS,
    bundle,
    evaluate_run,
    evaluation_splits,
    markdown_table,
    parts_table,
    per_prompt_points,
    plot_budget,
)
from evaluation.att3d import main as att3d_main
from evaluation.att3d_cost import cost_table, time_to_target
from evaluation.att3d_cost import main as cost_main
from evaluation.att3d_fraction import main as fraction_main
from hub.model_card import machine
from nerf.settings import with_overrides
from toyworld.prompts import stacks, stacks_small, toy64, world
from train.att3d import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["prompts_per_step=4", "num_samples=8", "model.voxel.resolution=8", "model.hidden_dim=8", "render_every=0",
        "log_every=1", "warmup=1", "anneal_steps=4"]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    return tiny_toy(tmp_path_factory.mktemp("tiny-toy"))


def tiny_config(steps: int, **changes) -> ATT3DTrainConfig:
    return replace(with_overrides(ATT3DTrainConfig(steps=steps), TINY), **changes)


def guidance_source(tiny: tuple[Path, Path]) -> str:
    """The tiny diffusion model's folder (it reads the bundled toy CLIP's text states)."""
    return str(tiny[0])


def environment(cache: Path) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(ROOT), "AMORTIZED3D_CACHE": str(cache), "OMP_NUM_THREADS": "1"}


def final_weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model" / "model.safetensors")


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=atol, rtol=0), name


def run(tiny, out: Path, steps: int, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, *cli(guidance_source(tiny), out, steps)], env=env, check=True, capture_output=True)


SHAPE_PRIOR = ("shape.weight=5", "shape.occupancy_weight=1", "shape.albedo_weight=1")  # every term of the shape prior


def cli(guidance: str, out: Path, steps: int, extra: list[str] = ()) -> list[str]:
    return ["-m", "train.att3d", "--guidance", guidance, "--out", str(out), "--steps", str(steps), "--batch", "4",
            "--device", "cpu",
            "--set", *TINY[1:], "checkpoint_every=1", *extra]  # fmt: skip


def test_resumed_run_is_the_uninterrupted_run(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    config = tiny_config(4, checkpoint_every=1, beta1=0.9)  # with momentum: its state must resume too
    train_att3d(config, guidance_source(tiny), tmp_path / "whole", device="cpu", progress=False)
    train_att3d(config, guidance_source(tiny), tmp_path / "parts", device="cpu", progress=False, stop_after=1)
    assert not (tmp_path / "parts" / "model").exists()
    train_att3d(config, guidance_source(tiny), tmp_path / "parts", device="cpu", progress=False, stop_after=2)
    train_att3d(config, guidance_source(tiny), tmp_path / "parts", device="cpu", progress=False)
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "parts"))
    log = [json.loads(line) for line in (tmp_path / "parts" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    # sittings of a moment each: every one ends at its first checkpoint with a model to judge, and together
    # they make the unbroken run
    for sitting in (1, 2, 3):
        train_att3d(config, guidance_source(tiny), tmp_path / "sittings", "cpu", progress=False, minutes=1e-9)
        card = (tmp_path / "sittings" / "model" / "README.md").read_text()
        assert f'"steps": {sitting},' in card and '"steps_planned": 4' in card
    train_att3d(config, guidance_source(tiny), tmp_path / "sittings", "cpu", progress=False, minutes=1e-9)
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "sittings"))
    # each sitting recorded where it started and ran (a finished run rerun trains nothing, and records
    # nothing); the card names the machine once
    train_att3d(config, guidance_source(tiny), tmp_path / "sittings", "cpu", progress=False)
    sittings = [json.loads(line) for line in (tmp_path / "sittings" / "sittings.jsonl").read_text().splitlines()]
    assert [s["from_step"] for s in sittings] == [0, 1, 2, 3] and sittings[0]["machine"] == machine("cpu")
    assert trained_on(tmp_path / "sittings") == [machine("cpu")]
    assert f'"trained_on": [\n    "{machine("cpu")}"' in (tmp_path / "sittings" / "model" / "README.md").read_text()
    model = ATT3D.from_pretrained(tmp_path / "whole" / "model")
    assert model.config.training_words and "cube" in model.config.training_words
    assert model.config.text_encoder == guidance_source(tiny)


@pytest.mark.slow
def test_run_killed_with_sigkill_resumes_where_it_was(tiny, tmp_path) -> None:
    env = environment(tmp_path / "cache")
    steps = 6
    subprocess.run(
        [sys.executable, *cli(guidance_source(tiny), tmp_path / "whole", steps)],
        env=env,
        check=True,
        capture_output=True,
    )
    killed = tmp_path / "killed"
    command = [sys.executable, *cli(guidance_source(tiny), killed, steps)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (killed / "log.jsonl").exists():
        time.sleep(0.05)
    while time.time() < deadline and len((killed / "log.jsonl").read_text().splitlines()) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "model").exists(), "the run finished before it could be killed"
    subprocess.run(
        [sys.executable, *cli(guidance_source(tiny), killed, steps)], env=env, check=True, capture_output=True
    )
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(killed))


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), SHAPE_PRIOR, ("--minutes", "1e-9")], ids=["sds", "shape-prior", "sittings"])
def test_two_processes_make_the_same_update_as_one(tiny, tmp_path, extra) -> None:
    env = environment(tmp_path / "cache")
    sittings = 2 if "--minutes" in extra else 1  # sittings of a step each: both processes end each one together
    for _ in range(sittings):
        subprocess.run(
            [sys.executable, *cli(guidance_source(tiny), tmp_path / "one", 2, extra)], env=env, check=True,
            capture_output=True,
        )  # fmt: skip
    # torchrun starts the processes; Accelerate reads their ranks from the environment and uses gloo on the CPU
    # --standalone: a local rendezvous on a port the OS picks, free whatever else runs on this machine
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    for sitting in range(1, sittings + 1):
        result = subprocess.run(
            [*launch, *cli(guidance_source(tiny), tmp_path / "two", 2, extra)], env=env, capture_output=True,
            text=True, timeout=600,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert f'"steps": {sitting if sittings > 1 else 2},' in (tmp_path / "two" / "model" / "README.md").read_text()
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2
    # gradients are averaged across processes in another order of additions: equal up to rounding, which
    # Adam (β1 = 0) divides by √v and so amplifies where a gradient is tiny; 1e-4 is 1 % of one step (lr 1e-2)
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(tmp_path / "two"), atol=1e-4)


def test_batch_must_split_evenly_and_bad_settings_are_refused(capsys) -> None:
    assert local_rows(8, 1, 2) == slice(4, 8)
    with pytest.raises(ValueError, match="divisible"):
        local_rows(6, 0, 4)
    for argv in (["--out", "x", "--split", "nope"], ["--out", "x", "--set", "lr=-1"], ["--out", "x", "--set", "bad=1"],
                 ["--out", "x", "--concentration", "0", "--interpolants", "dirichlet"],
                 ["--out", "x", "--set", "beta1=1.0"]):  # fmt: skip
        with pytest.raises(SystemExit):
            main(argv)
        assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluation_of_snapshots_against_per_prompt_budgets(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    command = "python -m train.att3d --out run --steps 2"
    train_att3d(tiny_config(2, snapshot_steps=(1, 2)), guidance_source(tiny), run, "cpu", False, command=command)
    amortized = evaluate_run(run, limit=2)
    assert [p["step"] for p in amortized["points"]] == [1, 2] and amortized["trained_prompts"] == 56
    assert amortized["points"][1]["frames_per_prompt"] == 2 * 4 / 56
    for point in amortized["points"]:
        assert point["seen"]["prompts"] == point["unseen"]["prompts"] == 2
        unseen = {row["prompt"] for row in point["unseen"]["rows"]}
        assert unseen <= {p.text for p in toy64().split("unseen")}
        for split in ("seen", "unseen"):
            empty = any(row["mesh_iou"] == 0 for row in point[split]["rows"])  # no surface: no Chamfer distance
            for metric in METRICS:
                value = point[split][metric]
                if metric in PART_METRICS:  # a stack's parts: single objects have none
                    assert math.isnan(value)
                    continue
                assert 0 <= value <= 1 or (math.isnan(value) and empty and metric in ("chamfer", "convexity_gap"))
    per_prompt = {"config": {"views": 4}, "results": [
        {"iterations": steps, "prompt": p, "r_probability": r, "r_precision": 1.0, "iou": 0.5, "shape_ok": True,
         "colour_ok": ok} for steps, p, r, ok in ((25, "a", 0.2, False), (25, "b", 0.4, True), (50, "a", 0.9, True))
    ]}  # fmt: skip
    (tmp_path / "per_prompt.json").write_text(json.dumps(per_prompt))
    points = per_prompt_points(tmp_path / "per_prompt.json")
    assert [(p["frames_per_prompt"], p["seen"]["prompts"]) for p in points] == [(100, 2), (200, 1)]
    assert points[0]["seen"]["r_probability"] == pytest.approx(0.3) and points[0]["seen"]["colour_ok"] == 0.5
    assert plot_budget(amortized, points, tmp_path / "budget.png").stat().st_size > 1000
    table = markdown_table(amortized, points)
    assert table.count("| amortized |") == 4 and "| per-prompt | seen | 25 | 100 | 0.300 |" in table
    assert parts_table(amortized, points) == ""  # toy64 has no stacks
    # the run's saved model (its final step) judged alone: the last snapshot's scores, no budget in the table
    att3d_main(["--model", str(run / "model"), "--limit", "2", "--out", str(tmp_path / "saved")])
    saved = json.loads((tmp_path / "saved" / "results.json").read_text())["amortized"]["points"][0]
    final = amortized["points"][1]
    for split in ("seen", "unseen"):
        assert [r["prompt"] for r in saved[split]["rows"]] == [r["prompt"] for r in final[split]["rows"]]
        assert saved[split]["mesh_iou"] == pytest.approx(final[split]["mesh_iou"], abs=1e-6)
    assert "| amortized | seen | — | — |" in (tmp_path / "saved" / "table.md").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("backbone", ["voxel", "hashgrid"])
def test_mixed_precision_training_on_cuda(tiny, tmp_path, monkeypatch, backbone: str) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    config = tiny_config(3, mixed_precision="bf16")
    config = with_overrides(config, [f"model.backbone={backbone}", "model.hashgrid.hidden_dim=8"])
    train_att3d(config, guidance_source(tiny), tmp_path / "run", device="cuda", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["loss"]) for r in log) and log[-1]["spread"] > 0
    weights = final_weights(tmp_path / "run")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_hash_grid_backbone_trains_mapping_and_shared_decoder(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    small_grid = ["model.backbone=hashgrid", "model.hashgrid.hidden_dim=8", "model.hashgrid.grid.num_levels=2",
                  "model.hashgrid.grid.log2_table_size=8", "model.hashgrid.grid.finest_resolution=32"]  # fmt: skip
    config = with_overrides(tiny_config(2), small_grid)
    source = guidance_source(tiny)
    initial = train_att3d(config, source, tmp_path / "init", device="cpu", progress=False, stop_after=0).state_dict()
    trained = train_att3d(config, source, tmp_path / "run", device="cpu", progress=False).state_dict()
    for name in ("field.decoder.0.weight", "mapping.output.parametrizations.weight.original"):
        assert not torch.equal(initial[name], trained[name]), f"{name} did not train"


@pytest.mark.slow
def test_bundle_is_fp16_with_a_card_and_scores_like_the_run(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    run, folder = tmp_path / "run", tmp_path / "bundle"
    command = "python -m train.att3d --out run --steps 2"
    train_att3d(tiny_config(2), guidance_source(tiny), run, "cpu", False, command=command)
    scores = bundle(run, folder, limit=2)
    weights = load_file(folder / "model.safetensors")
    assert {w.dtype for w in weights.values()} == {torch.float16}
    card = (folder / "README.md").read_text()
    assert command in card and '"unseen"' in card and "library_name: amortized-3d" in card
    assert f"Trained for {training_seconds(run) / 60:.0f} minutes" in card and training_seconds(run) > 0
    assert f"(the run's log.jsonl) on {machine('cpu')}." in card
    original, bundled = ATT3D.from_pretrained(run / "model").eval(), ATT3D.from_pretrained(folder).eval()
    embeddings = torch.randn(3, 32, 128)
    assert torch.allclose(original(embeddings), bundled(embeddings), atol=2e-2, rtol=1e-2)
    assert scores["fp16"]["seen"]["prompts"] == scores["fp32"]["unseen"]["prompts"] == 2


def test_the_cost_table_judges_every_run_on_the_same_held_out_stacks(tiny, tmp_path, monkeypatch, capsys) -> None:
    """Part 3's runs (stacks' nested scale_N sets) judged on one sample of the stacks none trains on; each
    run's cost is the first snapshot at the target, with its logged wall time."""
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    runs = []
    for count in (64, 512):
        runs.append(tmp_path / f"cost-{count}")
        config = tiny_config(2, prompts="stacks", split=f"scale_{count}", snapshot_steps=(1, 2))
        train_att3d(config, guidance_source(tiny), runs[-1], "cpu", False, command="python -m train.att3d")
    out = tmp_path / "cost"
    cost_main(["--runs", *map(str, runs), "--out", str(out), "--limit", "2", "--metric", "iou", "--target", "0"])
    results = json.loads((out / "results.json").read_text())
    held_out = {p.text for p in stacks().split("scale_held_out")}
    judged = [{r["prompt"] for r in point["unseen"]["rows"]} for run in results["runs"] for point in run["points"]]
    assert len(judged) == 4 and all(prompts == judged[0] for prompts in judged) and judged[0] <= held_out
    for cost, run, count in zip(results["costs"], runs, (64, 512), strict=True):
        assert cost["prompts"] == count and cost["step"] == 1 and cost["seconds"] == training_seconds(run, 1) > 0
        assert cost["seconds_per_prompt"] == pytest.approx(cost["seconds"] / count)
    assert "| 64 | 1 | 0.1 |" in (out / "table.md").read_text() and (out / "cost.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="split 'seen_50' shares prompts with 'scale_512'"):
        evaluation_splits(stacks(), "scale_512", None, unseen="seen_50")
    never = time_to_target(results["runs"][0], runs[0], "iou", 1.5)
    assert math.isnan(never["step"]) and "| 64 | not reached |" in cost_table([never], "iou", 1.5)
    toy = tmp_path / "toy"
    train_att3d(tiny_config(1, snapshot_steps=(1,)), guidance_source(tiny), toy, "cpu", False)
    with pytest.raises(SystemExit):
        cost_main(["--runs", str(toy), "--out", str(out)])
    assert "the cost table takes runs on stacks' scale_N splits" in capsys.readouterr().err


def test_unseen_quality_against_the_fraction_seen_on_shared_unseen_prompts(tiny, tmp_path, monkeypatch, capsys) -> None:
    """Part 2 (b): runs on 12.5 % and 50 % of stacks_small, judged on the same unseen_50 prompts, compared at
    the budget both reached (1 step over 32 prompts = 4 steps over 128); other held-out prompts are refused."""
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    judged = []
    for split, steps in (("seen_12.5", 1), ("seen_50", 4)):
        run = tmp_path / split
        config = tiny_config(steps, prompts="stacks_small", split=split, snapshot_steps=(steps,))
        train_att3d(config, guidance_source(tiny), run, "cpu", False, command="python -m train.att3d")
        judged.append(tmp_path / f"judged-{split}")
        att3d_main(["--att3d", str(run), "--unseen", "unseen_50", "--limit", "2", "--out", str(judged[-1])])
    out = tmp_path / "fraction"
    fraction_main(["--judged", *map(str, judged), "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert [r["fraction_seen"] for r in results["runs"]] == [0.125, 0.5] and len(results["budgets"]) == 1
    assert all(r["unseen_split"] == "unseen_50" and r["shape_prior"] is False for r in results["runs"])
    unseen = [{row["prompt"] for row in json.loads((j / "results.json").read_text())["amortized"]["points"][0]
               ["unseen"]["rows"]} for j in judged]  # fmt: skip
    assert unseen[0] == unseen[1] and unseen[0] <= {p.text for p in stacks_small().split("unseen_50")}
    table = (out / "table.md").read_text()
    assert "| 12.5% | none | 1 |" in table and "| 50.0% | none | 4 |" in table
    assert (out / "fraction.png").stat().st_size > 1000
    capsys.readouterr()
    # the 12.5 % run judged on every prompt it did not train on: other unseen prompts, not comparable
    att3d_main(["--att3d", str(tmp_path / "seen_12.5"), "--limit", "2", "--out", str(tmp_path / "own")])
    with pytest.raises(SystemExit):
        fraction_main(["--judged", str(tmp_path / "own"), str(judged[1]), "--out", str(tmp_path / "refused")])
    assert "judged on different unseen prompts" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    with pytest.raises(SystemExit):  # held-out prompts must be held out
        att3d_main(["--att3d", str(tmp_path / "seen_50"), "--unseen", "seen_12.5", "--out", str(tmp_path / "x")])
    assert "--unseen: split 'seen_12.5' shares prompts with 'seen_50'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a bundle is judged on the run's own held-out prompts
        att3d_main(["--att3d", str(tmp_path / "seen_50"), "--unseen", "unseen_50", "--bundle", str(tmp_path / "b"),
                    "--out", str(tmp_path / "x")])  # fmt: skip
    assert "leave --unseen out" in capsys.readouterr().err and not (tmp_path / "b").exists()
    saved = tmp_path / "saved"  # a saved model judged alone: no run, no budgets to compare
    att3d_main(["--model", str(tmp_path / "seen_50" / "model"), "--prompts", "stacks_small", "--split", "seen_50",
                "--limit", "2", "--out", str(saved)])  # fmt: skip
    capsys.readouterr()
    with pytest.raises(SystemExit):
        fraction_main(["--judged", str(saved), str(judged[1]), "--out", str(tmp_path / "refused")])
    assert "judged a saved model (--model)" in capsys.readouterr().err


def test_training_time_sums_the_sittings_of_a_resumed_run(tmp_path) -> None:
    assert math.isnan(training_seconds(tmp_path))  # no log: no time
    clocks = [10.0, 20.0, 30.0, 5.0, 15.0, 2.0]  # three sittings, each clock from 0
    records = [json.dumps({"step": i, "seconds": c}) for i, c in enumerate(clocks)]
    (tmp_path / "log.jsonl").write_text("\n".join(records) + '\n{"step": 6, "seco\n')  # the last cut by a kill
    assert training_seconds(tmp_path) == 30.0 + 15.0 + 2.0
    # to a step: the first time it was logged (the second sitting redoes steps 20 and 30, lost to a kill)
    clocks = [(10, 10.0), (20, 20.0), (30, 30.0), (20, 5.0), (30, 15.0), (40, 25.0), (50, 2.0)]
    records = [json.dumps({"step": i, "seconds": c}) for i, c in clocks]
    (tmp_path / "log.jsonl").write_text("\n".join(records) + "\n")
    assert training_seconds(tmp_path, 20) == 20.0 and training_seconds(tmp_path, 25) == 30.0
    assert training_seconds(tmp_path, 40) == 30.0 + 25.0 and training_seconds(tmp_path, 50) == 30.0 + 25.0 + 2.0
    assert math.isnan(training_seconds(tmp_path, 60)) and training_seconds(tmp_path) == 30.0 + 25.0 + 2.0


@pytest.mark.parametrize("argv", [["--model", "toy", "--bundle", "b"], ["--model", "toy", "--per-prompt", "r.json"],
                                  ["--model", "/no/such/folder"], ["--model", "toy", "--split", "nope"],
                                  ["--model", "toy", "--unseen", "unseen_50"],
                                  ["--att3d", "run", "--prompts", "stacks"]])  # fmt: skip
def test_the_judge_refuses_options_that_do_not_go_together(argv, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        att3d_main([*argv, "--out", str(tmp_path / "out")])
    assert "error:" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_balanced_kinds_draw_single_objects_stacks_and_categories_alike() -> None:
    training, _ = training_prompts("world", "seen")
    probabilities = kind_probabilities("world", training)
    kinds = {p.text: p.kind for p in world().prompts}
    for kind in ("single", "stack", "category"):
        chosen = [i for i, text in enumerate(training) if kinds[text] == kind]
        assert probabilities[chosen].sum() == pytest.approx(1 / 3)
        assert np.ptp(probabilities[chosen]) < 1e-12  # the prompts of a kind alike
    config = ATT3DTrainConfig(prompts="world", balance_kinds=True, prompts_per_step=512)
    drawn = draw_batch(config, 0, len(training), 32, probabilities).first
    assert sum(kinds[training[i]] == "single" for i in drawn) > 100  # ~171 of 512; uniform draws give ~12
    with pytest.raises(ValueError, match="balance_kinds needs a toy-world prompt set"):
        ATT3DTrainConfig(prompts="mine.txt", balance_kinds=True)


def test_prompts_from_a_text_file(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AMORTIZED3D_CACHE", str(tmp_path / "cache"))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cube\n\n  a  blue   sphere \na red cube\na corgi\n")
    assert training_prompts(str(prompts), "ignored") == (["a red cube", "a blue sphere", "a corgi"], [])
    model = train_att3d(tiny_config(1, prompts=str(prompts)), guidance_source(tiny), tmp_path / "run", "cpu", False)
    assert set(model.config.training_words) == {"a", "red", "cube", "blue", "sphere", "corgi"}
    assert model.config.training_prompts == ("a red cube", "a blue sphere", "a corgi")  # the app's random prompts
    prompts.write_text("a red cube\nA  Red cube\n")  # one prompt, whatever its case and spacing
    assert training_prompts(str(prompts), "seen") == (["a red cube"], [])
    prompts.write_text("a red cube\n\x00\x07\n")  # a line of control characters alone: named by its number
    with pytest.raises(ValueError, match="line 2: the prompt is empty"):
        training_prompts(str(prompts), "seen")
    for bad in (tmp_path / "missing.txt", tmp_path / "empty.txt"):
        (tmp_path / "empty.txt").write_text("\n \n")
        with pytest.raises(ValueError, match="prompt"):
            training_prompts(str(bad), "seen")
