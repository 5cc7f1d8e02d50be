"""Writers refuse what their readers refuse, are atomic (multi-file ones as a whole) under a
full disk and bad destinations, and the CLI turns OSError into one line."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from spacetime.errors import InputError
from spacetime.fileio import atomic_paths
from spacetime.shapes import io as sio
from spacetime.shapes.structures import Meshes

V = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]])
F = torch.tensor([[0, 1, 2]])


@pytest.mark.parametrize("ext", [".obj", ".ply", ".off", ".stl"])
def test_mesh_writers_refuse_nan_and_bad_indices(tmp_path, ext):
    bad = V.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(InputError, match="finite"):
        sio.save_mesh(Meshes([bad], [F], validate=False), tmp_path / f"m{ext}")
    with pytest.raises(InputError, match="indices in"):
        sio.save_mesh(Meshes([V], [torch.tensor([[0, 1, 5]])], validate=False),
                      tmp_path / f"m{ext}")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("ext", [".ply", ".xyz", ".npy", ".npz"])
def test_cloud_writers_refuse_inf(tmp_path, ext):
    with pytest.raises(InputError, match="finite"):
        sio.save_pointcloud(torch.tensor([[0.0, float("inf"), 0]]), tmp_path / f"p{ext}")


def test_checkpoint_refuses_objects(tmp_path):
    from spacetime.engine import save_checkpoint

    with pytest.raises(InputError, match=r"state\['meta'\]\['fn'\]"):
        save_checkpoint(tmp_path / "c.pt", {"meta": {"fn": len}})
    assert not list(tmp_path.iterdir())


def test_atomic_paths_rolls_back(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.mkdir()  # the second destination cannot be replaced
    with pytest.raises(IsADirectoryError):
        with atomic_paths(a, b) as (ta, tb):
            ta.write_text("new a")
            tb.write_text("new b")
    assert a.read_text() == "old a"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def _textured(tmp_path: Path) -> Meshes:
    return Meshes([V], [F], verts_uvs=[V[:, :2]], faces_uvs=[F],
                  texture_images=[torch.rand(8, 8, 3)])


_FULL_DISK = """
import resource, sys, torch
from spacetime.shapes import io as sio
from spacetime.shapes.structures import Meshes
V = torch.rand(2000, 3); F = torch.randint(0, 2000, (4000, 3))
m = Meshes([V], [F], verts_uvs=[V[:, :2]], faces_uvs=[F], texture_images=[torch.rand(64, 64, 3)])
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
try:
    sio.save_mesh(m, sys.argv[1])
except OSError as e:
    print("OSError", e.errno)
"""


def test_textured_obj_is_atomic_as_a_whole_on_a_full_disk(tmp_path):
    obj = tmp_path / "m.obj"
    sio.save_mesh(_textured(tmp_path), obj)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(before) == ["m.mtl", "m.obj", "m.png"]
    r = subprocess.run([sys.executable, "-c", _FULL_DISK, str(obj)], capture_output=True,
                       text=True, timeout=120, env={**os.environ})
    assert "OSError 27" in r.stdout, r.stderr
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before


def test_write_image_and_kitti_never_clobber_on_full_disk(tmp_path):
    code = """
import resource, sys, numpy as np, torch
from spacetime.video.flow.io import write_kitti_flow
from spacetime.video.flow.evaluate import write_image
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))
for fn in (lambda: write_kitti_flow(sys.argv[1], torch.rand(2, 64, 64) * 10),
           lambda: write_image(sys.argv[2], np.random.randint(0, 255, (64, 64, 3), np.uint8))):
    try:
        fn(); print("wrote")
    except OSError as e:
        print("OSError", e.errno)
"""
    k, im = tmp_path / "f.png", tmp_path / "i.png"
    k.write_bytes(b"good kitti")
    im.write_bytes(b"good image")
    r = subprocess.run([sys.executable, "-c", code, str(k), str(im)], capture_output=True,
                       text=True, timeout=120)
    assert r.stdout.split("\n")[:2] == ["OSError 27", "OSError 27"], r.stdout + r.stderr
    assert k.read_bytes() == b"good kitti" and im.read_bytes() == b"good image"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "i.png"]


@pytest.mark.parametrize("dest, reason", [
    ("out_dir", "destination is a directory"),
    ("m.obj/x.ply", "a parent of the path is not a directory"),
])
def test_cli_turns_oserror_into_one_line(tmp_path, dest, reason, capsys):
    from spacetime.cli.main import main

    obj = tmp_path / "m.obj"
    sio.save_mesh(Meshes([V], [F]), obj)
    (tmp_path / "out_dir.ply").mkdir()
    target = tmp_path / (dest + ".ply" if dest == "out_dir" else dest)
    assert main(["convert", str(obj), str(target), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and reason in err[0], err


def test_cli_full_disk_one_line(tmp_path):
    obj = tmp_path / "m.obj"
    sio.save_mesh(Meshes([torch.rand(3000, 3)], [torch.randint(0, 3000, (6000, 3))]), obj)
    out = tmp_path / "o.ply"
    out.write_bytes(b"previous")

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (10000, 10000))

    r = subprocess.run([sys.executable, "-m", "spacetime", "convert", str(obj), str(out), "-q",
                        "--to", "points"], capture_output=True, text=True, timeout=120,
                       preexec_fn=limit)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("spacetime: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.obj", "o.ply"]
