"""Flow file formats: .flo, KITTI PNG, .npy round trips and corruption."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video.flow import (
    read_flo,
    read_flow,
    read_kitti_flow,
    write_flo,
    write_flow,
    write_kitti_flow,
)


def _flow(h=5, w=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(2, h, w, generator=g) - 0.5) * 40


def test_flo_round_trip_and_layout(tmp_path):
    fl = _flow()
    p = write_flo(tmp_path / "a.flo", fl)
    data = p.read_bytes()
    assert len(data) == 12 + 8 * 5 * 7
    assert data[:4] == b"PIEH"
    assert np.frombuffer(data[4:12], "<i4").tolist() == [7, 5]  # width, height
    # interleaved (u, v) per pixel in row order
    raw = np.frombuffer(data[12:], "<f4").reshape(5, 7, 2)
    np.testing.assert_allclose(raw[2, 3], fl[:, 2, 3].numpy())
    back = read_flo(p)
    assert back.dtype == torch.float32 and back.shape == (2, 5, 7)
    torch.testing.assert_close(back, fl)


def test_flo_unknown_is_nan(tmp_path):
    fl = _flow()
    fl[0, 1, 1] = float("nan")
    write_flo(tmp_path / "a.flo", fl)
    raw = np.frombuffer((tmp_path / "a.flo").read_bytes()[12:], "<f4").reshape(5, 7, 2)
    assert raw[1, 1, 0] > 1e9
    back = read_flo(tmp_path / "a.flo")
    assert torch.isnan(back[0, 1, 1]) and torch.isfinite(back[1, 1, 1])


def test_flo_truncated_corrupt_missing(tmp_path):
    p = write_flo(tmp_path / "a.flo", _flow())
    data = p.read_bytes()
    (tmp_path / "t.flo").write_bytes(data[:-4])
    with pytest.raises(FileFormatError, match="truncated"):
        read_flo(tmp_path / "t.flo")
    (tmp_path / "h.flo").write_bytes(data[:6])
    with pytest.raises(FileFormatError, match="header"):
        read_flo(tmp_path / "h.flo")
    (tmp_path / "m.flo").write_bytes(b"XXXX" + data[4:])
    with pytest.raises(FileFormatError, match="magic"):
        read_flo(tmp_path / "m.flo")
    (tmp_path / "x.flo").write_bytes(data + b"\0" * 8)
    with pytest.raises(FileFormatError, match="trailing"):
        read_flo(tmp_path / "x.flo")
    with pytest.raises(MissingFileError):
        read_flo(tmp_path / "none.flo")


def test_flo_writer_bad_input_and_atomic(tmp_path):
    with pytest.raises(InputError, match=r"flow: expected shape \(2, H, W\)"):
        write_flo(tmp_path / "a.flo", torch.zeros(3, 4, 4))
    with pytest.raises(InputError, match="floating"):
        write_flo(tmp_path / "a.flo", torch.zeros(2, 4, 4, dtype=torch.int64))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_kitti_round_trip_and_channel_order(tmp_path):
    import cv2

    fl = torch.round(_flow(6, 9) * 64) / 64  # exactly representable
    valid = torch.ones(6, 9, dtype=torch.bool)
    valid[0, 0] = False
    p = write_kitti_flow(tmp_path / "f.png", fl, valid)
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16 and raw.shape == (6, 9, 3)
    # BGR on disk via OpenCV: R channel (index 2) holds u
    assert raw[2, 3, 2] == int(fl[0, 2, 3] * 64 + 32768)
    assert raw[2, 3, 1] == int(fl[1, 2, 3] * 64 + 32768)
    assert raw[2, 3, 0] == 1 and raw[0, 0, 0] == 0
    back, v = read_kitti_flow(p)
    assert torch.equal(v, valid)
    torch.testing.assert_close(back[:, valid], fl[:, valid])
    assert torch.isnan(back[:, 0, 0]).all()


def test_kitti_quantisation_and_range(tmp_path):
    fl = _flow()
    back, _ = read_kitti_flow(write_kitti_flow(tmp_path / "f.png", fl))
    assert float((back - fl).abs().max()) <= 0.5 / 64 + 1e-6
    with pytest.raises(InputError, match="KITTI"):
        write_kitti_flow(tmp_path / "g.png", torch.full((2, 3, 3), 600.0))
    assert not (tmp_path / "g.png").exists()


def test_kitti_corrupt(tmp_path):
    import cv2

    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(FileFormatError, match="decode"):
        read_kitti_flow(tmp_path / "bad.png")
    cv2.imwrite(str(tmp_path / "u8.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(FileFormatError, match="16-bit"):
        read_kitti_flow(tmp_path / "u8.png")


def test_generic_dispatch_npy(tmp_path):
    fl = _flow()
    for ext in ("flo", "npy"):
        p = write_flow(tmp_path / f"a.{ext}", fl)
        torch.testing.assert_close(read_flow(p), fl)
    back = read_flow(write_flow(tmp_path / "a.png", fl))
    torch.testing.assert_close(back, fl, atol=1 / 64, rtol=0)
    with pytest.raises(InputError, match="flo"):
        write_flow(tmp_path / "a.txt", fl)
    np.save(tmp_path / "bad.npy", np.zeros((3, 2, 2), np.float32))
    with pytest.raises(FileFormatError, match=r"\(2, H, W\)"):
        read_flow(tmp_path / "bad.npy")
    (tmp_path / "trunc.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:40])
    with pytest.raises(FileFormatError):
        read_flow(tmp_path / "trunc.npy")
