"""Readers validate declared sizes before allocating (spacetime.limits), and the cases of
issue 15's fuzz run raise the project's errors instead of tracebacks or out-of-memory."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import torch

from spacetime import limits
from spacetime.errors import FileFormatError, InputError, SpacetimeError
from spacetime.shapes import io as sio
from spacetime.shapes.structures import Meshes, Pointclouds
from spacetime.video.flow import io as fio

_PLY_HEAD = (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n"
             b"property float y\nproperty float z\nelement face 1\n")


def _npy_header(shape, dtype="<f4") -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        b, {"descr": dtype, "fortran_order": False, "shape": shape})
    return b.getvalue() + b"\0" * 16


def _png_header(w: int, h: int, depth: int = 8) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def test_override_restores_and_validates():
    before = limits.MAX_POINTS
    with limits.override(MAX_POINTS=5):
        assert limits.get("MAX_POINTS") == 5
        with pytest.raises(InputError, match="MAX_POINTS = 5"):
            limits.check_limit(6, "points", "MAX_POINTS")
    assert limits.MAX_POINTS == before
    with pytest.raises(InputError, match="unknown name"):
        with limits.override(MAX_NOPE=1):
            pass
    with pytest.raises(InputError, match="non-negative int"):
        with limits.override(MAX_POINTS=-1):
            pass
    with pytest.raises(FileFormatError, match=r"f\.bin: n = 1.5: expected an integer"):
        limits.check_limit(1.5, "n", "MAX_POINTS", "f.bin")
    with pytest.raises(FileFormatError, match="expected an integer"):
        limits.check_limit(float("nan"), "n", "MAX_POINTS", "f.bin")


def test_a_small_file_can_raise_a_limit(tmp_path):
    p = tmp_path / "c.xyz"
    p.write_text("0 0 0\n1 1 1\n2 2 2\n")
    with limits.override(MAX_POINTS=2):
        with pytest.raises(FileFormatError, match="number of points = 3 exceeds"):
            sio.load_pointcloud(p)
    assert len(sio.load_pointcloud(p).points_list()[0]) == 3


@pytest.mark.parametrize("name, data, match", [
    ("huge_index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99999999999999999999\n",
     "face refers to vertex 99999999999999999999"),
    ("count_neg.ply", _PLY_HEAD + b"property list int int vertex_indices\nend_header\n"
     + np.zeros(9, "<f4").tobytes() + struct.pack("<i", -1) + bytes(12), "expected >= 0"),
    ("count_2e9.ply", _PLY_HEAD + b"property list int int vertex_indices\nend_header\n"
     + np.zeros(9, "<f4").tobytes() + struct.pack("<i", 2_000_000_000) + bytes(12),
     "MAX_POLYGON_CORNERS"),
    ("count_float.ply", _PLY_HEAD + b"property list float int vertex_indices\nend_header\n"
     + np.zeros(9, "<f4").tobytes() + np.array([np.nan], "<f4").tobytes() + bytes(12),
     "list count type must be an integer"),
    ("vertex_1e12.ply", b"ply\nformat ascii 1.0\nelement vertex 1000000000000\nproperty float x"
     b"\nproperty float y\nproperty float z\nend_header\n0 0 0\n", "MAX_POINTS"),
    ("off_counts.off", b"OFF\n999999999999 1 0\n0 0 0\n", "MAX_MESH_VERTICES"),
])
def test_mesh_headers_checked(tmp_path, name, data, match):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(FileFormatError, match=match):
        sio.load_mesh(p)


def test_binvox_dims_and_npz_dtypes(tmp_path):
    p = tmp_path / "big.binvox"
    p.write_bytes(b"#binvox 1\ndim 2097152 2097152 4194304\ntranslate 0 0 0\nscale 1\n"
                  b"data\n\x00\xff")
    with pytest.raises(FileFormatError, match="MAX_VOXELS"):
        sio.load_voxels(p)
    p = tmp_path / "s.npz"
    np.savez(p, grid=np.array([[[["a", "b"]]]]))
    with pytest.raises(FileFormatError, match="expected numbers or booleans"):
        sio.load_voxels(p)
    np.savez(p, grid=np.zeros((1, 2, 2, 2)), origin=np.array(["x", "y", "z"]))
    with pytest.raises(FileFormatError, match="'origin'"):
        sio.load_voxels(p)


@pytest.mark.parametrize("loader, shape", [
    (sio.load_pointcloud, (10**12 // 3, 3)),
    (sio.load_depth, (10**6, 10**6)),
    (fio.read_flow, (2, 10**6, 10**6)),
])
def test_npy_header_checked_before_allocating(tmp_path, loader, shape):
    p = tmp_path / "x.npy"
    p.write_bytes(_npy_header(shape))
    with pytest.raises(FileFormatError, match="MAX_ARRAY_BYTES"):
        loader(p)
    p.write_bytes(_npy_header((1000, 3)))  # small but truncated
    with pytest.raises(FileFormatError, match="truncated"):
        loader(p)


def test_images_have_a_pixel_limit(tmp_path):
    p = tmp_path / "k.png"
    p.write_bytes(_png_header(30000, 30000, 16))
    with pytest.raises(FileFormatError, match="MAX_IMAGE_PIXELS"):
        fio.read_kitti_flow(p)
    p.write_bytes(_png_header(20000, 20000))
    with pytest.raises(FileFormatError, match="MAX_IMAGE_PIXELS"):
        sio.read_rgb_image(p)
    p = tmp_path / "f.flo"
    p.write_bytes(np.array([202021.25], "<f4").tobytes() + np.array([10**5, 10**5],
                                                                     "<i4").tobytes())
    with pytest.raises(FileFormatError, match="MAX_IMAGE_PIXELS"):
        fio.read_flo(p)


def test_sizes_of_allocations_checked():
    from spacetime.shapes.convert import voxelize_mesh
    from spacetime.shapes.render import render_mesh_image

    m = Meshes([torch.rand(3, 3)], [torch.tensor([[0, 1, 2]])])
    with pytest.raises(InputError, match="MAX_VOXELS"):
        voxelize_mesh(m, 100000)
    with pytest.raises(InputError, match="MAX_IMAGE_PIXELS"):
        render_mesh_image(m, 200000, 200000)


def test_lengths_never_clipped():
    with pytest.raises(InputError, match=r"lengths\[0\]: expected a length in \[0, 4\]"):
        Pointclouds(torch.rand(2, 4, 3), lengths=[5, 1])
    with pytest.raises(InputError, match=r"lengths\[1\]"):
        Pointclouds(torch.rand(2, 4, 3), lengths=torch.tensor([1, -1]))
    with pytest.raises(InputError, match="expected 2 lengths"):
        Pointclouds(torch.rand(2, 4, 3), lengths=[1])
    with pytest.raises(InputError, match="verts_lengths"):
        Meshes(torch.rand(1, 3, 3), torch.tensor([[[0, 1, 2]]]), verts_lengths=[7])
    assert Pointclouds(torch.rand(2, 4, 3), lengths=[4, 0]).num_points_per_cloud().tolist() \
        == [4, 0]


def test_flow_arguments_checked():
    from spacetime.video.flow import estimate_flow
    from spacetime.video.flow.ops import warp

    a = torch.rand(3, 32, 32)
    with pytest.raises(InputError, match="bogus: unexpected keyword"):
        estimate_flow(a, a, bogus=3)
    with pytest.raises(InputError, match="bogus"):
        estimate_flow(a, a, "horn-schunck", bogus=3)
    with pytest.raises(InputError, match="width or height >= 12"):
        estimate_flow(torch.rand(3, 1, 1), torch.rand(3, 1, 1), "dis")
    out, inside = warp(torch.rand(3, 0, 0), torch.rand(2, 0, 0))
    assert out.shape == (3, 0, 0) and inside.shape == (0, 0)


def test_read_video_checks_interpolation_first(tmp_path):
    from spacetime.video.io import read_video

    with pytest.raises(InputError, match="interpolation"):
        read_video(tmp_path / "missing.mp4", interpolation="NONSENSE")


def test_graph_conv_dtype_and_chamfer_empty_backward():
    from spacetime.shapes.metrics import chamfer_distance
    from spacetime.shapes.ops.graph_conv import GraphConv

    with pytest.raises(InputError, match="expected dtype torch.float32"):
        GraphConv(4, 4)(torch.rand(3, 4, dtype=torch.float16), torch.tensor([[0, 1]]))
    x = torch.rand(1, 5, 3, requires_grad=True)
    d = chamfer_distance(x, torch.rand(1, 0, 3))
    d.sum().backward()
    assert torch.isinf(d).all() and (x.grad == 0).all()


def test_errors_are_spacetime_errors():
    assert issubclass(FileFormatError, SpacetimeError)
