"""The app under load: C concurrent clients, each sending R text → 3D requests over HTTP (gradio_client,
as a browser's API calls would), against a server started here from the bundled models. Reports p50 /
p95 latency, errors, throughput, and the server process's memory before, after a warm-up and at the end
(growth should level off: models load once and results are files).

`python -m bench.bench_app_load [--clients 16] [--requests 10] [--resolution 64]`
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import threading
import time

from gradio_client import Client

from app import build_app
from bench.common import print_table
from webui.local_server import launch_locally
from webui.models import Models, ModelSources

PROMPTS = ("a red cube", "a green torus", "a blue cone", "a yellow star", "a purple sphere", "a cyan cross")


def resident_mb() -> float:
    """This process's resident memory now (Linux /proc), in MiB; the server runs in this process."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def client_session(url: str, requests: int, resolution: int, offset: int, latencies: list, errors: list) -> None:
    client = Client(url, verbose=False)
    for r in range(requests):
        prompt = PROMPTS[(offset + r) % len(PROMPTS)]
        started = time.perf_counter()
        try:
            client.predict(prompt, "ATT3D", resolution, api_name="/text_to_3d")
            latencies.append(time.perf_counter() - started)
        except Exception as error:  # every failure counts, whatever its kind
            errors.append(repr(error))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    app = build_app(Models(ModelSources()))
    url = launch_locally(app)
    try:
        before = resident_mb()
        client_session(url, 2, args.resolution, 0, [], [])  # loads the models once
        warm = resident_mb()
        latencies: list[float] = []
        errors: list[str] = []
        threads = [threading.Thread(target=client_session, args=(url, args.requests, args.resolution, c, latencies,
                                                                  errors)) for c in range(args.clients)]  # fmt: skip
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        after = resident_mb()
    finally:
        app.close()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")
    rows = [[args.clients, args.requests, len(latencies), len(errors), statistics.median(ordered) if ordered else
             float("nan"), p95, len(latencies) / seconds, before, warm, after,
             resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]]  # fmt: skip
    print_table(f"Text → 3D under load ({args.resolution}³ meshes, ATT3D, concurrency limit 2)",
                ["clients", "requests each", "ok", "errors", "p50 s", "p95 s", "requests/s", "MiB at start",
                 "MiB warm", "MiB at end", "peak MiB"], rows)  # fmt: skip
    for error in errors[:5]:
        print("error:", error)


if __name__ == "__main__":
    main()
