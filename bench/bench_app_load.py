"""The app under load: C concurrent clients, each sending R text → 3D requests over HTTP (gradio_client,
as a browser's API calls would), against a server started here from the bundled models. Every request
asks for an object not made before (prompt × face budget), so none is a cache hit. Reports p50 / p95
latency, errors and throughput.

`--soak` also samples, every few seconds, the server process's resident memory and the disk held by
the app's own result files and by Gradio's cache, and reports their slope over the run's second half
(per 100 requests): bounded resources level off. The soak serves with Gradio's cache cleaned every
10 s of files older than 30 s (the app's default is an hour), so that levelling shows within minutes.

`python -m bench.bench_app_load [--clients 16] [--requests 10] [--resolution 64]`
`python -m bench.bench_app_load --soak --clients 8 --requests 125`
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from gradio_client import Client

from app import DELETE_CACHE, build_app
from bench.common import print_table
from toyworld.prompts import toy64
from webui.local_server import launch_locally
from webui.models import Models, ModelSources
from webui.outputs import FACES_RANGE, STORE

SOAK_DELETE_CACHE = (10, 30)
PROMPTS = [prompt.text for prompt in toy64().prompts]


def resident_mb() -> float:
    """This process's resident memory now (Linux /proc), in MiB; the server runs in this process."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def folder_mb(folder: Path) -> float:
    sizes = []
    for path in folder.rglob("*"):
        try:
            sizes.append(path.stat().st_size if path.is_file() else 0)
        except FileNotFoundError:  # deleted while we looked: the cleaning at work
            continue
    return sum(sizes) / 2**20


def gradio_cache() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR", Path(tempfile.gettempdir()) / "gradio"))


def request(index: int) -> tuple[str, int]:
    """The `index`-th (prompt, face budget) pair: no two indices give the same request."""
    return PROMPTS[index % len(PROMPTS)], FACES_RANGE[0] + 100 * (index // len(PROMPTS))


def client_session(url: str, requests: int, resolution: int, numbers, latencies: list, errors: list) -> None:
    client = Client(url, verbose=False)
    for _ in range(requests):
        prompt, faces = request(next(numbers))
        started = time.perf_counter()
        try:
            client.predict(prompt=prompt, model="ATT3D", resolution=resolution, faces=faces, api_name="/text_to_3d")
            latencies.append(time.perf_counter() - started)
        except Exception as error:  # every failure counts, whatever its kind
            errors.append(repr(error))


def slope_per_100(samples: list[tuple[int, float]]) -> float:
    """Least-squares slope of a quantity against requests done, over the second half, per 100 requests."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2 or half[-1][0] == half[0][0]:
        return float("nan")
    done, value = np.array(half, dtype=float).T
    return float(np.polyfit(done, value, 1)[0] * 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--soak", action="store_true", help="sample memory and disk as the run goes")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between soak samples")
    args = parser.parse_args()
    app = build_app(Models(ModelSources()), delete_cache=SOAK_DELETE_CACHE if args.soak else DELETE_CACHE)
    url = launch_locally(app)
    latencies: list[float] = []
    errors: list[str] = []
    samples: dict[str, list[tuple[int, float]]] = {"memory": [], "results": [], "gradio": []}
    try:
        before = resident_mb()
        client_session(url, 2, args.resolution, iter([10_000, 10_001]), [], [])  # loads the models once
        warm = resident_mb()
        numbers = itertools.count()  # request numbers, handed out across the clients' threads
        session = (url, args.requests, args.resolution, numbers, latencies, errors)
        threads = [threading.Thread(target=client_session, args=session) for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            if args.soak:
                done = len(latencies) + len(errors)
                samples["memory"].append((done, resident_mb()))
                samples["results"].append((done, folder_mb(STORE.root)))
                samples["gradio"].append((done, folder_mb(gradio_cache())))
            time.sleep(args.every if args.soak else 0.2)
        seconds = time.perf_counter() - started
        after = resident_mb()
    finally:
        app.close()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")
    median = statistics.median(ordered) if ordered else float("nan")
    rows = [[args.clients, args.requests, len(latencies), len(errors), median, p95, len(latencies) / seconds, before,
             warm, after]]  # fmt: skip
    print_table(f"Text → 3D under load ({args.resolution}³ meshes, ATT3D, concurrency limit 2, no cache hits)",
                ["clients", "requests each", "ok", "errors", "p50 s", "p95 s", "requests/s", "MiB at start",
                 "MiB warm", "MiB at end"], rows)  # fmt: skip
    if args.soak:
        rows = [[name, values[0][1], max(v for _, v in values), values[-1][1], slope_per_100(values)]
                for name, values in samples.items() if values]  # fmt: skip
        title = f"Soak: {len(latencies) + len(errors)} requests from {args.clients} clients, every {args.every:g} s"
        print_table(title, ["MiB of", "first", "peak", "last", "slope, 2nd half, per 100 requests"], rows)
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
