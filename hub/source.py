"""Model sources: resolve "toy", a local folder or a Hub repo id to a local folder (or one file of it),
the one way every loader here finds its model (ATT3D, PIL, the toy CLIP and diffusion model, Stable
Diffusion, IF and their text encoders).

Why one place: every model here is a folder in Hub layout (`config.json` + `model.safetensors` + a
README.md model card, or the open_clip / diffusers layouts), so whatever the user names (the bundled toy
model, a run folder, `user/repo`) becomes such a folder the same way, and when the Hub is involved the
error says what to do in the user's words: offline, no such repo (or private without a token), gated,
a token without write access. huggingface_hub's own errors name HTTP status codes and URLs. Of a large
pipeline only the parts asked for are downloaded (`parts`: e.g. the text encoder without the U-Net),
in safetensors only.

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

from huggingface_hub import snapshot_download
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
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")  # loading these runs code: never read
WEIGHT_VARIANTS = ("fp16", "non_ema", "ema")  # the variants diffusers and transformers name in weight files
# a folder holds a model when it has one of these: ours, open_clip's, a diffusers pipeline's, the toy
# diffusion model's, a text encoder's (diffusers' layout)
MODEL_MARKERS = ("config.json", "pil.json", "open_clip_config.json", "model_index.json", "unet/config.json",
                 "text_encoder/config.json")  # fmt: skip
MODEL_CARD = "README.md"


def model_in(folder: Path) -> Path:
    """The model folder of a local `folder`: itself, or for a trainer's run folder (a run `config.json`,
    checkpoints, renders) the `model/` inside it, which holds the model and its card. So every loader and
    `hub.push` take a run folder as the README writes it (`--out runs/att3d/mine`, then `runs/att3d/mine`)."""
    folder = Path(folder)
    inner = folder / "model"
    if inner.is_dir() and not (folder / MODEL_CARD).is_file() and any((inner / m).is_file() for m in MODEL_MARKERS):
        return inner
    return folder


def model_folder(
    source: str | Path, bundled: Path | None = None, parts: tuple[str, ...] | None = None, variant: str | None = None
) -> Path:
    """The local folder of a model source: "toy" → `bundled`; an existing folder → itself (a trainer's run
    folder → the model in it, `model_in`); otherwise
    `source` is a Hub repo id 'user/repo', downloaded (or found in the Hugging Face cache) with
    `HF_TOKEN` if set. `parts`: only these subfolders (and the model index and card) of a repo, e.g.
    ("tokenizer", "text_encoder"); weights in safetensors only, of `variant` ("fp16") where given.

    Raises ValueError for a source of none of these forms, ConnectionError when the Hub cannot be reached
    (and the repo is not cached), FileNotFoundError for a missing or private repo, PermissionError for a
    gated repo or a rejected token.
    """
    repo = repo_id(source, bundled)
    if isinstance(repo, Path):
        return repo
    allow, ignore = download_patterns(parts, variant)
    with hub_errors(repo, "download", download_hint(bundled)):
        return Path(snapshot_download(repo, token=hub_token(), allow_patterns=allow, ignore_patterns=ignore))


def model_markers(source: str | Path, bundled: Path | None = None) -> tuple[Path, set[str]]:
    """(local folder, which of `MODEL_MARKERS` it holds): what kind of model a source is, from its small
    config files alone (of a Hub repo only these are downloaded, so this also answers offline for a
    repo probed before). Errors as `model_folder`."""
    repo = repo_id(source, bundled)
    if isinstance(repo, Path):
        folder = repo
    else:
        with hub_errors(repo, "download", download_hint(bundled)):
            folder = Path(snapshot_download(repo, token=hub_token(), allow_patterns=list(MODEL_MARKERS)))
    return folder, {name for name in MODEL_MARKERS if (folder / name).is_file()}


def download_hint(bundled: Path | None) -> str:
    return "use a local folder or 'toy'" if bundled is not None else "use a local folder"


def download_patterns(parts: tuple[str, ...] | None, variant: str | None) -> tuple[list[str] | None, list[str]]:
    """(allow, ignore) patterns of `snapshot_download` for `parts` of a repo: never pickles; of the
    weights (whole files `model.fp16.safetensors` or shards `model.fp16-00001-of-00002.safetensors`), the
    variant's files when a variant is asked for, else none of the known variants'."""
    ignore = [f"*{suffix}" for suffix in PICKLE_SUFFIXES] + ["*.msgpack", "*.h5", "*.onnx", "*.onnx_data"]
    for other in WEIGHT_VARIANTS:
        if other != variant:
            ignore += [f"*.{other}.safetensors", f"*.{other}-*-of-*.safetensors"]
    if parts is None:
        return None, ignore
    weights = [f"*.{variant}.safetensors", f"*.{variant}-*-of-*.safetensors"] if variant else ["*.safetensors"]
    allow = ["model_index.json", "README.md"] + [f"{part}/{pattern}" for part in parts
                                                 for pattern in ("*.json", "*.txt", "*.model", *weights)]  # fmt: skip
    return allow, ignore


def repo_id(source: str | Path, bundled: Path | None = None) -> str | Path:
    """A local folder (for "toy" or a folder) or a Hub repo id, from the forms a user may give."""
    text = str(source).strip()
    if text == "toy":
        if bundled is None:
            raise ValueError("this model has no bundled 'toy' version: give a folder or a Hub repo id 'user/repo'")
        return Path(bundled)
    if not text:
        raise ValueError(f"model source is empty: give {SOURCE_FORMS}")
    path = Path(text).expanduser()
    if path.is_dir():
        return model_in(path)
    if path.exists():
        raise ValueError(f"model source {text!r} is a file, not a folder: give {SOURCE_FORMS}")
    problem = repo_id_problem(text)
    if isinstance(source, Path) or problem is not None:
        reason = "no such folder" if problem is None else f"no such folder, and not a repo id: {problem}"
        raise ValueError(f"model source {text!r} must be {SOURCE_FORMS} ({reason})")
    return text


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a Hub model repo id 'user/repo' (huggingface_hub's own rules), or None."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        return str(error)
    if repo_id.count("/") != 1:
        return "a repo id has the form 'user/repo'"
    return None


def hub_token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _scrub(message: str) -> str:
    token = hub_token()
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
def hub_errors(repo_id: str, action: str, hint: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into ones that say what to do, without the token."""
    try:
        yield
    except GatedRepoError as error:
        from huggingface_hub import constants

        message = (f"model repo {repo_id} is gated: accept its conditions at {constants.ENDPOINT}/{repo_id} "
                   "with your account, then set HF_TOKEN to a token of that account")  # fmt: skip
        raise PermissionError(_scrub(message)) from error
    except RepositoryNotFoundError as error:
        access = "HF_TOKEN has no access to it" if hub_token() else "set HF_TOKEN to a token with access"
        message = f"model repo {repo_id} not found, or private: {access}"
        raise FileNotFoundError(_scrub(message)) from error
    except RevisionNotFoundError as error:
        raise FileNotFoundError(_scrub(f"model repo {repo_id} has no 'main' branch (is it empty?)")) from error
    except _network_errors() as error:
        message = f"cannot reach the Hugging Face Hub to {action} {repo_id}: {_reason(error)} (offline? {hint})"
        raise ConnectionError(_scrub(message)) from error
    except HfHubHTTPError as error:
        status = error.response.status_code if getattr(error, "response", None) is not None else None
        if status in (401, 403):
            needs = "is invalid or has no access" if action == "download" else "is unset, invalid or cannot write"
            message = f"the Hugging Face Hub refused to {action} {repo_id} (HTTP {status}): HF_TOKEN {needs}"
            raise PermissionError(_scrub(message)) from error
        said = (getattr(error, "server_message", None) or "").strip().replace("\n", " ")[:300]
        message = f"the Hugging Face Hub failed to {action} {repo_id} (HTTP {status}{': ' + said if said else ''})"
        raise OSError(_scrub(f"{message}: try again later, or {hint}")) from error
