"""The app in a real browser: Playwright driving Debian's `chromium` package (no browser download).

A user's path through each tab: type or pick an input, press the button, see the object in the 3D
viewer, download the `.glb` and validate it, then see its turntable; move the interpolation slider and
get the object at the new α; a bad input shows an error and the page keeps working. Each tab's
screenshot goes to `SCREENSHOT_DIR` when set (the README's pictures:
`SCREENSHOT_DIR=docs/screenshots python -m pytest tests/test_browser.py`), else to a temporary folder.

Waits: what the page does by itself (a tab, a toast) is given `UI_MS`; what waits on the server's work
has no bound of its own, because that depends on the machine: pytest-timeout ends a hung test, by name.

Skipped when Playwright or chromium is missing, unless `REQUIRE_BROWSER=1` (CI sets it): then that is
a failure. Install: `apt-get install chromium` and `pip install playwright`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from app_server import serving_app
from gltf_validator import validate_gltf

from webui.local_server import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.slow
REQUIRE_ENV = "REQUIRE_BROWSER"
VIEWPORT = {"width": 1280, "height": 1000}
UI_MS = 30_000  # the page's own reactions, on a busy 2-core machine
SERVER_WORK = 0  # Playwright's "no timeout": the server's work takes as long as it takes


def browser_executable() -> str:
    """Debian's chromium, or a skip (a failure under `REQUIRE_BROWSER=1`) saying what is missing."""
    problem = None
    path = chromium_path()
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
def page():
    executable = browser_executable()
    from playwright.sync_api import sync_playwright

    with serving_app(video_frames=8, video_size=96) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
        page.set_default_timeout(UI_MS)
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


def glb_link(panel, name: str | None = None):
    """The gr.File's download link of the tab's `.glb` (of that file name, when given)."""
    selector = f'a[data-testid="download-link"][download="{name}"]' if name else 'a[data-testid="download-link"]'
    return panel.locator(f"{selector}[download$='.glb']").first


def downloaded_glb(page, panel, folder: Path, name: str | None = None) -> Path:
    """Wait for the object (the `.glb` link, and the viewer's canvas drawing it), then download it like a user."""
    link = glb_link(panel, name)
    link.wait_for(state="visible", timeout=SERVER_WORK)
    panel.locator("canvas").first.wait_for(state="visible")
    with page.expect_download() as download:
        link.click()
    path = folder / download.value.suggested_filename
    download.value.save_as(path)
    return path


def valid_download_then_screenshot(page, panel, folder: Path, screenshot: Path, name: str | None = None) -> Path:
    """The tab's `.glb`, downloaded and checked by the glTF validator; then (after the turntable that
    follows it) the page as a user sees it."""
    glb = downloaded_glb(page, panel, folder, name)
    assert validate_gltf(glb)["issues"]["numErrors"] == 0
    panel.locator("video[src]").first.wait_for(state="attached", timeout=SERVER_WORK)
    screenshot_page(page, screenshot)
    return glb


def screenshot_page(page, path: Path) -> None:
    """The page as a user sees it once the viewer and the video show their first frames, without the
    toasts an earlier test left."""
    for close in page.locator(".toast-close").all():
        close.click()
    page.wait_for_timeout(1000)
    page.screenshot(path=path, full_page=True)


def test_text_to_3d_from_a_typed_prompt_to_a_valid_download(page, screenshots, tmp_path):
    panel = open_tab(page, "Text → 3D")
    panel.get_by_label("Prompt").fill("a red cube")
    panel.get_by_role("button", name="Generate").click()
    glb = valid_download_then_screenshot(page, panel, tmp_path, screenshots / "text_to_3d.png", "a-red-cube.glb")
    assert glb.name == "a-red-cube.glb"
    assert panel.get_by_text("faces ·").first.is_visible()  # the mesh statistics
    assert panel.get_by_text("The ATT3D model was trained on").is_visible()  # its grammar, with its words


def test_an_empty_prompt_shows_an_error_and_the_page_keeps_working(page, tmp_path):
    panel = open_tab(page, "Text → 3D")
    panel.get_by_label("Prompt").fill("   ")
    panel.get_by_role("button", name="Generate").click()
    page.get_by_text("the prompt is empty").first.wait_for(state="visible")  # the error toast
    panel.get_by_role("button", name="Random prompt").click()
    prompt = panel.get_by_label("Prompt")
    page.wait_for_function("element => element.value.length > 0", arg=prompt.element_handle())
    panel.get_by_label("Prompt").fill("a green torus")
    panel.get_by_role("button", name="Generate").click()
    assert downloaded_glb(page, panel, tmp_path, "a-green-torus.glb").name == "a-green-torus.glb"


def test_image_to_3d_from_an_example(page, screenshots, tmp_path):
    panel = open_tab(page, "Image → 3D")
    panel.locator(".gallery-item, [data-testid=examples] button, table tbody tr").first.click()
    panel.locator("img").first.wait_for(state="visible")  # what was picked, shown beside the file
    panel.get_by_role("button", name="Generate").click()
    valid_download_then_screenshot(page, panel, tmp_path, screenshots / "image_to_3d.png", "chair-9.glb")


def test_interpolation_slider_redraws_the_object_at_the_new_alpha(page, screenshots, tmp_path):
    panel = open_tab(page, "Interpolation")
    panel.get_by_role("textbox", name="From", exact=True).fill("a red cube")
    panel.get_by_role("textbox", name="To", exact=True).fill("a blue sphere")
    panel.get_by_role("textbox", name="Then").fill("a green torus")
    panel.get_by_role("button", name="Interpolate", exact=True).click()
    path = "a-red-cube-to-a-blue-sphere-to-a-green-torus"
    downloaded_glb(page, panel, tmp_path, f"{path}-0-50.glb")
    slider = panel.locator("input[type=range]").first
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)  # press and release at α ≈ 0.8
    moved = panel.locator(f'a[data-testid="download-link"]:not([download="{path}-0-50.glb"])[download$=".glb"]')
    moved.first.wait_for(state="visible", timeout=SERVER_WORK)  # no button pressed: the release redrew it
    glb = moved.first.get_attribute("download")
    assert glb.startswith(path) and glb != f"{path}-0-50.glb"
    panel.get_by_role("button", name="Make the animation").click()
    panel.locator("video[src]").first.wait_for(state="attached", timeout=SERVER_WORK)
    screenshot_page(page, screenshots / "interpolation.png")


def test_warm_start_runs_to_a_download(page, screenshots, tmp_path):
    panel = open_tab(page, "DreamFusion warm start")
    panel.get_by_label("Prompt").fill("a red cube")
    iterations = panel.get_by_role("spinbutton", name="number input for Iterations")
    iterations.fill("20")
    iterations.press("Enter")
    panel.get_by_role("button", name="Optimise").click()
    valid_download_then_screenshot(page, panel, tmp_path, screenshots / "warm_start.png", "a-red-cube.glb")
    assert panel.get_by_text("done: 20 steps").is_visible()
