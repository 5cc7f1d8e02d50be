"""The interactive pages as a person uses them: opened from disk in a real headless Chromium
(Debian's ``/usr/bin/chromium`` driven by playwright; WebGL through SwiftShader on the CPU).

Each page must load with no console error and no network request, draw something (the canvas
pixels differ from the white background) and react to the mouse: a drag turns the view (the
pixels change), and turning one panel turns the panels linked to it.

``SPACETIME_VIZ_SCREENSHOTS=DIR`` also saves the pages' screenshots into DIR.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
        "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's Chromium at /usr/bin/chromium "
           "(apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="browser tests need playwright (pip install -e '.[test]')")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        # never playwright's own browser download: the system Chromium, a fresh profile
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport={"width": 1100, "height": 800})
        yield context
        context.close()


class Page:
    """An opened page with its console errors and network requests."""

    def __init__(self, context, path: Path) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_function("window.spacetimeViewer && window.spacetimeViewer.ready",
                                    timeout=60_000)
        self.frame()

    def frame(self) -> None:
        """Wait until the next frame has been drawn."""
        self.page.evaluate("new Promise(r => requestAnimationFrame(() => "
                           "requestAnimationFrame(r)))")

    def canvas(self, i: int = 0) -> np.ndarray:
        from PIL import Image

        png = self.page.locator("canvas.st-canvas").nth(i).screenshot()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)

    def drag(self, i: int = 0, dx: float = 120, dy: float = 40) -> None:
        box = self.page.locator("canvas.st-canvas").nth(i).bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + dx, y + dy, steps=10)
        self.page.mouse.up()
        self.frame()

    def check_clean(self) -> None:
        assert self.errors == []
        assert self.page.evaluate("window.spacetimeViewer.errors") == []
        offline = [u for u in self.requests if not u.startswith(("data:", "blob:"))
                   and u != self.url]
        assert offline == [], f"the page fetched {offline}"

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("SPACETIME_VIZ_SCREENSHOTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / name), full_page=True)


def drawn(img: np.ndarray) -> float:
    """Share of pixels that differ from the white background."""
    return float((np.abs(img - 255).max(axis=2) > 24).mean())


def changed(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels that changed."""
    return float((np.abs(a - b).max(axis=2) > 24).mean())


def test_mesh_page_draws_turns_and_toggles_the_wireframe(browser, tmp_path):
    from spacetime.shapes import ico_sphere
    from spacetime.viz import view_mesh

    path = view_mesh(ico_sphere(3), colors="normals", title="sphere").save(tmp_path / "m.html")
    page = Page(browser, path)
    before = page.canvas()
    assert drawn(before) > 0.05
    page.drag()
    turned = page.canvas()
    assert changed(before, turned) > 0.02
    page.page.locator("div.st-figure").focus()
    page.page.keyboard.press("w")
    page.frame()
    assert changed(turned, page.canvas()) > 0.01  # the wireframe overlay is drawn
    page.page.keyboard.press("r")  # back to the starting view (wireframe still on)
    page.frame()
    page.check_clean()
    page.screenshot("viz_mesh_test.png")


def test_grid_of_representations_with_linked_cameras(browser, tmp_path):
    from spacetime.shapes import (
        Octree,
        Pointclouds,
        ico_sphere,
        sample_grid,
        sample_points_from_meshes,
        voxelize_mesh,
    )
    from spacetime.shapes.convert import Sphere
    from spacetime.viz import Figure

    mesh = ico_sphere(2)
    pts, nrm = sample_points_from_meshes(mesh, 2000, return_normals=True)
    vox = voxelize_mesh(mesh, 12, mode="solid")
    depth = torch.full((24, 32), 2.0)
    depth[6:16, 8:20] = 1.2
    fig = (Figure("grid", cols=3, height=260)
           .panel("points").add_points(Pointclouds([pts[0]], normals=[nrm[0]]))
           .panel("voxels").add_voxels(vox)
           .panel("octree").add_octree(Octree.from_dense(vox.grid > 0.5, origin=vox.origin,
                                                         voxel_size=vox.voxel_size))
           .panel("sdf").add_voxels(sample_grid(Sphere(0.7), 16, bounds=(-1, 1)))
           .panel("depth", frame="opencv").add_depth(depth, [30.0, 30.0, 15.5, 11.5],
                                                     image=torch.rand(3, 24, 32))
           .add_flow(torch.randn(2, 12, 16).cumsum(2), title="flow"))
    page = Page(browser, fig.save(tmp_path / "g.html"))
    n = page.page.locator("canvas.st-canvas").count()
    assert n == 5
    before = [page.canvas(i) for i in range(n)]
    assert all(drawn(img) > 0.01 for img in before), [drawn(img) for img in before]
    assert page.page.evaluate("document.querySelector('img.st-image').naturalWidth") == 16
    page.drag(0)
    after = [page.canvas(i) for i in range(n)]
    # the four y-up panels share one camera; the camera-frame panel turns on its own
    assert all(changed(before[i], after[i]) > 0.01 for i in range(4))
    assert changed(before[4], after[4]) == 0.0
    page.drag(4)
    assert changed(after[4], page.canvas(4)) > 0.01
    page.check_clean()
    page.screenshot("viz_grid_test.png")


def test_compare_error_map_page(browser, tmp_path):
    from spacetime.cli.main import main
    from spacetime.shapes import ico_sphere, save_mesh

    save_mesh(ico_sphere(1), tmp_path / "pred.obj")
    save_mesh(ico_sphere(3), tmp_path / "gt.obj")
    out = tmp_path / "cmp.html"
    assert main(["compare", str(tmp_path / "pred.obj"), str(tmp_path / "gt.obj"),
                 "--num-samples", "2000", "--html", str(out)]) == 0
    page = Page(browser, out)
    left, right = page.canvas(0), page.canvas(1)
    assert drawn(left) > 0.05 and drawn(right) > 0.05
    # blue (within t) and warm (beyond t) samples are both drawn
    for img in (left, right):
        px = img.reshape(-1, 3)
        assert (px[:, 2] > px[:, 0] + 60).sum() > 20  # blue: within t
        assert (px[:, 0] > px[:, 2] + 60).sum() > 20  # yellow to red: beyond t
    assert page.page.locator(".st-mark-label").first.inner_text() == "t = 0.3"
    page.drag(1)
    assert changed(left, page.canvas(0)) > 0.01  # linked
    page.check_clean()
    page.screenshot("viz_error_map_test.png")


def test_notebook_output_draws_in_its_iframe(browser, tmp_path):
    """What Jupyter shows: ``_repr_html_`` (the page in a sandboxed ``<iframe srcdoc>``)."""
    from spacetime.shapes import ico_sphere
    from spacetime.viz import view_points

    cell = view_points(ico_sphere(3).verts_list()[0], title="cell")._repr_html_()
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><body>{cell}</body></html>", encoding="utf-8")
    page = Page.__new__(Page)
    page.page, page.errors = browser.new_page(), []
    page.page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.page.goto(path.as_uri())
    frame = page.page.frames[1]
    frame.wait_for_function("window.spacetimeViewer && window.spacetimeViewer.ready",
                            timeout=60_000)
    from PIL import Image

    png = page.page.frame_locator("iframe").locator("canvas.st-canvas").screenshot()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    assert drawn(img) > 0.005
    assert page.errors == []
