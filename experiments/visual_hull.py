# Experiment of 2026-12-02 (issue 19), kept in history only: PYTHONPATH=. python experiments/visual_hull.py FIELD_RUN_FOLDER|truth "a red cube" [SIZE]
import sys

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from skimage.measure import marching_cubes

from nerf.cameras import Cameras, orbit_cameras
from nerf.fidelity import TrueShape
from nerf.field import load_field
from nerf.render import RenderConfig, render
from toyworld.prompts import find_prompt

f = find_prompt(sys.argv[2]).field() if sys.argv[1] == "truth" else load_field(sys.argv[1] + "/field")
truth = TrueShape.of_field(find_prompt(sys.argv[2]).field())
S = int(sys.argv[3]) if len(sys.argv) > 3 else 64
cams = []
for el in (-30.0, 0.0, 30.0, 60.0):
    cams.append(orbit_cameras(torch.arange(8) * 45.0 + (22.5 if el in (0.0, 60.0) else 0), el, 2.8, 30.0, S, S))
cams.append(orbit_cameras(torch.tensor([0.0, 180.0]), torch.tensor([89.0, -89.0]), 2.8, 30.0, S, S))
c2w = torch.cat([c.c2w for c in cams])
fov = torch.cat([c.fov_y for c in cams])
cams = Cameras(c2w, fov, S, S)
with torch.no_grad():
    op = render(f, cams, RenderConfig(num_samples=128), "albedo").opacity[0]  # [V, S, S]
R = 128
ax = (torch.arange(R) + 0.5) / R * 2 - 1
z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
pts = torch.stack((x, y, z), -1).view(1, -1, 3).expand(len(fov), -1, -1)
uv, depth = cams.project(pts)
grid = torch.stack((uv[..., 0] / S * 2 - 1, uv[..., 1] / S * 2 - 1), -1).unsqueeze(1)  # [V,1,N,2]
vals = F.grid_sample(op.unsqueeze(1), grid, align_corners=False, padding_mode="zeros").view(len(fov), -1)
hull = vals.min(0).values.view(R, R, R).numpy()
v, fc, _, _ = marching_cubes(np.pad(hull, 1), 0.5)
v = (v - 1)[:, ::-1] * (2 / R) - 1 + 1 / R
m = trimesh.Trimesh(v, fc[:, ::-1])
print(sys.argv[1][-20:], sys.argv[2], "hull", {k: round(x, 3) for k, x in truth.score(m).as_dict().items()})
if sys.argv[1] == "truth":
    sd = f.signed_distance(torch.stack((x, y, z), -1).view(1, -1, 3))[0].view(R, R, R).numpy() if False else None
    from nerf.fidelity import sdf_values

    inside = (
        sdf_values(lambda p: f.signed_distance(p)[0], torch.stack((x, y, z), -1).view(-1, 3).numpy()).reshape(R, R, R)
        < 0
    )
    h = hull > 0.5
    print("inside", inside.sum(), "hull", h.sum(), "both", (inside & h).sum())
    print("mesh bounds", m.bounds.round(3).tolist(), "truth bounds", truth.mesh.bounds.round(3).tolist())
