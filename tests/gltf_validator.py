"""The Khronos glTF validator (npm `gltf-validator`, run by `tools/gltf-validator/validate.mjs`) for tests.

Install it once with `npm ci --prefix tools/gltf-validator` (needs node). Tests that need it call
`require_gltf_validator()`: it skips them when node or the package is missing, or fails them when the
environment sets `REQUIRE_GLTF_VALIDATOR=1` (CI does, so a broken install cannot pass silently).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

VALIDATOR_DIR = Path(__file__).resolve().parent.parent / "tools" / "gltf-validator"
VALIDATE_SCRIPT = VALIDATOR_DIR / "validate.mjs"
INSTALL_HINT = "install it with `npm ci --prefix tools/gltf-validator` (needs node >= 18 on PATH)"
REQUIRE_ENV = "REQUIRE_GLTF_VALIDATOR"


def gltf_validator_problem() -> str | None:
    """Why the glTF validator cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return f"glTF validator unavailable: `node` is not on PATH; {INSTALL_HINT}"
    if not (VALIDATOR_DIR / "node_modules" / "gltf-validator" / "package.json").is_file():
        return f"glTF validator unavailable: the npm package is not installed in {VALIDATOR_DIR}; {INSTALL_HINT}"
    return None


def require_gltf_validator() -> None:
    """Skip the calling test when the validator is unavailable, or fail it when `REQUIRE_GLTF_VALIDATOR=1`."""
    problem = gltf_validator_problem()
    if problem is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{problem} ({REQUIRE_ENV}=1 is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(problem)


def validate_gltf(path: str | Path, timeout: float = 60.0) -> dict:
    """The validator's report on the `.glb`/`.gltf` file at `path`, as a dict.

    Errors are counted in `report["issues"]["numErrors"]` and listed in `report["issues"]["messages"]`.
    Skips or fails the calling test (see `require_gltf_validator`) when the validator is unavailable;
    raises RuntimeError when the validator produced no report (unreadable file, not glTF at all).
    """
    require_gltf_validator()
    result = subprocess.run(
        ["node", str(VALIDATE_SCRIPT), str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"glTF validator exited with status {result.returncode}: {result.stderr.strip()}")
    return json.loads(result.stdout)
