"""The demo (`make demo`) must keep working: run its quick shapes and flow parts."""

import json

import pytest

from spacetime.cli.main import main
from spacetime.errors import InputError


def test_demo_quick_shapes_and_flow(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--parts", "shapes,flow"]) == 0
    index = (out / "README.md").read_text()
    assert "shapes/README.md" in index and "flow/README.md" in index
    assert (out / "shapes" / "representations.png").stat().st_size > 10_000
    assert (out / "flow" / "flow.png").stat().st_size > 10_000
    figures = json.loads((out / "shapes" / "figures.json").read_text())
    assert figures["euler"] == 0  # the mug has one handle: genus 1
    assert figures["octree_bytes"] < figures["dense_bytes"]
    assert figures["depth_points_to_mesh_max"] < 1e-3
    flow = json.loads((out / "flow" / "figures.json").read_text())
    assert flow["dis"]["epe"] < 2.0
    # index.html: both parts' pictures, tables and interactive views in one page
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count('<div class="st-figure">') == 4  # 3D tour, depth, error map, flow
    assert 'src="shapes/representations.png"' in page and 'src="flow/flow.png"' in page
    assert "<table>" in page and page.count("Three.js Authors") == 1  # inlined once
    assert (out / "shapes" / "index.html").is_file()


def test_demo_rejects_unknown_part(tmp_path):
    from spacetime.demo import run_demo

    with pytest.raises(InputError, match="parts"):
        run_demo(tmp_path, parts=["nope"])
