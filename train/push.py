"""Push a trained model folder to the Hugging Face Hub as a model repo.

    HF_TOKEN=hf_... python -m train.push checkpoints/toy-att3d user/toy-att3d [--private]

RUN_DIR is a model folder in Hub layout with its model card: an ATT3D or PIL model (`config.json` /
`pil.json`), the toy CLIP (`open_clip_config.json`) or the toy diffusion model (`unet/`), plus README.md.
The token is read from the environment only (a command line ends up in shell history and `ps`), and is
never printed. Prints the repo's URL.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hub.push import DEFAULT_COMMIT_MESSAGE, folder_problems, push_folder
from hub.source import repo_id_problem


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m train.push", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="the model folder: config.json (or pil.json, ...) and README.md")
    parser.add_argument("repo_id", help="the Hub model repo, 'user/repo' (created if missing)")
    parser.add_argument("--private", action="store_true", help="make a new repo private")
    parser.add_argument("--message", default=DEFAULT_COMMIT_MESSAGE, help="the commit message")
    args = parser.parse_args(argv)

    problems = folder_problems(args.run_dir)
    if problems:
        parser.error(f"{args.run_dir} cannot be pushed: {'; '.join(problems)}")
    problem = repo_id_problem(args.repo_id)
    if problem is not None:
        parser.error(f"repo id must be 'user/repo', got {args.repo_id!r}: {problem}")
    if not os.environ.get("HF_TOKEN"):
        parser.error("set HF_TOKEN in the environment to a Hugging Face token with write access "
                     "(https://huggingface.co/settings/tokens); it is never read from the command line")  # fmt: skip

    try:
        url = push_folder(args.run_dir, args.repo_id, private=args.private, commit_message=args.message)
    except (OSError, ValueError) as error:  # ConnectionError, PermissionError, FileNotFoundError: said in words
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    print(url)
    return url


if __name__ == "__main__":
    main()
