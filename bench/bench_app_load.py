"""The app under load: C concurrent clients, each sending R text → 3D requests over HTTP (gradio_client,
as a browser's API calls would), against a server process started here from the bundled models. Every
request asks for an object not made before (prompt × face budget), so none is a cache hit. Reports
p50 / p95 latency, errors, throughput and the server's resident memory.

`--soak` also samples, every few seconds, the server's resident memory and the disk held by the app's
own result files and by Gradio's cache (a folder of its own for this run), and reports their slope
over the run's second half (per 100 requests): bounded resources level off. The soak serves with
Gradio's cache cleaned every 10 s of files older than 30 s (the app's default: hourly), so that the
levelling shows within minutes.

`python -m bench.bench_app_load [--clients 16] [--requests 10] [--resolution 128]`
`python -m bench.bench_app_load --soak --clients 8 --requests 125`
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from gradio_client import Client

from app import CLEAN_CACHE, build_app
from bench.common import print_table
from toyworld.prompts import toy64
from webui.cache import folder_bytes
from webui.local_server import free_port
from webui.models import Models, ModelSources
from webui.outputs import DEFAULT_FACES, STORE

SOAK_CLEAN_CACHE = (10, 30)
PROMPTS = [prompt.text for prompt in toy64().prompts]


def resident_mb(pid: int) -> float:
    """A process's resident memory now (Linux /proc), in MiB."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def folder_mb(folder: Path) -> float:
    return folder_bytes(folder) / 2**20


def serve(port: int, clean_cache: tuple[float, float], ready) -> None:
    """The app on `port`, in a process of its own (its memory is the server's alone); puts the folder of
    its result store on `ready`, then serves until terminated."""
    app = build_app(Models(ModelSources()), clean_cache=clean_cache)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    ready.put(str(STORE.root))
    threading.Event().wait()


def request(index: int) -> tuple[str, int]:
    """The `index`-th (prompt, face budget) pair: no two indices give the same request, and the meshes
    are all about as large (the budget moves by one face per round of the 64 prompts)."""
    return PROMPTS[index % len(PROMPTS)], DEFAULT_FACES - index // len(PROMPTS)


def client_session(url: str, requests: int, resolution: int, numbers, latencies: list, errors: list) -> None:
    client = Client(url, verbose=False, download_files=False)  # results stay on the server, whose disk is measured
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


def at_share(samples: list[tuple[int, float]], share: float) -> float:
    """The quantity when `share` of the requests were done."""
    return next(value for done, value in samples if done >= share * samples[-1][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--soak", action="store_true", help="sample memory and disk as the run goes")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between soak samples")
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="gradio-cache-"))
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # the server process inherits it: its cache alone is measured
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    port = free_port()
    server = context.Process(target=serve, args=(port, SOAK_CLEAN_CACHE if args.soak else CLEAN_CACHE, ready))
    server.start()
    latencies: list[float] = []
    errors: list[str] = []
    samples: dict[str, list[tuple[int, float]]] = {"server memory": [], "app's results": [], "Gradio's cache": []}
    try:
        results = Path(ready.get(timeout=600))
        url = f"http://127.0.0.1:{port}/"
        before = resident_mb(server.pid)
        client_session(url, 2, args.resolution, iter([10_000, 10_001]), [], [])  # loads the models once
        warm = resident_mb(server.pid)
        numbers = itertools.count()  # request numbers, handed out across the clients' threads
        session = (url, args.requests, args.resolution, numbers, latencies, errors)
        threads = [threading.Thread(target=client_session, args=session) for _ in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            if args.soak:
                done = len(latencies) + len(errors)
                for name, value in zip(samples, (resident_mb(server.pid), folder_mb(results), folder_mb(cache)),
                                       strict=True):  # fmt: skip
                    samples[name].append((done, value))
            time.sleep(args.every if args.soak else 0.2)
        seconds = time.perf_counter() - started
        after = resident_mb(server.pid)
    finally:
        server.terminate()
        server.join()
        shutil.rmtree(cache, ignore_errors=True)
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")
    median = statistics.median(ordered) if ordered else float("nan")
    rows = [[args.clients, args.requests, len(latencies), len(errors), median, p95, len(latencies) / seconds, before,
             warm, after]]  # fmt: skip
    print_table(f"Text → 3D under load ({args.resolution}³ meshes, ATT3D, concurrency limit 2, no cache hits)",
                ["clients", "requests each", "ok", "errors", "p50 s", "p95 s", "requests/s", "server MiB at start",
                 "MiB warm", "MiB at end"], rows)  # fmt: skip
    if args.soak:
        rows = [[name, *(at_share(values, share) for share in (0.25, 0.5, 0.75)), values[-1][1],
                 max(v for _, v in values), slope_per_100(values)] for name, values in samples.items()]  # fmt: skip
        title = f"Soak: {len(latencies) + len(errors)} requests from {args.clients} clients, every {args.every:g} s"
        header = ["MiB of", "at 25 %", "at 50 %", "at 75 %", "at the end", "peak", "slope, 2nd half, per 100 requests"]
        print_table(title, header, rows)
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
