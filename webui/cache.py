"""Bounded memory and disk for the app: repeat requests are served from memory, the files the app writes
live in one folder of its own, where only the newest results are kept, and Gradio's copies of uploads
and results are deleted once they are old."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    """At most `capacity` values, the least recently used dropped first (`on_evict` is called with it).
    Thread-safe: the app serves requests from several threads."""

    def __init__(self, capacity: int, on_evict: Callable[[V], None] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._on_evict = on_evict
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            if key not in self._values:
                return None
            self._values.move_to_end(key)
            return self._values[key]

    def put(self, key: Hashable, value: V) -> V:
        with self._lock:
            replaced = self._values.pop(key, None)  # two threads made the same value: the older one goes
            self._values[key] = value
            evicted = [self._values.popitem(last=False)[1] for _ in range(len(self._values) - self.capacity)]
        if replaced is not None:
            evicted.append(replaced)
        if self._on_evict is not None:
            for old in evicted:
                if old is not value:
                    self._on_evict(old)
        return value

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The cached value of `key`, or `make()`'s, cached (two threads may both make it; one is kept)."""
        found = self.get(key)
        return found if found is not None else self.put(key, make())


class FileStore(Generic[V]):
    """Results written as files, each in a folder of its own under one temporary root (removed at exit),
    the newest `capacity` kept: an older result's folder is deleted once it falls out of the cache.
    Gradio copies every returned file into its own cache before serving it, so that breaks no page."""

    def __init__(self, capacity: int = 64) -> None:
        self._root: Path | None = None
        self._root_lock = threading.Lock()
        self._results: LRUCache[tuple[Path, V]] = LRUCache(capacity, on_evict=lambda old: shutil.rmtree(old[0], True))

    @property
    def root(self) -> Path:
        """The store's folder, made on first use (importing the app writes nothing)."""
        with self._root_lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="amortized3d-"))
                atexit.register(shutil.rmtree, self._root, True)
            return self._root

    def get_or_make(self, key: Hashable, make: Callable[[Path], V]) -> V:
        """The result cached under `key`, or the one `make(folder)` writes into a fresh folder."""
        found = self._results.get(key)
        if found is not None and found[0].exists():
            return found[1]
        folder = Path(tempfile.mkdtemp(dir=self.root))
        try:
            value = make(folder)
        except BaseException:
            shutil.rmtree(folder, True)
            raise
        return self._results.put(key, (folder, value))[1]

    def disk_bytes(self) -> int:
        """Bytes the kept results hold on disk."""
        return folder_bytes(self.root)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` now; files and folders deleted while it looks are not counted
    (the store and the cache cleaner delete as requests come in)."""
    total = 0
    for parent, _, names in os.walk(folder):  # os.walk skips folders that vanish under it
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(parent) / name).stat().st_size
    return total


def sweep_gradio_copies(app, older_than: float) -> None:
    """Delete the files in `app`'s sets of Gradio copies (`temp_file_sets`) that are older than
    `older_than` seconds, and Gradio's per-file folders they leave empty."""
    now = time.time()
    for files in list(app.temp_file_sets):
        for name in list(files):  # a snapshot: requests add files as we go
            path = Path(name)
            try:
                if now - path.lstat().st_ctime > older_than:
                    path.unlink()
                    files.discard(name)
                    path.parent.rmdir()
            except FileNotFoundError:
                files.discard(name)
            except OSError:  # a folder that still holds another file
                continue


def clean_gradio_copies(app, every: float, age: float) -> threading.Thread:
    """Every `every` seconds, delete the copies of uploads and results that Gradio made for `app` (its
    cache) once they are older than `age` seconds, and all of them when the process exits.

    This is Gradio's `delete_cache`, done safely: Gradio 6.31's own cleaner iterates the live sets of
    files while requests add to them, and the first "Set changed size during iteration" (seen under 8
    concurrent clients) ends it for good, after which the cache grows without bound."""

    def loop() -> None:
        while True:
            time.sleep(every)
            sweep_gradio_copies(app, age)

    atexit.register(sweep_gradio_copies, app, -1.0)
    thread = threading.Thread(target=loop, daemon=True, name="gradio cache cleaner")
    thread.start()
    return thread
