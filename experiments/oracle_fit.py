# Experiment of 2026-12-02 (issue 19), kept in history only: PYTHONPATH=. python experiments/oracle_fit.py "a red cube" 32 OUT
"""Oracle: fit the DreamFusion voxel field to true renders at 32x32 (same cameras, shading mix), export, score."""

import random
import sys

import torch

from nerf.background import ConstantBackground
from nerf.cameras import CameraSampling, sample_cameras
from nerf.fidelity import TrueShape, export_scores
from nerf.field import VoxelGridField
from nerf.render import RenderConfig, render, sample_light_directions
from toyworld.prompts import find_prompt
from toyworld.render_gt import BACKGROUND, render_ground_truth
from train.dreamfusion import DreamFusionConfig

torch.manual_seed(0)
prompt = find_prompt(sys.argv[1])
res = int(sys.argv[2]) if len(sys.argv) > 2 else 32
truth_field = prompt.field()
cfg = DreamFusionConfig()
f = VoxelGridField(cfg.voxel)
opt = torch.optim.Adam(f.parameters(), lr=0.1, betas=(0.9, 0.99), eps=1e-15)
bg = ConstantBackground(BACKGROUND)
g = torch.Generator().manual_seed(0)
draws = random.Random(0)
rc = RenderConfig(num_samples=64, stratified=True, detach_normals=True)
for step in range(300):
    cams = sample_cameras(4, res, res, CameraSampling(), g)
    shading = cfg.pick_shading(draws.random())
    light = sample_light_directions(cams, generator=g) if shading != "albedo" else None
    out = render(f, cams, rc, shading, light, bg, generator=g)
    with torch.no_grad():
        target = render_ground_truth(truth_field, cams, shading, light, supersample=2).rgb
    loss = (
        (out.rgb[0] - target).square().sum() / 4
        + cfg.opacity_penalty(out.opacity)
        + cfg.tv_weight * f.total_variation()
        + cfg.colour_tv_weight * f.total_variation(slice(1, 4))
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
print(sys.argv[1], res, {k: round(v, 3) for k, v in export_scores(f, TrueShape.of_field(truth_field)).items()})

from nerf.field import save_field

if len(sys.argv) > 3:
    save_field(f, sys.argv[3] + "/field")
