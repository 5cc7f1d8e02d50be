"""Interactive views without a browser: what the HTML holds (self-contained, decimation notes,
quantised geometry), atomic writing, the CLI / API entry points and the errors."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from spacetime.cli.main import main
from spacetime.errors import InputError
from spacetime.shapes import (
    Octree,
    Pointclouds,
    compare_meshes,
    ico_sphere,
    sample_grid,
    sample_points_from_meshes,
    save_depth,
    save_mesh,
    voxelize_mesh,
)
from spacetime.shapes.convert import Sphere
from spacetime.viz import (
    Figure,
    html_page,
    view,
    view_depth,
    view_error_map,
    view_flow,
    view_mesh,
    view_octree,
    view_points,
    view_voxels,
)

_DATA = re.compile(r'<script type="application/json" class="st-data">(.*?)</script>', re.S)


def figures_of(text: str) -> list[dict]:
    """The figure JSON blocks of a page."""
    return [json.loads(m) for m in _DATA.findall(text)]


def decode(spec: dict) -> np.ndarray:
    dt = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "f32": np.float32}[spec["dtype"]]
    return np.frombuffer(base64.b64decode(spec["b64"]), dtype=np.dtype(dt).newbyteorder("<"))


def positions(obj: dict, key: str = "position") -> np.ndarray:
    q = decode(obj[key]).reshape(-1, 3).astype(np.float64)
    return np.asarray(obj["offset"]) + np.asarray(obj["scale"]) * q / 65535.0


def assert_self_contained(text: str) -> None:
    """Nothing is loaded from anywhere: no external script, style, font, image or module."""
    assert "<script src" not in text and "<link" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert "@import" not in text and "@font-face" not in text
    assert not re.search(r"\bimport\s*\(|\bfetch\s*\(|XMLHttpRequest|importScripts", text)
    # the only absolute URL in the page: the XHTML namespace name inside three.js
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) <= {"http://www.w3.org/1999/xhtml"}


def test_mesh_page_is_self_contained_and_exact_enough(tmp_path):
    mesh = ico_sphere(2)
    path = view_mesh(mesh, title="a <sphere>", shading="flat", wireframe=True).save(
        tmp_path / "v.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "three.js r187" in text
    assert_self_contained(text)
    assert "a &lt;sphere&gt;" in text  # the title is escaped in <title>
    (fig,) = figures_of(text)
    assert fig["title"] == "a <sphere>" and fig["wireframe"] is True
    (obj,) = fig["panels"][0]["objects"]
    assert obj["type"] == "mesh" and obj["shading"] == "flat"
    v = positions(obj)
    ref = mesh.verts_list()[0].double().numpy()
    assert np.abs(v - ref).max() <= 2.0 / 65535 + 1e-9  # 16 bits over a box of side 2
    assert np.array_equal(decode(obj["index"]).reshape(-1, 3), mesh.faces_list()[0].numpy())


def test_write_is_atomic(tmp_path, monkeypatch):
    import spacetime.viz.interactive as interactive

    path = tmp_path / "v.html"
    path.write_text("old")
    fig = view_points(torch.rand(50, 3))

    class Interrupted(str):
        def encode(self, *a):  # fails while the temporary file is open
            raise OSError("interrupted")

    monkeypatch.setattr(interactive, "html_page", lambda *a, **k: Interrupted("x"))
    with pytest.raises(OSError, match="interrupted"):
        fig.save(path)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.html"]  # no temporary left
    monkeypatch.undo()
    assert fig.save(path) == path and figures_of(path.read_text(encoding="utf-8"))


def test_large_inputs_are_reduced_and_the_page_says_so(tmp_path):
    mesh = ico_sphere(3)  # 1280 faces
    fig = Figure().add_mesh(mesh, max_faces=300)
    (obj,) = fig.to_json()["panels"][0]["objects"]
    faces = decode(obj["index"]).reshape(-1, 3)
    assert 0 < faces.shape[0] <= 300
    assert any("decimated for display, 1,280 →" in n and "limit 300" in n for n in fig.notes)
    text = html_page([fig])
    assert "decimated for display" in text and "limit 300" in text
    # vertex colours follow the decimated vertices
    coloured = Figure().add_mesh(mesh, colors="normals", max_faces=300)
    (c,) = coloured.to_json()["panels"][0]["objects"]
    assert decode(c["color"]).size == positions(c).size

    pts = torch.rand(2000, 3)
    fig = Figure().add_points(pts, max_points=500, color_by="scalar", values=pts[:, 0])
    (obj,) = fig.to_json()["panels"][0]["objects"]
    assert positions(obj).shape == (500, 3)
    assert fig.notes == ["points: subsampled for display, 2,000 → 500 points (limit 500; "
                         "uniform random)"]
    legend = fig.to_json()["panels"][0]["legend"]
    assert legend["type"] == "bar" and float(legend["max"]) <= 1.0

    vox = voxelize_mesh(ico_sphere(2), 16, mode="solid")
    fig = Figure().add_voxels(vox, max_faces=400)
    assert any("max-pooled by" in n for n in fig.notes)
    assert decode(fig.to_json()["panels"][0]["objects"][0]["index"]).size // 3 <= 400

    tree = Octree.from_dense(vox.grid > 0.5)
    n_leaves = int(tree.leaves()[2].sum())
    fig = Figure().add_octree(tree, max_cubes=50)
    (obj,) = fig.to_json()["panels"][0]["objects"]
    assert decode(obj["sizes"]).size <= 50 < n_leaves
    assert any("merged; limit 50" in n for n in fig.notes)


def test_no_reduction_below_the_limits():
    fig = (Figure().add_mesh(ico_sphere(3)).add_points(torch.rand(100, 3))
           .add_octree(Octree.from_dense(torch.ones(1, 4, 4, 4, dtype=torch.bool))))
    assert fig.notes == []
    objs = fig.to_json()["panels"][0]["objects"]
    assert decode(objs[0]["index"]).size == 1280 * 3
    assert decode(objs[2]["sizes"]).tolist() == [4.0]  # one full cell


def test_every_representation(tmp_path):
    mesh = ico_sphere(2)
    pts, nrm = sample_points_from_meshes(mesh, 300, return_normals=True)
    cloud = Pointclouds([pts[0]], normals=[nrm[0]], features=[(nrm[0] + 1) / 2])
    sdf = sample_grid(Sphere(0.8), 12, bounds=(-1, 1))
    d = torch.full((12, 16), 2.0)
    d[3:6, 4:9] = 1.0
    d[0, 0] = 0.0  # invalid pixel: dropped
    fig = (Figure("all", cols=3)
           .panel("rgb").add_points(cloud)
           .panel("normals").add_points(cloud, color_by="normals")
           .panel("height").add_points(pts[0])
           .panel("sdf").add_voxels(sdf)
           .panel("octree").add_octree(Octree.from_dense(sdf.grid < 0))
           .panel("depth", frame="opencv").add_depth(d, [20.0, 20.0, 7.5, 5.5],
                                                     image=torch.rand(3, 12, 16))
           .add_flow(torch.randn(2, 8, 10), title="flow")
           .add(torch.nn.functional.normalize(torch.randn(3, 8, 10), dim=0), kind="normals"))
    data = fig.to_json()
    assert [p["kind"] for p in data["panels"]] == ["3d"] * 6 + ["image"] * 2
    assert [o["type"] for o in data["panels"][5]["objects"]] == ["points", "lines", "image"]
    depth_pts = positions(data["panels"][5]["objects"][0])
    assert depth_pts.shape == (12 * 16 - 1, 3)
    assert np.allclose(np.sort(np.unique(depth_pts[:, 2].round(3))), [1.0, 2.0], atol=1e-3)
    assert data["panels"][5]["frame"] == "opencv" and data["panels"][0]["frame"] == "y-up"
    assert any("SDF grid 12×12×12" in n for n in fig.notes)
    assert data["panels"][4]["legend"]["type"] == "categories"
    assert data["panels"][6]["src"].startswith("data:image/png;base64,")
    text = fig.save(tmp_path / "all.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    frag = fig._repr_html_()
    assert frag.startswith("<iframe srcdoc=\"&lt;!DOCTYPE html&gt;") and "allow-scripts" in frag
    # one-call helpers
    assert view_voxels(sdf).notes and view_octree(Octree.from_dense(sdf.grid < 0)).num_panels == 1
    assert view_depth(d).notes[0].startswith("depth: no intrinsics given, assumed fx = fy = 16")
    assert view_flow(torch.zeros(2, 4, 5)).to_json()["panels"][0]["kind"] == "image"


def test_view_files_scene_and_grid(tmp_path):
    from spacetime.video.flow import write_flow

    save_mesh(ico_sphere(1), tmp_path / "a.obj")
    save_mesh(ico_sphere(2), tmp_path / "b.obj")
    save_depth(torch.full((6, 8), 1.5), tmp_path / "d.png")
    write_flow(tmp_path / "f.flo", torch.randn(2, 6, 8))
    write_flow(tmp_path / "k.png", torch.randn(2, 6, 8))
    scene = view(tmp_path / "a.obj", tmp_path / "b.obj")
    (panel,) = scene.to_json()["panels"]
    assert [o["name"] for o in panel["objects"]] == ["a.obj", "b.obj"]
    assert panel["objects"][0]["rgb"] != panel["objects"][1]["rgb"]  # one colour per object
    assert [i["label"] for i in panel["legend"]["items"]] == ["a.obj", "b.obj"]
    grid = view(*(tmp_path / n for n in ("a.obj", "b.obj", "d.png", "f.flo", "k.png")),
                layout="grid", K=[4.0, 4.0, 3.5, 2.5])
    panels = grid.to_json()["panels"]
    assert [p["title"] for p in panels] == ["a.obj", "b.obj", "d.png", "f.flo", "k.png"]
    assert [p["frame"] for p in panels[:3]] == ["y-up", "y-up", "opencv"]
    assert [p["kind"] for p in panels[3:]] == ["image", "image"]
    # KITTI flow PNGs are told from depth PNGs by their header (16-bit RGB)
    from spacetime.viz import show
    from spacetime.viz.flow import is_kitti_flow_png

    assert is_kitti_flow_png(tmp_path / "k.png") and not is_kitti_flow_png(tmp_path / "d.png")
    assert show(tmp_path / "k.png", tmp_path / "k_picture.png").stat().st_size > 1000


def test_error_map_matches_compare_meshes():
    pred, gt = ico_sphere(1), ico_sphere(3)
    gt = gt.update_packed(gt.verts_packed() * 1.05)
    m = compare_meshes(pred, gt, num_samples=800, seed=3)
    fig = view_error_map(pred, gt, num_samples=800, seed=3, threshold=0.3)
    data = fig.to_json()
    assert len(data["panels"]) == 2 and data["cols"] == 2
    legend = data["panels"][0]["legend"]
    assert legend["marks"] == [{"pos": 1 / 3, "label": "t = 0.3"}]
    assert f"{100 * float(m['Precision@0.3'][0]):.1f} %" in fig.notes[0]
    assert f"{100 * float(m['Recall@0.3'][0]):.1f} %" in fig.notes[1]
    assert f"F1 = {100 * float(m['F1@0.3'][0]):.1f} %" in data["title"]
    assert f"Chamfer-L2 = {float(m['Chamfer-L2'][0]):.4g}" in data["title"]
    # points within t are blue, beyond are warm
    from spacetime.viz import error_colors

    c = error_colors(torch.tensor([0.0, 0.29, 0.31, 5.0]), 0.3)
    assert (c[:2, 2] > c[:2, 0]).all() and (c[2:, 0] > c[2:, 2]).all()


def test_flow_pair_page_and_epe_map():
    from spacetime.video.flow import flow_metrics
    from spacetime.viz import view_flow_pair

    frames = torch.rand(2, 3, 12, 16)
    gt = torch.zeros(2, 12, 16)
    gt[0] = 2.0
    gt[:, 0, 0] = float("nan")  # no ground truth there
    flow = gt.nan_to_num(0.0).clone()
    flow[0, :, 8:] += 5.0  # right half 5 px off: past the 3 px threshold
    fig = view_flow_pair(frames[0], frames[1], flow, gt=gt)
    data = fig.to_json()
    assert [p["title"] for p in data["panels"]] == [
        "frame t", "frame t+1", "estimated flow", "true flow", "end-point error"]
    m = flow_metrics(flow, gt)
    assert f"EPE {m['epe']:.3f} px" in fig.notes[-1] and "Fl-all" in fig.notes[-1]
    assert len(view_flow_pair(frames[0], frames[1], flow).to_json()["panels"]) == 3
    with pytest.raises(InputError, match="gt: expected shape"):
        view_flow_pair(frames[0], frames[1], flow, gt=gt[:, :4])
    with pytest.raises(InputError, match="flow: expected"):
        view_flow_pair(frames[0], frames[1], flow[0])


def test_surface_errors_are_compare_meshes_samples():
    from spacetime.shapes.metrics import surface_errors

    pred, gt = ico_sphere(1), ico_sphere(2)
    e = surface_errors(pred, gt, num_samples=500, seed=1, scale="none")
    m = compare_meshes(pred, gt, num_samples=500, seed=1, scale="none")
    for t in (0.1, 0.3):
        assert float((e.pred_to_gt[0] < t).double().mean()) == pytest.approx(
            float(m[f"Precision@{t:g}"][0]), abs=1e-6)
        assert float((e.gt_to_pred[0] < t).double().mean()) == pytest.approx(
            float(m[f"Recall@{t:g}"][0]), abs=1e-6)
    chamfer = (e.pred_to_gt[0] ** 2).mean() + (e.gt_to_pred[0] ** 2).mean()
    assert float(chamfer) == pytest.approx(float(m["Chamfer-L2"][0]), rel=1e-5)
    assert float(e.pred_points[0].norm(dim=1).max()) <= 1.0 + 1e-5  # input units
    scaled = surface_errors(pred, gt, num_samples=500, seed=1)  # gt-10: box side 2 -> 10
    assert float(scaled.scale[0]) == pytest.approx(5.0)
    assert torch.allclose(scaled.pred_points, e.pred_points, atol=1e-5)


def test_errors_name_the_argument():
    mesh = ico_sphere(1)
    with pytest.raises(InputError, match="shading"):
        Figure().add_mesh(mesh, shading="glossy")
    with pytest.raises(InputError, match=r"colors: expected \(42, 3\)"):
        Figure().add_mesh(mesh, colors=torch.rand(5, 3))
    with pytest.raises(InputError, match="index: expected < 1"):
        Figure().add_mesh(mesh, index=1)
    with pytest.raises(InputError, match=r"points: expected \(P, 3\)"):
        Figure().add_points(torch.rand(10, 2))
    with pytest.raises(InputError, match="color_by: 'normals' needs"):
        Figure().add_points(torch.rand(10, 3), color_by="normals")
    with pytest.raises(InputError, match="values: expected 10 values"):
        Figure().add_points(torch.rand(10, 3), color_by="scalar", values=torch.rand(3))
    with pytest.raises(InputError, match="K: expected a"):
        Figure().add_depth(torch.ones(4, 4), torch.eye(2))
    with pytest.raises(InputError, match=r"image: expected size \(4, 4\)"):
        Figure().add_depth(torch.ones(4, 4), image=torch.rand(3, 5, 5))
    with pytest.raises(InputError, match="frame"):
        Figure().panel(frame="z-up")
    with pytest.raises(InputError, match=r"flow: expected \(2, H, W\)"):
        Figure().add_flow(torch.zeros(3, 4, 4))
    with pytest.raises(InputError, match="cannot tell"):
        Figure().add(torch.zeros(5, 5, 5))
    with pytest.raises(InputError, match="layout"):
        view(mesh, layout="stack")
    with pytest.raises(InputError, match="objs: expected at least one"):
        view()
    with pytest.raises(InputError, match="threshold"):
        view_error_map(mesh, mesh, threshold=-1.0, num_samples=10)
    with pytest.raises(InputError, match="cmap"):
        Figure().add_points(torch.rand(10, 3), cmap="no-such-map")
    with pytest.raises(InputError, match="finite vertices"):
        Figure().add_mesh((torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, float("nan"), 0]]),
                           torch.tensor([[0, 1, 2]])))
    with pytest.raises(InputError, match=r"face indices in \[0, 3\)"):
        Figure().add_mesh((torch.rand(3, 3), torch.tensor([[0, 1, 3]])))
    with pytest.raises(InputError, match=r"kw: expected options .* got \['shadin'\]"):
        view(mesh, shadin="flat")


def test_cli_show_html_png_and_compare(tmp_path, capsys):
    from PIL import Image

    from spacetime.video.flow import write_flow

    save_mesh(ico_sphere(1), tmp_path / "a.obj")
    save_mesh(ico_sphere(2), tmp_path / "b.obj")
    out = tmp_path / "view.html"
    assert main(["show", str(tmp_path / "a.obj"), str(tmp_path / "b.obj"), "-o", str(out),
                 "--layout", "grid", "--shading", "flat", "--max-faces", "100"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "note: a.obj: decimated" not in printed
    assert "note: b.obj: decimated for display, 320 →" in printed
    (fig,) = figures_of(out.read_text(encoding="utf-8"))
    assert [p["title"] for p in fig["panels"]] == ["a.obj", "b.obj"]
    assert all(p["objects"][0]["shading"] == "flat" for p in fig["panels"])
    # flow files: a picture with the colour wheel, and a panel in HTML
    write_flow(tmp_path / "f.flo", torch.randn(2, 20, 30))
    assert main(["show", str(tmp_path / "f.flo"), "-o", str(tmp_path / "f.png"), "-q"]) == 0
    img = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    assert img.shape[1] > img.shape[0] and (img < 200).any()
    assert main(["show", str(tmp_path / "f.flo"), "-o", str(tmp_path / "f.html"), "-q"]) == 0
    assert figures_of((tmp_path / "f.html").read_text())[0]["panels"][0]["kind"] == "image"
    # a PNG draws one file
    assert main(["show", str(tmp_path / "a.obj"), str(tmp_path / "b.obj"), "-o",
                 str(tmp_path / "x.png")]) == 1
    assert "a PNG shows one file, got 2" in capsys.readouterr().err
    # compare --html: the error map next to the table
    cmp = tmp_path / "cmp.html"
    assert main(["compare", str(tmp_path / "a.obj"), str(tmp_path / "b.obj"), "--num-samples",
                 "300", "--html", str(cmp), "--threshold", "0.5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["html"] == str(cmp)
    (fig,) = figures_of(cmp.read_text(encoding="utf-8"))
    assert fig["panels"][0]["legend"]["marks"][0]["label"] == "t = 0.5"
    assert f"F1 = {100 * res['metrics']['F1@0.5']:.1f} %" in fig["title"]
