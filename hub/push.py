"""Push a trained model folder to the Hugging Face Hub (the `python -m train.push` command's library),
with the same clear errors as downloading (`hub.source`)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from hub.source import MODEL_MARKERS, PICKLE_SUFFIXES, hub_errors, hub_token, repo_id_problem

MODEL_CARD = "README.md"
DEFAULT_COMMIT_MESSAGE = "Upload model with python -m train.push"


def push_folder(folder: Path, repo_id: str, private: bool = False, commit_message: str = DEFAULT_COMMIT_MESSAGE) -> str:
    """Upload `folder` (a model folder with its README.md model card) to the Hub model repo `repo_id`,
    creating the repo if needed (`private` applies only to a new repo), with the token in `HF_TOKEN`.
    Returns the repo's URL.

    Raises ValueError for a folder without a model or model card, or a bad repo id; ConnectionError,
    PermissionError, FileNotFoundError as `model_folder` does.
    """
    folder = Path(folder)
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
        problems.append(f"no model card {MODEL_CARD} (train/model_card.py writes one)")
    pickles = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        problems.append(f"pickled files, which run code when loaded: {', '.join(pickles[:5])} (save safetensors)")
    return problems
