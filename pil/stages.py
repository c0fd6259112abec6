"""How long each stage of a PIL training run took, and where: `stages.json` in the run folder, which the model
cards report (`train.pil`'s own card and the bundle `evaluation.pil` writes)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from hub.model_card import machine

STAGES_FILE = "stages.json"  # each stage's wall seconds, summed over sittings, and the machines they ran on


@contextmanager
def timed(run: Path, stage: str):
    """Add the block's wall time (one sitting of `stage`) to `run/stages.json`, with the machine it ran on, when
    the block ends or fails: a resumed stage's time is the sum of its sittings'. A sitting killed by a signal
    is not counted; a stage read back from its cache adds its reading time."""
    began = time.perf_counter()
    try:
        yield
    finally:
        path = Path(run) / STAGES_FILE
        record = json.loads(path.read_text()) if path.exists() else {"seconds": {}, "machines": []}
        record["seconds"][stage] = round(record["seconds"].get(stage, 0.0) + time.perf_counter() - began, 3)
        if machine() not in record["machines"]:
            record["machines"].append(machine())
        path.write_text(json.dumps(record, indent=1))


def trained_on(run: Path) -> dict | None:
    """What `timed` recorded for the run folder `run` (None for a run from before it was recorded)."""
    path = Path(run) / STAGES_FILE
    return json.loads(path.read_text()) if path.exists() else None
