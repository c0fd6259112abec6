"""What a visitor waits for, measured in a real browser (Playwright driving Debian's chromium): the time
from a click to the object in the 3D viewer, per tab, single user, against a server started here from
the bundled models. "In the viewer" = the `.glb` the click made is linked on the page (the viewer and
the download link are one event's outputs) and the viewer's canvas is visible, one animation frame
later. Every request asks for an object not made before (no cache hits) unless the row says cached.

`python -m bench.bench_browser [--requests 8]`
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from app import build_app
from bench.common import print_table
from toyworld.prompts import toy64
from webui.image_to_3d import example_images
from webui.local_server import CHROMIUM_ARGS, chromium_path, launch_locally
from webui.models import Models, ModelSources

LINK = 'a[data-testid="download-link"][download$=".glb"]'
# the href of the visible tab's .glb link (each result file gets a new one), "" while there is none
CURRENT_LINK = f"""() => {{
    const panel = [...document.querySelectorAll("[role=tabpanel]")].find(p => p.offsetParent !== null);
    const link = panel && panel.querySelector('{LINK}');
    return link ? link.href : "";
}}"""
DRAWN = f"""(before) => {{
    const panel = [...document.querySelectorAll("[role=tabpanel]")].find(p => p.offsetParent !== null);
    const link = panel && panel.querySelector('{LINK}');
    const canvas = panel && panel.querySelector("canvas");
    return link && link.href !== before && canvas && canvas.offsetParent !== null;
}}"""


def timed(page, act: Callable[[], None]) -> float:
    """Seconds from `act()` (a click) to a new object in the viewer of the visible tab."""
    before = page.evaluate(CURRENT_LINK)
    started = time.perf_counter()
    act()
    page.wait_for_function(DRAWN, arg=before, timeout=0, polling="raf")
    return time.perf_counter() - started


def open_tab(page, name: str):
    page.get_by_role("tab", name=name).click()
    return page.locator("[role=tabpanel]:visible")


def set_slider(panel, label: str, value: int) -> None:
    box = panel.get_by_role("spinbutton", name=f"number input for {label}")
    box.fill(str(value))
    box.press("Enter")


def text_to_3d(page, prompts: list[str]) -> tuple[list[float], list[float]]:
    """(new prompts, the same prompts again: served from the cache)."""
    panel = open_tab(page, "Text → 3D")
    button = panel.get_by_role("button", name="Generate")

    def each_prompt() -> list[float]:
        times = []
        for prompt in prompts:
            panel.get_by_label("Prompt").fill(prompt)
            times.append(timed(page, button.click))
        return times

    return each_prompt(), each_prompt()


def image_to_3d(page, requests: int) -> list[float]:
    """Each example image at a few face budgets (a new object each time: another mesh)."""
    panel = open_tab(page, "Image → 3D")
    panel.get_by_role("button", name="Mesh settings").click()
    button = panel.get_by_role("button", name="Generate")
    examples = panel.locator(".gallery-item")  # the examples' buttons (file boxes are tables of their own)
    count = len(example_images())
    times = []
    for index in range(requests):
        name = Path(example_images()[index % count]).name
        picked = panel.locator(f'td.filename[aria-label="{name}"]')  # the example, in the file box
        examples.nth(index % count).click()
        picked.wait_for()
        set_slider(panel, "Most faces", 20_000 - 1000 * (index // count))
        times.append(timed(page, button.click))
    return times


def interpolation(page, pairs: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    """(the Interpolate button on new paths, the α slider released at new positions on the last path)."""
    panel = open_tab(page, "Interpolation")
    button = panel.get_by_role("button", name="Interpolate", exact=True)
    clicks = []
    for first, second in pairs:
        panel.get_by_role("textbox", name="From", exact=True).fill(first)
        panel.get_by_role("textbox", name="To", exact=True).fill(second)
        clicks.append(timed(page, button.click))
    box = panel.locator("input[type=range]").first.bounding_box()
    y = box["y"] + box["height"] / 2
    positions = np.linspace(0.1, 0.9, len(pairs))  # > 0.05 apart: each a new α on the slider's 0.05 steps
    slides = [timed(page, lambda x=x: page.mouse.click(box["x"] + x * box["width"], y)) for x in positions]
    return clicks, slides


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per tab")
    args = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        raise SystemExit("chromium is not on PATH (apt-get install chromium)")
    app = build_app(Models(ModelSources()))
    url = launch_locally(app)
    prompts = random.Random(0).sample([prompt.text for prompt in toy64().prompts], args.requests)
    pairs = list(zip(prompts, prompts[1:] + prompts[:1], strict=True))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            warm_prompt = "a white cube"  # loads the models: not timed
            open_tab(page, "Text → 3D").get_by_label("Prompt").fill(warm_prompt)
            timed(page, page.locator("[role=tabpanel]:visible").get_by_role("button", name="Generate").click)
            texts, cached = text_to_3d(page, prompts)
            images = image_to_3d(page, args.requests)
            clicks, slides = interpolation(page, pairs)
            browser.close()
    finally:
        app.close()
    targets = {"Text → 3D": 1.0, "Image → 3D": 2.5, "Interpolation": 1.5}
    rows = [
        ["Text → 3D (ATT3D)", len(texts), p50(texts), max(texts), targets["Text → 3D"]],
        ["Text → 3D, repeated (cached)", len(cached), p50(cached), max(cached), "-"],
        ["Image → 3D (PIL)", len(images), p50(images), max(images), targets["Image → 3D"]],
        ["Interpolation, button", len(clicks), p50(clicks), max(clicks), targets["Interpolation"]],
        ["Interpolation, α slider released", len(slides), p50(slides), max(slides), 1.0],
    ]
    print_table("Click → object in the viewer, one user in Chromium (bundled models, 128³, 20k faces)",
                ["tab", "requests", "p50 s", "max s", "target p50 s"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
