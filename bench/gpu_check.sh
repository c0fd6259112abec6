#!/usr/bin/env bash
# The project on a GPU machine, as one short command (≤ 8 minutes): the CUDA tests, then
# `python -m bench.gpu_check` (a bf16 ATT3D training step on the hash grid, hash-grid throughput
# against the GPU's measured memory bandwidth, text → .glb at 256³), printing tables for docs/BENCHMARKS.md.
#
# The GPU machine has PyTorch (and accelerate, huggingface_hub, safetensors) but none of our other
# packages and no network, so their wheels travel beside this script:
#   here:  bash bench/gpu_check.sh wheels [PYTHON_VERSION]   # → gpu-wheels/, the locked versions, for that Python (3.12)
#   there: bash bench/gpu_check.sh                           # installs gpu-wheels/ offline into a venv, then checks
# With the device tool: run(command="bash bench/gpu_check.sh", carry=["gpu-wheels"], timeout_s=540). The
# working tree travels whole, at most 64 MiB, and the bundled checkpoints nearly fill it: move
# checkpoints/toy-pil out of the checkout for the call (the checks do not read it) and back afterwards.
# (The GPU image's own scipy, scikit-image, pillow and pytest are used: their wheels alone would pass 64 MiB.)
set -euo pipefail
cd "$(dirname "$0")/.."

# what the GPU machine brings itself; everything else the code imports comes from gpu-wheels/
PRESENT='^(torch|torchvision|triton|nvidia-.*|cuda-.*|accelerate|huggingface-hub|safetensors|numpy|filelock|fsspec|jinja2|markupsafe|mpmath|sympy|networkx|typing-extensions|packaging|pyyaml|psutil|requests|urllib3|idna|certifi|charset-normalizer|hf-xet|setuptools|scipy|scikit-image|pillow|imageio|tqdm|regex|pytest|pytest-timeout|pluggy|iniconfig|lazy-loader|zipp)$'
# what the checks and train/gpu_toy_diffusion.sh import (the app, the Hub mirror, the browser, lint and the real models' text encoders stay behind)
NEEDED='^(diffusers|regex|open-clip-torch|ftfy|wcwidth|trimesh|scikit-image|scipy|lazy-loader|imageio|pillow|tqdm|pytest|pytest-timeout|pluggy|iniconfig|importlib-metadata|zipp|pydantic|pydantic-core|annotated-types|typing-inspection)$'

if [ "${1:-}" = wheels ]; then
    version=${2:-3.12}
    python - "$version" "$PRESENT" "$NEEDED" > gpu-requirements.txt <<'PY'
import re, sys
from packaging.requirements import Requirement
version, present, needed = sys.argv[1], re.compile(sys.argv[2]), re.compile(sys.argv[3])
environment = {"python_version": version, "python_full_version": f"{version}.0", "sys_platform": "linux",
               "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython"}
for line in open("requirements.txt"):
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    requirement = Requirement(line.split(" #")[0].strip())
    if requirement.marker and not requirement.marker.evaluate(environment):
        continue
    if needed.match(requirement.name) and not present.match(requirement.name):
        print(f"{requirement.name}{requirement.specifier}")
PY
    rm -rf gpu-wheels
    pip download --no-deps --only-binary=:all: --python-version "$version" --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d gpu-wheels -r gpu-requirements.txt
    mv gpu-requirements.txt gpu-wheels/requirements.txt
    du -sh gpu-wheels
    exit 0
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
# shellcheck source=bench/gpu_env.sh
source bench/gpu_env.sh
python -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name())'
timeout 240 python -m pytest -m gpu -p no:cacheprovider -q tests/test_cuda.py tests/test_train_att3d.py || echo "CUDA TESTS FAILED"
timeout 240 python -m bench.gpu_check
