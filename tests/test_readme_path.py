"""The researcher's path as the README writes it: train a model, publish it with `python -m hub.push`, serve it
with `python app.py --att3d/--pil REPO` and make an object over HTTP, for ATT3D and for PIL. The commands are
read from the README's `researcher-path` block and run in that order, each in its own process as a user
types it, against the local test Hub; the only change is tiny model sizes added to the training commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from hub_server import TEST_TOKEN, HubServer, point_hub_client

from hub.source import model_folder
from webui.image_to_3d import example_images
from webui.local_server import free_port
from webui.text_to_3d import METHODS

pytestmark = pytest.mark.slow  # trainers, two app servers and a Hub, each in its own process

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TINY = {  # model sizes that train in seconds, added to the README's training commands
    "train.att3d": ["--steps", "2", "--batch", "4", "--device", "cpu", "--set", "num_samples=8",
                    "model.voxel.resolution=8", "model.hidden_dim=8", "render_every=0", "warmup=1", "anneal_steps=4"],
    "train.pil_dataset": ["--objects-per-category", "10", "--steps", "40", "--shard-size", "8", "--set",
                          "mlp.num_frequencies=2", "mlp.hidden_dim=16", "pool_points=2048", "points_per_step=512",
                          "eval_views=2", "image_size=16", "num_samples=24", "init_steps=40"],
    "train.pil": ["--vae-steps", "30", "--aligner-epochs", "3", "--set", "views=2", "vae.hidden_dim=16",
                  "vae_batch=8", "aligner_batch=8"],
}  # fmt: skip


def readme_commands() -> list[str]:
    """The README's researcher-path commands, in order, without their comments."""
    block = re.search(r"<!-- researcher-path -->\n```bash\n(.*?)```", README.read_text(), re.DOTALL)
    assert block, "the README has no researcher-path block"
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines() if line.strip()]


def serve(arguments: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """Start `python app.py ARGUMENTS` on a free port, its output to `log` (a pipe nobody reads would fill and
    stop it); (the process, its URL once it answers)."""
    port = free_port()
    with log.open("w") as output:
        server = subprocess.Popen([sys.executable, *arguments], cwd=cwd, env=env | {"GRADIO_SERVER_PORT": str(port)},
                                  stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"{shlex.join(arguments)} exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return server, url
        except OSError:
            time.sleep(1)
    server.kill()
    pytest.fail(f"{shlex.join(arguments)} did not answer within 300 s")


def check_att3d_app(url: str) -> None:
    """The served model is the one trained on my-prompts.txt: it knows "red cube", not "green torus"."""
    client = Client(url, verbose=False)
    mesh, _, _, note = client.predict(prompt="a red cube", model=METHODS[0], resolution=32, api_name="/text_to_3d")
    assert Path(mesh).suffix == ".glb" and Path(mesh).stat().st_size > 0 and note == ""
    *_, note = client.predict(prompt="a green torus", model=METHODS[0], resolution=32, api_name="/text_to_3d")
    assert note == "Words unknown to the model: ['green', 'torus']"  # the bundled model knows every toy64 word


def check_pil_app(url: str, captions: set[str]) -> None:
    """The served model is the one trained on chairs and mugs: an image makes an object, and a text prompt
    goes through the nearest of its own training scenes."""
    client = Client(url, verbose=False)
    mesh, _, stats = client.predict(image=handle_file(example_images()[0]), resolution=32, api_name="/image_to_3d")
    assert Path(mesh).suffix == ".glb" and "faces" in stats
    *_, note = client.predict(prompt="a red airplane", model=METHODS[1], resolution=32, api_name="/text_to_3d")
    scene = re.fullmatch(r"Nearest training scene: \*(.*)\*", note)
    assert scene and scene.group(1) in captions and "airplane" not in scene.group(1)


def test_train_publish_serve_as_the_readme_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HubServer(tmp_path / "hub-server") as hub:
        point_hub_client(monkeypatch, hub.url, tmp_path / "hf-home")
        env = os.environ | {"PYTHONPATH": str(ROOT), "AMORTIZED3D_CACHE": str(tmp_path / "cache"),
                            "OMP_NUM_THREADS": "1"}  # fmt: skip
        work = tmp_path / "work"
        work.mkdir()
        served = []
        try:
            for command in readme_commands():
                command = command.replace("you/", "user/")
                environment = env
                if command.startswith("HF_TOKEN=... "):
                    command, environment = command.removeprefix("HF_TOKEN=... "), env | {"HF_TOKEN": TEST_TOKEN}
                if not command.startswith("python "):  # a shell line, such as writing the prompt file
                    subprocess.run(command, shell=True, cwd=work, check=True)
                    continue
                arguments = shlex.split(command)[1:]
                if arguments[0] == "app.py":
                    log = tmp_path / f"app{len(served)}.log"
                    server, url = serve([str(ROOT / "app.py"), *arguments[1:]], work, environment, log)
                    served.append((arguments[1], server, url))
                    continue
                arguments += TINY.get(arguments[1], []) if arguments[0] == "-m" else []
                done = subprocess.run([sys.executable, *arguments], cwd=work, env=environment, capture_output=True,
                                      text=True)  # fmt: skip
                assert done.returncode == 0, f"{command} failed:\n{done.stderr[-3000:]}"

            assert [flag for flag, *_ in served] == ["--att3d", "--pil"]
            check_att3d_app(served[0][2])
            records = json.loads((work / "runs" / "pil" / "mine" / "model" / "scenes.json").read_text())
            check_pil_app(served[1][2], {record["caption"] for record in records})
        finally:  # whatever failed, no server is left running
            for _, server, _ in served:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)

        # what was published: the model and a card with its recipe, what it learned and what it measured
        att3d = model_folder("user/your-att3d")
        card = (att3d / "README.md").read_text()
        assert "python -m train.att3d --prompts my-prompts.txt --out runs/att3d/mine" in card
        assert '"prompts_trained": 2' in card and '"a red cube", "a blue sphere"' in card and '"final_loss"' in card
        assert not (att3d / "checkpoint").exists() and (att3d / "model.safetensors").is_file()
        pil = model_folder("user/your-pil")
        card = (pil / "README.md").read_text()
        assert "python -m train.pil --data data/pil-nerfs --out runs/pil/mine" in card
        assert '"objects_trained": 18' in card and '"aligner_latent_mse"' in card  # 2 × 10, one in ten held out
        assert not (pil / "vae-run").exists() and (pil / "pil.json").is_file()
