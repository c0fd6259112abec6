"""Model sources and the Hugging Face Hub: resolve "toy", a local folder or a Hub repo id to a local
folder, and push a trained model folder to the Hub.

Why one place: every model here is a folder in Hub layout (`config.json` + `model.safetensors` + a
README.md model card, or the open_clip / diffusers layouts), so whatever the user names (the bundled toy
model, a run folder, `user/repo`) becomes such a folder the same way, and when the Hub is involved the
error says what to do in the user's words: offline, no such repo (or private without a token), gated,
a token without write access. huggingface_hub's own errors name HTTP status codes and URLs.

The token is read from the `HF_TOKEN` environment variable only (else huggingface_hub's stored login)
and never appears in a message, a log line or a printout: messages are scrubbed of it in case an error
from below ever quotes it. The endpoint is huggingface_hub's (`HF_ENDPOINT`, read when huggingface_hub
is imported), so a mirror such as olah works unchanged.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import HFValidationError, validate_repo_id

SOURCE_FORMS = "'toy' (the bundled model), a local folder, or a Hub repo id 'user/repo'"
# a folder holds a model when it has one of these (ours, open_clip's, diffusers')
MODEL_MARKERS = ("config.json", "pil.json", "open_clip_config.json", "model_index.json", "unet/config.json")
MODEL_CARD = "README.md"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")  # loading these runs code: never pushed
DEFAULT_COMMIT_MESSAGE = "Upload model with python -m train.push"


def model_folder(source: str | Path, bundled: Path | None = None) -> Path:
    """The local folder of a model source: "toy" → `bundled`; an existing folder → itself; otherwise
    `source` is a Hub repo id 'user/repo', downloaded (or found in the Hugging Face cache) with
    `HF_TOKEN` if set.

    Raises ValueError for a source of none of these forms, ConnectionError when the Hub cannot be reached
    (and the repo is not cached), FileNotFoundError for a missing or private repo, PermissionError for a
    gated repo or a rejected token.
    """
    text = str(source).strip()
    if text == "toy":
        if bundled is None:
            raise ValueError("this model has no bundled 'toy' version: give a folder or a Hub repo id 'user/repo'")
        return Path(bundled)
    if not text:
        raise ValueError(f"model source is empty: give {SOURCE_FORMS}")
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ValueError(f"model source {text!r} is a file, not a folder: give {SOURCE_FORMS}")
    problem = repo_id_problem(text)
    if isinstance(source, Path) or problem is not None:
        reason = "no such folder" if problem is None else f"no such folder, and not a repo id: {problem}"
        raise ValueError(f"model source {text!r} must be {SOURCE_FORMS} ({reason})")
    hint = "use a local folder or 'toy'" if bundled is not None else "use a local folder"
    with _hub_errors(text, "download", hint):
        return Path(snapshot_download(text, token=_token()))


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
    api = HfApi(token=_token())
    with _hub_errors(repo_id, "push to", "check the network, or push later"):
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


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a Hub model repo id 'user/repo' (huggingface_hub's own rules), or None."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        return str(error)
    if repo_id.count("/") != 1:
        return "a repo id has the form 'user/repo'"
    return None


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _scrub(message: str) -> str:
    token = _token()
    return message.replace(token, "***") if token else message


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the Hub cannot be reached", from whichever HTTP library huggingface_hub
    uses: requests (< 1.0), httpx (1.x), httpx2 (2.x)."""
    errors: list[type[BaseException]] = [LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError]
    for module, names in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                          ("requests", ("ConnectionError", "Timeout"))):  # fmt: skip
        try:
            library = importlib.import_module(module)
        except ImportError:
            continue
        errors += [getattr(library, name) for name in names if hasattr(library, name)]
    return tuple(errors)


def _reason(error: BaseException) -> str:
    """The root cause of a network failure in one short line ("ConnectError: [Errno 111] ...")."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "offline mode is on (HF_HUB_OFFLINE) and the repo is not in the local cache"
    network = _network_errors()
    cause: BaseException | None = error
    root = error
    while cause is not None:
        if isinstance(cause, network) and not isinstance(cause, LocalEntryNotFoundError):
            root = cause
        cause = cause.__cause__ or cause.__context__
    first_line = (str(root).strip().splitlines() or [""])[0][:200]
    return f"{type(root).__name__}: {first_line}" if first_line else type(root).__name__


@contextmanager
def _hub_errors(repo_id: str, action: str, hint: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into ones that say what to do, without the token."""
    try:
        yield
    except GatedRepoError as error:
        from huggingface_hub import constants

        message = (f"model repo {repo_id} is gated: accept its conditions at {constants.ENDPOINT}/{repo_id} "
                   "with your account, then set HF_TOKEN to a token of that account")  # fmt: skip
        raise PermissionError(_scrub(message)) from error
    except RepositoryNotFoundError as error:
        access = "HF_TOKEN has no access to it" if _token() else "set HF_TOKEN to a token with access"
        message = f"model repo {repo_id} not found, or private: {access}"
        raise FileNotFoundError(_scrub(message)) from error
    except RevisionNotFoundError as error:
        raise FileNotFoundError(_scrub(f"model repo {repo_id} has no 'main' branch (is it empty?)")) from error
    except HfHubHTTPError as error:
        status = error.response.status_code if getattr(error, "response", None) is not None else None
        if status in (401, 403):
            needs = "is invalid or has no access" if action == "download" else "is unset, invalid or cannot write"
            message = f"the Hugging Face Hub refused to {action} {repo_id} (HTTP {status}): HF_TOKEN {needs}"
            raise PermissionError(_scrub(message)) from error
        said = (getattr(error, "server_message", None) or "").strip().replace("\n", " ")[:300]
        message = f"the Hugging Face Hub failed to {action} {repo_id} (HTTP {status}{': ' + said if said else ''})"
        raise OSError(_scrub(f"{message}: try again later, or {hint}")) from error
    except _network_errors() as error:
        message = f"cannot reach the Hugging Face Hub to {action} {repo_id}: {_reason(error)} (offline? {hint})"
        raise ConnectionError(_scrub(message)) from error
