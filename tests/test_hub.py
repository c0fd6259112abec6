"""Models as Hub repos, over HTTP with huggingface_hub's real client: `python -m hub.push` uploads a
model folder, `hub.source.model_folder` and the mixin's `from_pretrained` download it, against a local
Hub-compatible server (tests/hub_server.py) and against olah, a Hub mirror, serving a local git repo
offline. Also: private repos and the token (never shown), offline, missing repos, bad ids, bad folders."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
import urllib.request
from fnmatch import fnmatch
from pathlib import Path

import pytest
import torch
from hub_server import TEST_TOKEN, HubServer, point_hub_client
from huggingface_hub import HfApi, constants
from tiny_models import tiny_stable_diffusion, tiny_toy

from guidance import load_guidance, load_text_encoder, pipeline_class
from guidance.clip import load_clip
from hub.model_card import write_model_card
from hub.push import main as push
from hub.push import push_folder
from hub.source import download_patterns, model_folder, model_markers
from nerf.mlp_nerf import MLPNeRFConfig
from pil.vae import WeightVAE, WeightVAEConfig
from webui.local_server import free_port


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with HubServer(tmp_path / "hub-server") as server:
        point_hub_client(monkeypatch, server.url, tmp_path / "hf-home")
        yield server


def save_model(folder: Path, seed: int = 0) -> WeightVAE:
    """A small real model, saved as a Hub repo folder with its model card."""
    torch.manual_seed(seed)
    vae = WeightVAE(WeightVAEConfig(mlp=MLPNeRFConfig(num_frequencies=2, hidden_dim=8), latent_dim=6, hidden_dim=16))
    vae.set_statistics(torch.randn(5, vae.config.mlp.n_params))  # buffers that must travel too
    vae.save_pretrained(folder)
    write_model_card(folder, "Tiny weight VAE", "A test model.", {"mse": 0.5}, "amortized-3d", ("nerf",),
                     command=["python", "-m", "train.pil"])  # fmt: skip
    return vae.eval()


@pytest.fixture
def model(tmp_path: Path) -> tuple[WeightVAE, Path]:
    folder = tmp_path / "run"
    return save_model(folder), folder


def assert_same_model(original: WeightVAE, loaded: WeightVAE) -> None:
    loaded.eval()
    params = torch.randn(3, original.config.mlp.n_params, generator=torch.Generator().manual_seed(1))
    shape = (3, original.num_tokens, original.config.latent_dim)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for a, b in zip(original.encode(params), loaded.encode(params), strict=True):
            assert torch.equal(a, b)
        assert torch.equal(original.decode(latents), loaded.decode(latents))


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def messages(error: BaseException | None) -> str:
    """Everything an exception and its causes would print."""
    text = []
    while error is not None:
        text += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return "\n".join(text)


# --- round trips -------------------------------------------------------------------------------------------


def test_push_then_download_and_load(hub: HubServer, model, monkeypatch, capsys) -> None:
    original, folder = model
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    url = push([str(folder), "user/tiny-vae"])
    assert url == f"{hub.url}/user/tiny-vae"
    assert capsys.readouterr().out.strip().splitlines()[-1] == url
    assert not hub.repos["user/tiny-vae"].private

    monkeypatch.delenv("HF_TOKEN")  # a public repo needs no token
    downloaded = model_folder("user/tiny-vae")
    assert files(downloaded) == files(folder)  # config.json, model.safetensors, README.md, byte for byte
    assert_same_model(original, WeightVAE.from_pretrained(downloaded))
    assert_same_model(original, WeightVAE.from_pretrained("user/tiny-vae"))  # the mixin on its own

    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    push([str(folder), "user/tiny-vae"])  # nothing changed: the client makes no empty commit
    assert len(hub.repos["user/tiny-vae"].commits) == 2  # the repo's first (empty) one and the upload
    retrained = save_model(folder, seed=1)
    push([str(folder), "user/tiny-vae"])
    updated = model_folder("user/tiny-vae")
    assert updated != downloaded and files(updated) == files(folder)
    assert_same_model(retrained, WeightVAE.from_pretrained(updated))

    hub.stop()  # offline now: the cached snapshot still resolves
    assert model_folder("user/tiny-vae") == updated


def test_push_takes_a_run_folder_as_the_readme_writes_it(hub: HubServer, model, tmp_path: Path, monkeypatch) -> None:
    # `python -m train.att3d ... --out runs/att3d/mine` then `python -m hub.push runs/att3d/mine you/your-att3d`
    _, folder = model
    run = tmp_path / "runs" / "mine"
    shutil.copytree(folder, run / "model")
    (run / "config.json").write_text('{"steps": 3}')  # the run's settings, not a model's config
    (run / "checkpoint").mkdir()
    (run / "checkpoint" / "tensors.safetensors").write_bytes(b"state")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    push([str(run), "user/from-run"])
    assert files(model_folder("user/from-run")) == files(folder)  # the model and its card, nothing else
    assert model_folder(run) == run / "model" and model_folder(run / "model") == run / "model"  # loaders alike
    assert model_folder(folder) == folder  # a model folder with its card is itself


def test_private_repo_needs_the_token_which_is_never_shown(hub: HubServer, model, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    original, folder = model
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    push([str(folder), "user/secret-vae", "--private"])
    assert hub.repos["user/secret-vae"].private
    errors = []

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(FileNotFoundError, match=r"user/secret-vae not found, or private: set HF_TOKEN") as anonymous:
        model_folder("user/secret-vae")
    errors.append(anonymous.value)

    monkeypatch.setenv("HF_TOKEN", "hf_NotTheRightToken000000000000000")
    with pytest.raises(PermissionError, match="HF_TOKEN is invalid") as wrong:
        model_folder("user/secret-vae")
    errors.append(wrong.value)
    assert "hf_NotTheRightToken" not in messages(wrong.value)

    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    assert_same_model(original, WeightVAE.from_pretrained(model_folder("user/secret-vae")))
    assert_same_model(original, WeightVAE.from_pretrained("user/secret-vae"))
    point_hub_client(monkeypatch, f"http://127.0.0.1:{free_port()}", folder.parent / "other-home")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    with pytest.raises(ConnectionError) as offline:  # a failure with the token set
        model_folder("user/secret-vae")
    errors.append(offline.value)

    captured = capsys.readouterr()
    for text in [*map(messages, errors), captured.out, captured.err, caplog.text]:
        assert TEST_TOKEN not in text


def test_through_olah_serving_a_local_git_repo_offline(tmp_path: Path, monkeypatch) -> None:
    """olah (a Hub mirror) in offline mode serves git repos from `mirrors-path`, laid out as
    `{mirrors}/models/{org}/{repo}`: the client downloads and loads them as from the Hub."""
    pytest.importorskip("olah")
    repo = tmp_path / "mirrors" / "models" / "org" / "tiny-vae"
    original = save_model(repo)
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "tiny model"], check=True)

    port = free_port()
    config = tmp_path / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{tmp_path / "olah-cache"}"\n'
        f'mirror-netloc = "127.0.0.1:{port}"\nmirror-lfs-netloc = "127.0.0.1:{port}"\n'
        f'mirrors-path = ["{tmp_path / "mirrors"}"]\n\n[accessibility]\noffline = true\n'
    )
    log = tmp_path / "olah.log"
    with log.open("w") as output:
        command = [sys.executable, "-m", "olah.server", "-c", str(config), "--log-path", str(tmp_path / "olah-logs")]
        server = subprocess.Popen(command, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/api/models/org/tiny-vae/revision/main", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"olah did not start (exit {server.poll()}):\n{log.read_text()[-3000:]}")
                time.sleep(0.1)

        point_hub_client(monkeypatch, endpoint, tmp_path / "hf-home")
        downloaded = model_folder("org/tiny-vae")
        expected = {name: data for name, data in files(repo).items() if not name.startswith(".git")}
        assert files(downloaded) == expected
        assert_same_model(original, WeightVAE.from_pretrained(downloaded))
        assert_same_model(original, WeightVAE.from_pretrained("org/tiny-vae"))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- errors ----------------------------------------------------------------------------------------------


def test_offline_is_said_plainly(tmp_path: Path, monkeypatch, model, capsys) -> None:
    point_hub_client(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path / "hf-home", timeout=2)
    said = r"cannot reach the Hugging Face Hub to download user/model: .*refused.* use a local folder or 'toy'\)"
    with pytest.raises(ConnectionError, match=said) as error:
        model_folder("user/model", bundled=tmp_path)
    assert "(offline? use a local folder or 'toy')" in str(error.value)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConnectionError, match=r"offline mode is on \(HF_HUB_OFFLINE\).*use a local folder\)"):
        model_folder("user/model")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    with pytest.raises(SystemExit) as exit_:
        push([str(model[1]), "user/model"])
    assert exit_.value.code == 1
    assert "cannot reach the Hugging Face Hub to push to user/model" in capsys.readouterr().err


@pytest.mark.parametrize("variant", [None, "fp16"])
def test_only_the_asked_parts_and_variant_are_downloaded(variant: str | None) -> None:
    allow, ignore = download_patterns(("text_encoder",), variant)
    files = ["model_index.json", "unet/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
             "text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors", "text_encoder/pytorch_model.bin",
             "text_encoder/model-00001-of-00002.safetensors", "text_encoder/model.fp16-00001-of-00002.safetensors",
             "text_encoder/model.safetensors.index.fp16.json"]  # fmt: skip
    kept = {f for f in files if any(fnmatch(f, a) for a in allow) and not any(fnmatch(f, i) for i in ignore)}
    weights = {f for f in kept if f.endswith(".safetensors")}
    if variant is None:
        assert weights == {"text_encoder/model.safetensors", "text_encoder/model-00001-of-00002.safetensors"}
    else:
        assert weights == {"text_encoder/model.fp16.safetensors", "text_encoder/model.fp16-00001-of-00002.safetensors"}
    assert {"model_index.json", "text_encoder/config.json"} <= kept and "text_encoder/pytorch_model.bin" not in kept


def upload(folder: Path, repo_id: str) -> None:
    """A model folder onto the test Hub as it is (no model card needed), as `huggingface-cli upload` would."""
    api = HfApi(token=TEST_TOKEN)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder)


def test_every_loader_reads_hub_repos_through_one_resolver(hub: HubServer, tmp_path: Path, monkeypatch) -> None:
    diffusion, clip = tiny_toy(tmp_path)
    sd = tiny_stable_diffusion(tmp_path / "sd", "epsilon")
    for folder, repo in ((diffusion, "user/toy-diffusion"), (clip, "user/toy-clip"), (sd, "user/tiny-sd")):
        upload(folder, repo)
    assert pipeline_class("user/tiny-sd") == "StableDiffusionPipeline" and pipeline_class("user/toy-diffusion") == "toy"
    tokens = load_clip(clip)[2](["a red cube"])
    with torch.no_grad():
        assert torch.equal(load_clip("user/toy-clip")[0].encode_text(tokens), load_clip(clip)[0].encode_text(tokens))
    guidance = load_guidance("user/toy-diffusion", clip="user/toy-clip", device="cpu", use_cache=False)
    local = load_guidance(diffusion, clip=clip, device="cpu", use_cache=False)
    assert torch.equal(
        guidance.text_encoder.encode(["a red cube"]).pooled, local.text_encoder.encode(["a red cube"]).pooled
    )

    encoder = load_text_encoder("user/tiny-sd", device="cpu", use_cache=False)  # the text parts only
    snapshot = model_folder("user/tiny-sd", parts=("tokenizer", "text_encoder"))
    weights = {str(p.relative_to(snapshot)) for p in snapshot.rglob("*.safetensors")}
    assert weights == {"text_encoder/model.safetensors"} and not (snapshot / "vae").exists()  # no U-Net, no VAE
    expected = load_text_encoder(sd, device="cpu", use_cache=False).encode(["a red cube"]).states
    assert torch.equal(encoder.encode(["a red cube"]).states, expected)
    assert load_guidance("user/tiny-sd", device="cpu", text_encoder=encoder).unet.config.sample_size == 8

    assert model_markers("user/tiny-sd")[1] == {"model_index.json", "unet/config.json", "text_encoder/config.json"}
    with pytest.raises(FileNotFoundError, match="model repo user/nothing-here not found, or private"):
        load_text_encoder("user/nothing-here")
    with pytest.raises(ValueError, match="holds no open_clip model"):
        load_clip("user/tiny-sd")
    hub.stop()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what was downloaded still loads, the rest is said plainly
    assert load_text_encoder("user/tiny-sd", device="cpu", use_cache=False).encode(["a red cube"]).states.shape[0] == 1
    with pytest.raises(ConnectionError, match=r"download user/other: offline mode is on \(HF_HUB_OFFLINE\)"):
        load_text_encoder("user/other")


def test_missing_repo(hub: HubServer, monkeypatch) -> None:
    with pytest.raises(FileNotFoundError, match="model repo user/nothing-here not found, or private"):
        model_folder("user/nothing-here")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    with pytest.raises(FileNotFoundError, match="HF_TOKEN has no access to it"):
        model_folder("user/nothing-here")


def test_gated_repo(hub: HubServer, model, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    push([str(model[1]), "user/gated-vae"])
    hub.repos["user/gated-vae"].gated = True
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(PermissionError, match="user/gated-vae is gated: accept its conditions"):
        model_folder("user/gated-vae")
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    assert files(model_folder("user/gated-vae")) == files(model[1])


@pytest.mark.parametrize("source", ["../x", "a/b/c", "", "  ", "toyy", "user/", "user/repo--x", "/no/such/folder"])
def test_bad_sources_are_refused_before_any_network(source: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # "../x" names no folder there, whatever lies beside the checkout
    with pytest.raises(ValueError, match=r"'toy' \(the bundled model\), a local folder, or a Hub repo id 'user/repo'"):
        model_folder(source)


def test_toy_and_local_folders(tmp_path: Path) -> None:
    assert model_folder("toy", bundled=tmp_path) == tmp_path
    with pytest.raises(ValueError, match="no bundled 'toy'"):
        model_folder("toy")
    assert model_folder(str(tmp_path)) == tmp_path
    assert model_folder(tmp_path) == tmp_path
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        model_folder(tmp_path / "file.txt")
    with pytest.raises(ValueError, match="no such folder"):
        model_folder(tmp_path / "user" / "repo")  # a Path is a folder, never a repo id


def test_push_refuses_what_is_not_a_model_folder(tmp_path: Path, monkeypatch, model, capsys) -> None:
    _, folder = model
    point_hub_client(monkeypatch, f"http://127.0.0.1:{free_port()}", tmp_path / "hf-home")

    def refused(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exit_:
            push(argv)
        assert exit_.value.code == 2
        return capsys.readouterr().err

    assert "set HF_TOKEN" in refused([str(folder), "user/model"])
    monkeypatch.setenv("HF_TOKEN", TEST_TOKEN)
    assert "repo id must be 'user/repo'" in refused([str(folder), "a/b/c"])
    assert "no folder" in refused([str(tmp_path / "nope"), "user/model"])
    (folder / "README.md").unlink()
    assert "no model card README.md" in refused([str(folder), "user/model"])
    (folder / "README.md").write_text("# card\n")
    (folder / "optimizer.pt").write_bytes(b"pickle")
    assert "pickled files" in refused([str(folder), "user/model"])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("# card\n")
    assert "no model in it (expected one of config.json, pil.json" in refused([str(empty), "user/model"])
    with pytest.raises(ValueError, match="cannot be pushed: no model in it"):
        push_folder(empty, "user/model")
