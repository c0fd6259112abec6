"""Per-prompt DreamFusion from the command line: optimise one NeRF for a prompt by score distillation
(the run itself is `dreamfusion.dreamfusion`).

    python -m train.dreamfusion --prompt "a red cube" --guidance toy --out runs/dreamfusion/red-cube
    python -m train.dreamfusion --prompt "a red chair" --init-from pil --out runs/dreamfusion/warm

Outputs in `--out`: `field/` (reloadable, also as a warm start), `model.glb`, a turntable video,
`metrics.json` and the `config.json` that made them; a killed run resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dreamfusion import SET_HELP, DreamFusionConfig, dreamfusion
from dreamfusion.optimize import BACKBONES
from dreamfusion.warm_start import WARM_START_FORMS, WARM_STARTS
from guidance import load_guidance
from guidance.prompts import clean_prompt
from nerf.settings import with_overrides


# --- command line ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    defaults = DreamFusionConfig()
    parser = argparse.ArgumentParser(description="Per-prompt DreamFusion (SDS) of a hash-grid NeRF.")
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--guidance", default="toy", help="'toy', or a Stable Diffusion or IF repo id or folder")
    parser.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--resolution", type=int, default=None, help="training render side (default: the model's)")
    parser.add_argument("--views", type=int, default=defaults.views, help="random views per step")
    parser.add_argument("--backbone", choices=BACKBONES, default=defaults.backbone)
    parser.add_argument("--lr", type=float, default=None, help="default: 0.1 for voxels, 0.01 for the hash grid")
    parser.add_argument("--guidance-scale", type=float, default=None, help="default: the guidance model's own")
    parser.add_argument("--opacity-weight", type=float, default=defaults.opacity_weight)
    parser.add_argument(
        "--normal-gradients",
        action="store_true",
        help="let shading's gradient reach the density through the normals, as DreamFusion did (hairy on voxels)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--init-from", default=None, help=f"warm start: {WARM_START_FORMS}")
    parser.add_argument("--converge-eps", type=float, default=None, help="stop once renders change less than this")
    parser.add_argument("--converge-patience", type=int, default=defaults.converge_patience)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--no-video", action="store_true", help="skip the turntable video")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    try:
        config = DreamFusionConfig(
            steps=args.steps, resolution=args.resolution, views=args.views, backbone=args.backbone, lr=args.lr,
            guidance_scale=args.guidance_scale, opacity_weight=args.opacity_weight, seed=args.seed,
            detach_normals=not args.normal_gradients,
            converge_eps=args.converge_eps, converge_patience=args.converge_patience,
        )  # fmt: skip
        config = with_overrides(config, args.set)
    except ValueError as error:
        parser.error(str(error))
    kind = str(args.init_from).partition(":")[0]
    if args.init_from is not None and kind not in WARM_STARTS and not (Path(args.init_from) / "config.json").exists():
        parser.error(f"--init-from must be {WARM_START_FORMS}; got {args.init_from!r}")
    try:
        prompt = clean_prompt(args.prompt)
    except ValueError as error:
        parser.error(f"--prompt: {error}")
    guidance = load_guidance(args.guidance, device=args.device)
    result = dreamfusion(prompt, guidance, args.out, config, args.init_from, video=not args.no_video)
    print(json.dumps({"out": str(result.out), "steps": result.steps, "converged_at": result.converged_at,
                      "seconds": round(result.seconds, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
