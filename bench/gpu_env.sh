# Sourced by the GPU scripts (bench/gpu_check.sh, train/gpu_toy_diffusion.sh, train/gpu_att3d.sh): a virtual
# environment over the GPU machine's own PyTorch, with the locked packages it lacks installed offline from
# gpu-wheels/ (made here by `bash bench/gpu_check.sh wheels`; the device tool carries it: carry=["gpu-wheels"]).
# On a machine that has them already (this project's CPU machine, for a smoke run) there is nothing to set up.
if python -c "import diffusers, open_clip, trimesh" 2>/dev/null; then
    return 0
fi
environment=$(mktemp -d)/venv
python3 -m venv --system-site-packages "$environment"  # the machine's own torch stays in use
# shellcheck disable=SC1091
source "$environment/bin/activate"
if [ -d gpu-wheels ]; then
    pip install --no-index --no-deps --find-links gpu-wheels -r gpu-wheels/requirements.txt -q
fi
