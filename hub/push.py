"""Push a trained model folder to the Hugging Face Hub as a model repo, with the same clear errors as
downloading (`hub.source`).

    HF_TOKEN=hf_... python -m hub.push checkpoints/toy-att3d user/toy-att3d [--private]

RUN_DIR is a model folder in Hub layout with its model card: an ATT3D or PIL model (`config.json` /
`pil.json`), the toy CLIP (`open_clip_config.json`) or the toy diffusion model (`unet/`), plus README.md;
or a trainer's run folder, whose `model/` holds that (`python -m train.att3d ... --out RUN_DIR`).
The token is read from the environment only (a command line ends up in shell history and `ps`), and is
never printed. Prints the repo's URL.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from huggingface_hub import HfApi

from hub.source import MODEL_CARD, MODEL_MARKERS, PICKLE_SUFFIXES, hub_errors, hub_token, model_in, repo_id_problem

DEFAULT_COMMIT_MESSAGE = "Upload model with python -m hub.push"


def push_folder(folder: Path, repo_id: str, private: bool = False, commit_message: str = DEFAULT_COMMIT_MESSAGE) -> str:
    """Upload `folder` (a model folder with its README.md model card, or a run folder with one in `model/`) to
    the Hub model repo `repo_id`,
    creating the repo if needed (`private` applies only to a new repo), with the token in `HF_TOKEN`.
    Returns the repo's URL.

    Raises ValueError for a folder without a model or model card, or a bad repo id; ConnectionError,
    PermissionError, FileNotFoundError as `model_folder` does.
    """
    folder = model_in(folder)
    problems = folder_problems(folder)
    if problems:
        raise ValueError(f"{folder} cannot be pushed: {'; '.join(problems)}")
    problem = repo_id_problem(repo_id)
    if problem is not None:
        raise ValueError(f"repo id must be 'user/repo', got {repo_id!r}: {problem}")
    api = HfApi(token=hub_token())
    with hub_errors(repo_id, "push to", "check the network, or push later"):
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=commit_message)
    return str(url)


def folder_problems(folder: Path) -> list[str]:
    """What keeps `folder` from being pushed as a model repo, in words (empty when nothing does)."""
    folder = Path(folder)
    if not folder.is_dir():
        return [f"no folder {folder}" if not folder.exists() else f"{folder} is a file, not a folder"]
    problems = []
    if not any((folder / marker).is_file() for marker in MODEL_MARKERS):
        problems.append(f"no model in it (expected one of {', '.join(MODEL_MARKERS)})")
    if not (folder / MODEL_CARD).is_file():
        problems.append(f"no model card {MODEL_CARD} (hub/model_card.py writes one)")
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        problems.append(f"pickled files, which run code when loaded: {', '.join(pickles[:5])} (save safetensors)")
    return problems


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m hub.push", description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dir", type=Path, help="a run folder, or the model folder: config.json (or pil.json, ...) and README.md"
    )
    parser.add_argument("repo_id", help="the Hub model repo, 'user/repo' (created if missing)")
    parser.add_argument("--private", action="store_true", help="make a new repo private")
    parser.add_argument("--message", default=DEFAULT_COMMIT_MESSAGE, help="the commit message")
    args = parser.parse_args(argv)

    folder = model_in(args.run_dir)
    problems = folder_problems(folder)
    if problems:
        parser.error(f"{folder} cannot be pushed: {'; '.join(problems)}")
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
