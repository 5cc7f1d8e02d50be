"""Benchmark-folder evaluation on generated Middlebury / KITTI layouts."""

from __future__ import annotations

import pytest

from spacetime.errors import FileFormatError, InputError, MissingFileError
from spacetime.video.flow import SyntheticFlow
from spacetime.video.flow.evaluate import (
    evaluate_flow_folder,
    export_flow_folder,
    format_flow_table,
    list_flow_pairs,
    read_image,
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    ds = SyntheticFlow(2, (40, 48), split="val")
    export_flow_folder(root / "mb", ds)
    export_flow_folder(root / "kitti", ds, layout="kitti")
    return root


def test_layouts_written(folders):
    assert (folders / "mb" / "seq000" / "frame10.png").is_file()
    assert (folders / "mb" / "seq001" / "flow10.flo").is_file()
    assert (folders / "kitti" / "image_2" / "000001_11.png").is_file()
    assert (folders / "kitti" / "flow_occ" / "000000_10.png").is_file()
    layout, pairs = list_flow_pairs(folders / "kitti")
    assert layout == "kitti" and [p[0] for p in pairs] == ["000000", "000001"]
    assert read_image(pairs[0][1]).shape == (40, 48, 3)


@pytest.mark.parametrize("layout", ["mb", "kitti"])
def test_evaluate(folders, layout):
    res = evaluate_flow_folder(folders / layout, "dis")
    assert len(res["rows"]) == 2
    assert set(res["mean"]) == {"epe", "fl_all", "ae", "time_s"}
    assert 0 <= res["mean"]["epe"] < 3.0
    assert res["rows"][0]["time_s"] > 0
    table = format_flow_table(res)
    assert "mean" in table and "EPE" in table


def test_evaluate_matches_direct_metric(folders):
    from spacetime.video.flow import end_point_error, estimate_flow, read_flo

    res = evaluate_flow_folder(folders / "mb", "farneback", limit=1)
    d = folders / "mb" / "seq000"
    fl = estimate_flow(read_image(d / "frame10.png"), read_image(d / "frame11.png"), "farneback")
    assert res["rows"][0]["epe"] == pytest.approx(float(end_point_error(fl, read_flo(
        d / "flow10.flo"))), rel=1e-5)


def test_evaluate_errors(folders, tmp_path):
    with pytest.raises(MissingFileError):
        evaluate_flow_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither"):
        evaluate_flow_folder(tmp_path / "empty")
    with pytest.raises(InputError, match="method"):
        evaluate_flow_folder(folders / "mb", "magic")
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(folders / "mb", bad)
    (bad / "seq000" / "frame11.png").write_bytes(b"broken")
    with pytest.raises(FileFormatError, match="frame11"):
        evaluate_flow_folder(bad, "dis")
