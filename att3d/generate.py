"""Text → 3D in one forward pass of a trained ATT3D model, and interpolations between prompts.

    python -m att3d.generate "a red cube" -o red-cube.glb
    python -m att3d.generate "a red cube" --to "a blue sphere" -o morph.mp4      # an interpolation chain
    python -m att3d.generate "a red cube" --to "a blue sphere" --alpha 0.5 -o halfway.glb

    from att3d.generate import ATT3DPipeline
    pipe = ATT3DPipeline.from_pretrained()            # the bundled toy model; or a Hub repo id / folder
    result = pipe(["a red cube", "a green torus"])    # result.field: 2 objects
    pipe.export("a red cube", "red-cube.glb")

The prompt is encoded by the text encoder the model was trained with (its config's `text_encoder`);
only that encoder is loaded, never the diffusion model it came with.
Words that no training prompt used still give an object (the embedding is defined for any text), but
the result says the prompt is outside the training distribution.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from att3d.model import ATT3D
from guidance.prompts import clean_prompt
from guidance.text_encoder import TextEncoder, load_text_encoder
from hub.source import model_folder
from nerf.checks import check_alpha
from nerf.export import MESH_FORMATS, check_export_resolution, export_rendered_surface
from nerf.field import BoundField
from nerf.interpolation import interpolate, interpolation_weights
from nerf.video import save_video, sweep_frames

BUNDLED = Path(__file__).resolve().parent.parent / "checkpoints" / "toy-att3d"
VIDEO_FORMATS = (".mp4", ".gif")


@dataclass
class Generation:
    """Objects made in one forward pass: `field` holds one object per prompt."""

    field: BoundField
    prompts: list[str]
    unknown_words: list[list[str]]  # per prompt, the words no training prompt used

    @property
    def in_distribution(self) -> list[bool]:
        return [not words for words in self.unknown_words]


class ATT3DPipeline:
    """A trained ATT3D model and the text encoder it was trained with."""

    def __init__(self, model: ATT3D, text_encoder: TextEncoder) -> None:
        self.model = model.eval()
        self.text_encoder = text_encoder

    @classmethod
    def from_pretrained(
        cls,
        source: str | Path = "toy",
        device: str | torch.device = "cpu",
        text_encoders: Callable[[str], TextEncoder] | None = None,
    ) -> ATT3DPipeline:
        """The model from "toy" (bundled), a local folder or a Hub repo id, with its text encoder, loaded by
        `text_encoders(source)` where given (the app passes its shared ones), else by `load_text_encoder`."""
        model = ATT3D.from_pretrained(model_folder(source, BUNDLED)).to(device)
        load = text_encoders or (lambda name: load_text_encoder(name, device=device))
        return cls(model, load(model.config.text_encoder))

    def save_pretrained(self, folder: str | Path, half: bool = False) -> Path:
        """Write the model where `from_pretrained` reads it (Hub layout; `half`: fp16 weights). The text
        encoder is named in its config, not copied: it is the guidance model's own."""
        model = copy.deepcopy(self.model).to(torch.float16 if half else torch.float32)
        model.save_pretrained(folder)
        return Path(folder)

    @torch.no_grad()
    def embed(self, prompts: list[str]) -> Tensor:
        """Token embeddings `[B, L, W]` of prompts (validated and cleaned)."""
        return self._encode([clean_prompt(p) for p in prompts])

    def _encode(self, texts: list[str]) -> Tensor:
        return self.text_encoder.encode(texts).states.float().to(self.model.device)

    @torch.no_grad()
    def __call__(self, prompts: str | list[str]) -> Generation:
        """One object per prompt."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        texts = [clean_prompt(p) for p in prompts]
        unknown = [self.model.config.unknown_words(t) for t in texts]
        for text, words in zip(texts, unknown, strict=True):
            if words:
                warnings.warn(f"{text!r} is outside the training distribution: unknown words {words}", stacklevel=3)
        return Generation(self.model.fields(self._encode(texts)), texts, unknown)

    @torch.no_grad()
    def interpolate(self, first: str, second: str, alphas: list[float] | np.ndarray) -> Generation:
        """One object per α: the model at `(1-α)·c(first) + α·c(second)`."""
        alpha = interpolation_weights(alphas)
        texts = [clean_prompt(first), clean_prompt(second)]
        a, b = self._encode(texts)
        mixed = interpolate(a.expand(len(alpha), -1, -1), b.expand(len(alpha), -1, -1), alpha.to(a.device))
        unknown = [sorted({*self.model.config.unknown_words(texts[0]), *self.model.config.unknown_words(texts[1])})]
        return Generation(self.model.fields(mixed), [f"{texts[0]} → {texts[1]} @ {float(x):.2f}" for x in alpha],
                          unknown * len(alpha))  # fmt: skip

    def export(
        self, prompt: str, path: str | Path, resolution: int = 128, alpha: float | None = None, to: str | None = None
    ) -> Path:
        """`prompt`'s object (or the interpolant at `alpha` towards `to`) as a mesh file (.glb, .obj, .ply)."""
        if (alpha is None) != (to is None):
            raise ValueError("an interpolant needs both `to` (the second prompt) and `alpha` (0..1)")
        generation = self.interpolate(prompt, to, [alpha]) if to is not None else self(prompt)
        return export_generation(generation, path, resolution)


def export_generation(generation: Generation, path: str | Path, resolution: int = 128) -> Path:
    """The first object of `generation` as a mesh at its rendered surface (coarse-to-fine marching cubes)."""
    field = generation.field
    try:
        return export_rendered_surface(field.select(slice(0, 1)), path, resolution)
    except ValueError as error:
        raise ValueError(f"{generation.prompts[0]!r}: {error}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Text → 3D in one forward pass of a trained ATT3D model.")
    parser.add_argument("prompt")
    parser.add_argument("-o", "--out", type=Path, required=True, help=f"mesh ({', '.join(MESH_FORMATS)}) or, "
                        f"with --to and no --alpha, an interpolation video ({', '.join(VIDEO_FORMATS)})")  # fmt: skip
    parser.add_argument("--model", default="toy", help="'toy' (bundled), a folder or a Hub repo id")
    parser.add_argument("--resolution", type=int, default=128, help="marching-cubes grid of the mesh (32..512)")
    parser.add_argument("--to", default=None, help="a second prompt to interpolate towards")
    parser.add_argument("--alpha", type=float, default=None, help="with --to: the interpolant (0..1) to export")
    parser.add_argument("--frames", type=int, default=48, help="frames of an interpolation video")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    suffix = args.out.suffix.lower()
    video = args.to is not None and args.alpha is None
    try:
        clean_prompt(args.prompt)
        if args.to is not None:
            clean_prompt(args.to)
        if args.alpha is not None:
            if args.to is None:
                raise ValueError("--alpha needs --to (the prompt to interpolate towards)")
            check_alpha(args.alpha)
        allowed = VIDEO_FORMATS if video else MESH_FORMATS
        if suffix not in allowed:
            raise ValueError(f"--out must end in one of {', '.join(allowed)}, got {args.out.name!r}")
        check_export_resolution(args.resolution, "--resolution")
        if not 2 <= args.frames <= 1000:
            raise ValueError("--frames must be in 2..1000")
    except ValueError as error:
        parser.error(str(error))
    pipe = ATT3DPipeline.from_pretrained(args.model, args.device)
    started = time.perf_counter()
    if video:
        generation = pipe.interpolate(args.prompt, args.to, np.linspace(0.0, 1.0, args.frames))
        save_video(sweep_frames(generation.field), args.out)
    else:
        generation = pipe.interpolate(args.prompt, args.to, [args.alpha]) if args.to else pipe(args.prompt)
        export_generation(generation, args.out, args.resolution)
    if not generation.in_distribution[0]:
        print(f"note: outside the training distribution (unknown words: {generation.unknown_words[0]})",
              file=sys.stderr)  # fmt: skip
    print(f"wrote {args.out} in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
