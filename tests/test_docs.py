"""The README's and the docs' Python examples run as written.

Every ```python block of a page runs in order in one namespace, in a fresh working directory
(so ``runs/...`` and the files an example writes stay in the test's tmp folder), with the
synthetic data cache in that folder too. A block right after an HTML comment
``<!-- not run: REASON -->`` is skipped: it needs data that is not on this machine (UCF101,
ShapeNet, ...); the reason says which.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "docs/api.md",
    "docs/lecture.md",
    "README.md",
    "docs/conversions.md",
    "docs/datasets_3d.md",
    "docs/engine.md",
    "docs/flow.md",
    "docs/install.md",
    "docs/io_and_cli.md",
    "docs/mesh_rcnn.md",
    "docs/metrics.md",
    "docs/reliability.md",
    "docs/recipes.md",
    "docs/pixel2mesh.md",
    "docs/point_ops.md",
    "docs/shape_models.md",
    "docs/synthetic_3d.md",
    "docs/two_stream.md",
    "docs/video_data.md",
    "docs/video_models.md",
    "docs/viz.md",
    "docs/weights.md",
    "docs/weights_meshrcnn.md",
]
_BLOCK = re.compile(r"(<!--\s*not run:[^>]*-->\s*)?```python\n(.*?)```", re.S)


def python_blocks(path: Path) -> list[tuple[str, bool]]:
    """``[(code, runs)]`` of a Markdown page."""
    return [(m.group(2), m.group(1) is None) for m in _BLOCK.finditer(path.read_text())]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPACETIME_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "__docs__"}
    blocks = python_blocks(ROOT / page)
    assert blocks, f"{page} has no python example"
    for i, (code, runs) in enumerate(blocks):
        if runs:
            exec(compile(code, f"{page}[block {i}]", "exec"), namespace)
