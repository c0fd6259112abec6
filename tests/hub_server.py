"""A small Hugging Face Hub for tests: just enough of the Hub's HTTP API, on 127.0.0.1, for
huggingface_hub's real client to create repos, upload folders, read repo info and file trees, and
download files (`snapshot_download`, `hf_hub_download`, `PyTorchModelHubMixin.from_pretrained`), with
private repos and a token. Written against huggingface_hub 2.4 (httpx2) and its sources: hf_api.py
(`create_repo`, `create_commit`, `model_info`, `list_repo_tree`), _commit_api.py (preupload, the NDJSON
commit), file_download.py (`get_hf_file_metadata`, `http_get`), _snapshot_download.py and
utils/_http.py (`hf_raise_for_status`).

    with HubServer(tmp_path / "hub") as hub:
        point_hub_client(monkeypatch, hub.url, tmp_path / "hf-home")
        ...                              # HfApi(), snapshot_download, from_pretrained now talk to `hub`

Routes (model repos, the `main` branch; a revision is `main` or a full commit sha):
    POST     /api/repos/create                       {"name", "organization", "visibility"/"private"}
    POST     /api/validate-yaml                      the model card's front matter (YAML that parses)
    GET      /api/whoami-v2, /api/agent-harnesses    the token's user; an empty AI-agent registry
    GET      /api/models/{repo}[/revision/{rev}]     repo info: sha, private, siblings
    GET      /api/models/{repo}/tree/{rev}[/{path}]  files and folders (`recursive=`)
    POST     /api/models/{repo}/preupload/{rev}      every file "regular": no LFS, no Xet
    POST     /api/models/{repo}/commit/{rev}         NDJSON: header, file (base64), deletedFile/-Folder
    GET|HEAD /{repo}/resolve/{rev}/{path}            the file, with X-Repo-Commit, ETag, Content-Length
Files are stored content-addressed (by git blob sha1, as the Hub's ETags are) under the given folder.

Auth, as on the Hub: an unknown bearer token gets 401 "Invalid credentials in Authorization header"; a
missing repo, or a private one read without a valid token, gets 401 (404 with a valid token) with
`X-Error-Code: RepoNotFound`, so the client raises RepositoryNotFoundError and cannot tell the two apart;
a gated repo (`hub.repos[id].gated = True`) read without a valid token gets `X-Error-Code: GatedRepo`;
writes need a valid token (`TEST_TOKEN`). Headers are never logged.

Pointing the client at a local server (`point_hub_client`): huggingface_hub reads HF_ENDPOINT, its cache
folders, timeouts, HF_HUB_OFFLINE and HF_HUB_DISABLE_XET into `huggingface_hub.constants` once, at import,
and builds `hf_hub_url`'s template (`HUGGINGFACE_CO_URL_TEMPLATE`) from the endpoint then too. Setting
the environment in a test is therefore not enough: the same values are patched into `constants`
(ENDPOINT, HUGGINGFACE_CO_URL_TEMPLATE, HF_HUB_CACHE, HF_TOKEN_PATH, ...), which every call that builds
its `HfApi` or URL at call time then follows: `snapshot_download`, `hf_hub_download` (so the mixin's
`from_pretrained`), `HfApi(...).create_repo/upload_folder`. Not followed: the module-level shortcuts
(`huggingface_hub.create_repo`, `upload_folder`, ...), bound to an `HfApi()` made at import, and
default arguments evaluated at import (`get_hf_file_metadata(timeout=...)`). The environment is set as
well, for subprocesses. Xet must be off (`constants.HF_HUB_DISABLE_XET`): with hf_xet installed,
`upload_folder` otherwise takes the Xet upload pipeline.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urlsplit

TEST_TOKEN = "hf_LocalTestHubToken4f7c2a9e1b"
TEST_USER = "user"
URL_TEMPLATE = "{endpoint}/{{repo_id}}/resolve/{{revision}}/{{filename}}"


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob: what the Hub sends as a regular file's ETag and tree `oid`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Commit:
    sha: str
    files: dict[str, tuple[str, int]]  # path → (blob sha1, size)
    message: str
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    created: str
    main: str  # the commit sha of the branch
    commits: dict[str, Commit] = field(default_factory=dict)
    gated: bool = False  # set by a test: readable with a valid token only (as if its conditions were accepted)


class HubServer:
    """The server, in a background thread on 127.0.0.1 at a free port; a context manager."""

    def __init__(self, root: Path, tokens: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.tokens = dict(tokens) if tokens is not None else {TEST_TOKEN: TEST_USER}  # token → user
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path): what the client asked, for debugging
        self.lock = threading.Lock()
        self._counter = itertools.count()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- state (callers hold self.lock) ---------------------------------------------------------------

    def create(self, repo_id: str, private: bool) -> Repo:
        sha = self._new_sha(repo_id, "", "initial commit", {})
        repo = Repo(repo_id, private, _now(), sha)
        repo.commits[sha] = Commit(sha, {}, "initial commit", repo.created)
        self.repos[repo_id] = repo
        return repo

    def commit(self, repo: Repo, files: dict[str, tuple[str, int]], message: str) -> Commit:
        sha = self._new_sha(repo.repo_id, repo.main, message, files)
        commit = repo.commits[sha] = Commit(sha, files, message, _now())
        repo.main = sha
        return commit

    def store(self, data: bytes) -> tuple[str, int]:
        oid = git_blob_sha1(data)
        blob = self.root / "blobs" / oid
        if not blob.exists():
            blob.write_bytes(data)
        return oid, len(data)

    def read(self, oid: str) -> bytes:
        return (self.root / "blobs" / oid).read_bytes()

    def _new_sha(self, repo_id: str, parent: str, message: str, files: dict) -> str:
        text = json.dumps([repo_id, parent, message, sorted(files.items()), next(self._counter)])
        return hashlib.sha1(text.encode()).hexdigest()


def point_hub_client(monkeypatch, endpoint: str, home: Path, timeout: int = 5) -> None:
    """Point huggingface_hub (already imported) at `endpoint`, with its cache and token files under
    `home`, no token, Xet off and `timeout`-second downloads: environment and `constants` alike (see the
    module docstring for why both). Undone by `monkeypatch` at the test's end."""
    from huggingface_hub import constants

    home = Path(home)
    cache = home / "hub"
    environment = {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_ETAG_TIMEOUT": str(timeout),
        "HF_HUB_DOWNLOAD_TIMEOUT": str(timeout),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HUGGINGFACE_CO_STAGING"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": URL_TEMPLATE.format(endpoint=endpoint),
        "HF_URL_HOSTS": frozenset(getattr(constants, "HF_URL_HOSTS", frozenset())) | {urlsplit(endpoint).hostname},
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(cache),
        "HUGGINGFACE_HUB_CACHE": str(cache),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_ETAG_TIMEOUT": timeout,
        "HF_HUB_DOWNLOAD_TIMEOUT": timeout,
        "HF_HUB_DISABLE_TELEMETRY": True,
    }
    for name, value in values.items():
        if hasattr(constants, name):  # names differ between huggingface_hub versions
            monkeypatch.setattr(constants, name, value)


# --- HTTP ---------------------------------------------------------------------------------------------

REPO = r"(?P<repo>[^/]+/[^/]+)"
REV = r"(?P<rev>[^/]+)"


class _InvalidToken(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads after a test
    server_version = "TestHub/1.0"

    def log_message(self, format: str, *args: object) -> None:  # quiet, and never echoes headers
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # --- plumbing ---

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        self.hub.requests.append((method, split.path))
        self.query = parse_qs(split.query)
        try:
            self.user = self._user()
        except _InvalidToken:
            return self._error(401, "Invalid credentials in Authorization header")
        for methods, pattern, name in ROUTES:
            match = re.fullmatch(pattern, split.path)
            if match and method in methods:
                arguments = {key: unquote(value or "") for key, value in match.groupdict().items()}
                with self.hub.lock:
                    return getattr(self, name)(**arguments)
        self._error(404, f"the test Hub does not implement {method} {split.path}")

    def _user(self) -> str | None:
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.hub.tokens:
            raise _InvalidToken
        return self.hub.tokens[token.strip()]

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, kind: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        extra = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}
        self._json(status, {"error": message}, extra)

    def _repo(self, repo_id: str, write: bool = False) -> Repo | None:
        """The repo if this request may read it (or write, with `write`); else answers as the Hub does."""
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and self.user is None):
            self._error(404 if self.user else 401, "Repository not found", "RepoNotFound")
            return None
        if repo.gated and self.user is None:
            self._error(401, f"Access to model {repo_id} is restricted: you must be authenticated", "GatedRepo")
            return None
        if write and self.user is None:
            self._error(401, "You must be authenticated to write to a repo", "RepoNotFound")
            return None
        return repo

    def _commit_at(self, repo: Repo, rev: str) -> Commit | None:
        sha = repo.main if rev == "main" else rev
        if sha not in repo.commits:
            self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            return None
        return repo.commits[sha]

    # --- routes ---

    def whoami(self) -> None:
        if self.user is None:
            return self._error(401, "Invalid username or password.")
        access = {"displayName": "test", "role": "write"}
        self._json(200, {"type": "user", "name": self.user, "fullname": self.user, "orgs": [],
                         "auth": {"type": "access_token", "accessToken": access}})  # fmt: skip

    def agent_harnesses(self) -> None:
        self._json(200, {"standardEnvVars": [], "harnesses": {}})

    def validate_yaml(self) -> None:
        content = json.loads(self._body() or b"{}").get("content", "")
        match = re.match(r"\s*---\n(.*?)\n---", content, flags=re.S)
        try:
            import yaml

            if match and not isinstance(yaml.safe_load(match.group(1)) or {}, dict):
                raise ValueError("the front matter is not a mapping")
        except ImportError:
            pass
        except Exception as error:
            return self._json(400, {"errors": [{"message": f"invalid YAML in README.md: {error}"}], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def create_repo(self) -> None:
        if self.user is None:
            return self._error(401, "You must be authenticated to create a repo")
        payload = json.loads(self._body() or b"{}")
        if (payload.get("type") or "model") != "model":
            return self._error(400, "the test Hub only holds model repos")
        repo_id = f"{payload.get('organization') or self.user}/{payload['name']}"
        url = f"{self.hub.url}/{repo_id}"
        if repo_id in self.hub.repos:
            message = "You already created this model repo"  # the client reads "url" from this answer too
            return self._json(409, {"error": message, "url": url}, {"X-Error-Message": message})
        private = payload["visibility"] == "private" if "visibility" in payload else bool(payload.get("private"))
        self.hub.create(repo_id, private)
        self._json(200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]})

    def info(self, repo: str, rev: str = "") -> None:
        found = self._repo(repo)
        commit = found and self._commit_at(found, rev or "main")
        if not commit:
            return
        blobs = self.query.get("blobs", ["false"])[0].lower() in ("true", "1")
        siblings = [{"rfilename": path, **({"size": size, "blobId": oid} if blobs else {})}
                    for path, (oid, size) in sorted(commit.files.items())]  # fmt: skip
        author = repo.split("/")[0]
        self._json(200, {"_id": hashlib.sha1(repo.encode()).hexdigest()[:24], "id": repo, "modelId": repo,
                         "author": author, "sha": commit.sha, "lastModified": commit.date,
                         "createdAt": found.created, "private": found.private, "gated": False, "disabled": False,
                         "downloads": 0, "likes": 0, "tags": [], "siblings": siblings})  # fmt: skip

    def tree(self, repo: str, rev: str, path: str = "") -> None:
        found = self._repo(repo)
        commit = found and self._commit_at(found, rev)
        if not commit:
            return
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("true", "1")
        prefix = path.strip("/")
        folders, files = set(), []
        for name, (oid, size) in sorted(commit.files.items()):
            if prefix and not name.startswith(prefix + "/"):
                continue
            parts = name.split("/")
            depth = len(prefix.split("/")) if prefix else 0
            if not recursive and len(parts) > depth + 1:
                folders.add("/".join(parts[: depth + 1]))
                continue
            folders.update("/".join(parts[:i]) for i in range(depth + 1, len(parts)))
            files.append({"type": "file", "oid": oid, "size": size, "path": name})
        if prefix and not files and not folders:
            return self._error(404, f"{prefix} not found", "EntryNotFound")
        entries = [{"type": "directory", "oid": _tree_oid(commit.sha, f), "size": 0, "path": f} for f in folders]
        entries.sort(key=lambda entry: entry["path"])
        self._json(200, entries + files)

    def preupload(self, repo: str, rev: str) -> None:
        found = self._repo(repo, write=True)
        commit = found and self._commit_at(found, rev)
        if not commit:
            return
        wanted = json.loads(self._body() or b"{}").get("files", [])
        answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                   "oid": commit.files.get(f["path"], (None, 0))[0]} for f in wanted]  # fmt: skip
        self._json(200, {"files": answer, "commitOid": commit.sha})

    def commit(self, repo: str, rev: str) -> None:
        found = self._repo(repo, write=True)
        parent = found and self._commit_at(found, rev)
        if not parent:
            return
        if rev not in ("main", found.main):
            return self._error(400, "the test Hub commits to 'main' only")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return self._error(400, "a commit starts with a header line")
        files = dict(parent.files)
        for operation in lines[1:]:
            key, value = operation.get("key"), operation.get("value", {})
            path = _clean(value.get("path", ""))
            if path is None:
                return self._error(400, f"bad path in commit: {value.get('path')!r}")
            if key == "file":
                content = value.get("content", "")
                data = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
                files[path] = self.hub.store(data)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    return self._error(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                files = {name: entry for name, entry in files.items() if not name.startswith(path + "/")}
            else:  # lfsFile and anything newer: this Hub answered "regular" to every preupload
                return self._error(400, f"the test Hub does not take {key!r} operations (no LFS, no Xet)")
        message = lines[0].get("value", {}).get("summary", "")
        commit = self.hub.commit(found, files, message)
        url = f"{self.hub.url}/{repo}/commit/{commit.sha}"
        self._json(200, {"success": True, "commitOid": commit.sha, "commitUrl": url, "pullRequestUrl": None})

    def resolve(self, repo: str, rev: str, path: str) -> None:
        found = self._repo(repo)
        commit = found and self._commit_at(found, rev)
        if not commit:
            return
        if path not in commit.files:
            return self._error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        oid, _ = commit.files[path]
        data = self.hub.read(oid)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{oid}"', "Accept-Ranges": "bytes"}
        status = 200
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted and int(wanted.group(1)) < len(data):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2) or len(data) - 1), len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers, kind="application/octet-stream")


def _tree_oid(commit: str, folder: str) -> str:
    return hashlib.sha1(f"tree {commit} {folder}".encode()).hexdigest()


def _clean(path: str) -> str | None:
    """A repo path, or None for one that could escape the repo ('../x', '/x', '')."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(part in ("..", ".") for part in parts):
        return None
    return "/".join(parts)


ROUTES: list[tuple[tuple[str, ...], str, str]] = [
    (("GET",), r"/api/whoami-v2", "whoami"),
    (("GET",), r"/api/agent-harnesses", "agent_harnesses"),
    (("POST",), r"/api/validate-yaml", "validate_yaml"),
    (("POST",), r"/api/repos/create", "create_repo"),
    (("GET",), rf"/api/models/{REPO}(?:/revision/{REV})?", "info"),
    (("GET",), rf"/api/models/{REPO}/tree/{REV}(?:/(?P<path>.*))?", "tree"),
    (("POST",), rf"/api/models/{REPO}/preupload/{REV}", "preupload"),
    (("POST",), rf"/api/models/{REPO}/commit/{REV}", "commit"),
    (("GET", "HEAD"), rf"/{REPO}/resolve/{REV}/(?P<path>.+)", "resolve"),
]
