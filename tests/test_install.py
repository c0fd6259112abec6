"""`pip install .` gives a working install: the wheel holds every package, the app and the bundled
checkpoints, and text → .glb runs from it outside the checkout (the dependencies come from the
environment that runs the tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("att3d", "distillation", "dreamfusion", "evaluation", "guidance", "hub", "nerf", "pil", "toyworld", "train",
            "webui")  # fmt: skip


def tracked_files() -> list[str]:
    return subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()


@pytest.mark.slow
def test_the_wheel_installs_and_makes_an_object_outside_the_checkout(tmp_path: Path) -> None:
    source = tmp_path / "source"  # the tracked files only (a build writes build/ and *.egg-info beside them)
    for name in tracked_files():
        if (ROOT / name).is_file() and not name.startswith(("tests/", "docs/", "tools/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source), "-w", tmp_path],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("amortized_3d-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, f"{package} is missing from the wheel"
    tracked = [name for name in tracked_files() if name.startswith(("checkpoints/", "webui/examples/"))]
    assert tracked and set(tracked) <= set(names), sorted(set(tracked) - set(names))
    assert "app.py" in names

    installed = tmp_path / "installed"  # the wheel alone, beside the dependencies of the running environment
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(installed)}
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", installed, wheel],
                             capture_output=True, text=True)  # fmt: skip
    assert install.returncode == 0, install.stderr
    away = tmp_path / "elsewhere"
    away.mkdir()
    script = (
        "import att3d, app, webui.models, pil.generate, hub.source\n"
        f"assert {str(ROOT)!r} not in att3d.__file__, att3d.__file__\n"
        "from att3d.generate import main\n"
        "main(['a red cube', '-o', 'cube.glb'])\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=away, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (away / "cube.glb").stat().st_size > 1000
