"""Training state survives a kill: resuming from a checkpoint continues exactly as an unbroken run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nerf.checkpoint import has_training_state, load_training_state, save_training_state

SCRIPT = """
import sys, time, torch
from pathlib import Path
from safetensors.torch import save_file
from nerf.checkpoint import has_training_state, load_training_state, save_training_state
folder, steps, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.0, 0.99))
checkpoint = folder / "checkpoint"
step = load_training_state(checkpoint, model, optimizer)[0] if has_training_state(checkpoint) else 0
while step < steps:
    x = torch.randn(8, 4)  # from the restored RNG: the same batches as an unbroken run
    loss = (model(x) - x.sum(1, keepdim=True)).square().mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step(); step += 1
    save_training_state(checkpoint, model, optimizer, step)
    print(step, flush=True)
    time.sleep(pause)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "final.safetensors")
"""


def run(folder: Path, steps: int, pause: float = 0.0) -> subprocess.Popen:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(folder), str(steps), str(pause)],
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip


@pytest.mark.slow
def test_sigkill_and_resume_equals_an_unbroken_run(tmp_path: Path) -> None:
    unbroken, killed = tmp_path / "unbroken", tmp_path / "killed"
    assert run(unbroken, 12).wait(timeout=120) == 0
    process = run(killed, 12, pause=0.3)
    for line in process.stdout:  # let it get a few steps in, then kill it without warning
        if int(line) >= 4:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert has_training_state(killed / "checkpoint") and not (killed / "final.safetensors").exists()
    assert run(killed, 12).wait(timeout=120) == 0
    expected, resumed = load_file(unbroken / "final.safetensors"), load_file(killed / "final.safetensors")
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)


def test_state_round_trip_keeps_adam_moments_and_step(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(5, 3)).sum().backward()
    optimizer.step()
    save_training_state(tmp_path / "state", model, optimizer, 7, {"note": "hello"})
    fresh = torch.nn.Linear(3, 2)
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    step, extra = load_training_state(tmp_path / "state", fresh, fresh_optimizer)
    assert step == 7 and extra == {"note": "hello"}
    assert torch.equal(fresh.weight, model.weight)
    original, restored = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    for index in original:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(original[index][name]), torch.as_tensor(restored[index][name]))
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("*.previous"))
