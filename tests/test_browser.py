"""The app in a real browser: Playwright driving Debian's `chromium` package (no browser download).

A user's path through each tab: type or pick an input, press the button, wait for the 3D viewer to
draw, download the `.glb` and validate it; a bad input shows an error and the page keeps working.
Each tab's screenshot goes to `SCREENSHOT_DIR` when set (the README's pictures:
`SCREENSHOT_DIR=docs/screenshots python -m pytest tests/test_browser.py`), else to a temporary folder.

Skipped when Playwright or chromium is missing, unless `REQUIRE_BROWSER=1` (CI sets it): then that is
a failure. Install: `apt-get install chromium` and `pip install playwright`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from app_server import serving_app
from gltf_validator import validate_gltf

REQUIRE_ENV = "REQUIRE_BROWSER"
# root in a container needs --no-sandbox; swiftshader is WebGL without a GPU, so the 3D viewer draws
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1280, "height": 900}
WAIT_MS = 120_000  # one generation on a busy 2-core machine


def chromium_path() -> str:
    """Debian's chromium, or a skip (a failure under `REQUIRE_BROWSER=1`) saying what is missing."""
    problem = None
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed (pip install playwright)"
    if path is None:
        problem = "chromium is not on PATH (apt-get install chromium)"
    if problem is None:
        return path
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{problem} ({REQUIRE_ENV}=1 is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("browser-models")
    with serving_app(folder, video_frames=8, video_size=96) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        try:
            yield page
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_tab(page, name: str):
    """Click the tab called `name`; returns its panel (the one visible part of the page)."""
    page.get_by_role("tab", name=name).click()
    return page.locator("[role=tabpanel]:visible")


def downloaded_glb(page, panel, folder: Path) -> Path:
    """Wait for the viewer to draw and the `.glb` link to appear, then download it like a user."""
    panel.locator("canvas").first.wait_for(state="visible")
    link = panel.locator('a[data-testid="download-link"][download$=".glb"]').first  # the gr.File's link
    with page.expect_download() as download:
        link.click()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path


def valid_download_then_screenshot(page, panel, folder: Path, screenshot: Path) -> Path:
    """The tab's `.glb`, downloaded and checked by the glTF validator; then the page as a user sees it."""
    glb = downloaded_glb(page, panel, folder)
    assert validate_gltf(glb)["issues"]["numErrors"] == 0
    page.wait_for_timeout(1000)  # the viewer's first frames
    page.screenshot(path=screenshot, full_page=True)
    return glb


def test_text_to_3d_from_a_typed_prompt_to_a_valid_download(page, screenshots, tmp_path):
    panel = open_tab(page, "Text → 3D")
    panel.get_by_label("Prompt").fill("a red cube")
    panel.get_by_role("button", name="Generate").click()
    glb = valid_download_then_screenshot(page, panel, tmp_path, screenshots / "text_to_3d.png")
    assert glb.name == "a-red-cube.glb"


def test_an_empty_prompt_shows_an_error_and_the_page_keeps_working(page, tmp_path):
    panel = open_tab(page, "Text → 3D")
    panel.get_by_label("Prompt").fill("   ")
    panel.get_by_role("button", name="Generate").click()
    page.get_by_text("the prompt is empty").first.wait_for(state="visible", timeout=30_000)  # the error toast
    panel.get_by_label("Prompt").fill("a green torus")
    panel.get_by_role("button", name="Generate").click()
    assert downloaded_glb(page, panel, tmp_path).name == "a-green-torus.glb"


def test_image_to_3d_from_an_example(page, screenshots, tmp_path):
    panel = open_tab(page, "Image → 3D")
    panel.locator(".gallery-item, [data-testid=examples] button, table tbody tr").first.click()
    panel.get_by_role("button", name="Generate").click()
    valid_download_then_screenshot(page, panel, tmp_path, screenshots / "image_to_3d.png")


def test_interpolation_along_three_prompts(page, screenshots, tmp_path):
    panel = open_tab(page, "Interpolation")
    panel.get_by_role("textbox", name="From", exact=True).fill("a red cube")
    panel.get_by_role("textbox", name="To", exact=True).fill("a blue sphere")
    panel.get_by_role("textbox", name="Then").fill("a green torus")
    panel.get_by_role("button", name="Interpolate").click()
    valid_download_then_screenshot(page, panel, tmp_path, screenshots / "interpolation.png")


def test_warm_start_runs_to_a_download(page, screenshots, tmp_path):
    panel = open_tab(page, "DreamFusion warm start")
    panel.get_by_label("Prompt").fill("a pink chair")
    iterations = panel.get_by_role("spinbutton", name="number input for Iterations")
    iterations.fill("20")
    iterations.press("Enter")
    panel.get_by_role("button", name="Optimise").click()
    valid_download_then_screenshot(page, panel, tmp_path, screenshots / "warm_start.png")
    assert panel.get_by_text("done: 20 steps").is_visible()
