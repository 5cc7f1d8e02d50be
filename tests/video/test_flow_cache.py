"""Dataset flow caching: quantisation error, resumability, atomicity, loader, workers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import spacetime.video.flow.cache as cache
from spacetime.errors import InputError, MissingFileError
from spacetime.video.flow import SyntheticFlow
from spacetime.video.flow.cache import (
    compute_dataset_flow,
    dequantize_flow,
    load_cached_flow,
    quantization_error,
    quantize_flow,
)


def _video(t=4, h=24, w=32, seed=0):
    """(T, 3, H, W) uint8 frames: a synthetic texture drifting 1 px right per frame."""
    s = SyntheticFlow(1, (h, w + t), seed=seed)[0]["frame1"]
    frames = torch.stack([s[:, :, t - i : t - i + w] for i in range(t)])
    return (frames * 255 + 0.5).to(torch.uint8)


def test_quantisation_error_bound():
    bound = 20.0
    assert quantization_error(bound) == pytest.approx(bound / 255)
    f = torch.linspace(-bound, bound, 100001)
    err = (dequantize_flow(quantize_flow(f, bound), bound) - f).abs()
    assert float(err.max()) <= bound / 255 + 1e-5
    assert float(err.max()) > 0.99 * bound / 255  # the bound is attained
    q = quantize_flow(torch.tensor([-100.0, 0.0, 100.0, float("nan")]), bound)
    assert q.tolist() == [0, 128, 255, 128]
    assert dequantize_flow(q[:1], bound).item() == -bound
    with pytest.raises(InputError, match="bound"):
        quantize_flow(f, 0.0)


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_compute_and_load(tmp_path, fmt):
    v = _video()
    res = compute_dataset_flow([("clip", v)], tmp_path, workers=0, format=fmt, progress=False)
    assert res["computed"] == ["clip"] and res["pairs"] == 3 and not res["failed"]
    meta = json.loads((tmp_path / "clip" / "meta.json").read_text())
    assert meta["num_pairs"] == 3 and meta["format"] == fmt
    flows = load_cached_flow(tmp_path / "clip")
    assert flows.shape == (3, 2, 24, 32) and flows.dtype == torch.float32
    # the texture drifts +1 px in x
    assert abs(float(flows[:, 0, 4:-4, 4:-4].median()) - 1.0) < 0.2
    direct = cache.estimate_flow_batch(v[:-1], v[1:], "dis")
    tol = quantization_error(20.0) + 1e-5 if fmt == "png" else 1e-6
    assert float((flows - direct.clamp(-20, 20)).abs().max()) <= tol
    two = load_cached_flow(tmp_path / "clip", [2, 0])
    torch.testing.assert_close(two, flows[[2, 0]])
    with pytest.raises(InputError, match="frame_indices"):
        load_cached_flow(tmp_path / "clip", [3])
    if fmt == "png":
        assert (tmp_path / "clip" / "flow_x_00000.png").is_file()


def test_resume_after_interruption(tmp_path, monkeypatch):
    videos = [("a", _video(seed=0)), ("b", _video(seed=1)), ("c", _video(seed=2))]
    real = cache.estimate_flow_batch
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # dies while computing the second video
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(cache, "estimate_flow_batch", flaky)
    with pytest.raises(KeyboardInterrupt):
        compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a"]  # no partial folder of "b" left behind
    (tmp_path / ".partial-c-999").mkdir()  # leftover of a killed process
    (tmp_path / ".partial-c-999" / "flow_x_00000.png").write_bytes(b"junk")
    monkeypatch.setattr(cache, "estimate_flow_batch", real)
    res = compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
    assert res["skipped"] == ["a"] and sorted(res["computed"]) == ["b", "c"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]
    assert load_cached_flow(tmp_path / "c").shape == (3, 2, 24, 32)
    res = compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
    assert res["computed"] == [] and len(res["skipped"]) == 3


def test_failure_policy_and_bad_inputs(tmp_path):
    videos = [("ok", _video()), ("short", _video(t=1))]
    res = compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
    assert res["computed"] == ["ok"] and "short" in res["failed"]
    assert not (tmp_path / "short").exists()
    with pytest.raises(InputError, match="2 frames"):
        compute_dataset_flow([("short", _video(t=1))], tmp_path / "x", workers=0,
                             on_error="raise", progress=False)
    with pytest.raises(InputError, match="duplicate"):
        compute_dataset_flow(["x/a.mp4", "y/a.mp4"], tmp_path, progress=False)
    with pytest.raises(InputError, match="format"):
        compute_dataset_flow([("a", _video())], tmp_path, format="gif")
    with pytest.raises(InputError, match="videos"):
        compute_dataset_flow([3], tmp_path)
    with pytest.raises(MissingFileError):
        load_cached_flow(tmp_path / "short")


def test_in_memory_dataset_tensor(tmp_path):
    class Motion:  # like SyntheticMotion: a (N, T, 3, H, W) uint8 tensor in .videos
        videos = torch.stack([_video(t=3), _video(t=3, seed=1)])

    res = compute_dataset_flow(Motion(), tmp_path, workers=0, progress=False)
    assert sorted(res["computed"]) == ["0", "1"] and res["pairs"] == 4


def test_parallel_workers_and_video_files(tmp_path):
    io = pytest.importorskip("spacetime.video.io")
    paths = []
    for i in range(2):
        p = tmp_path / "videos" / f"v{i}.mp4"
        io.write_video(p, _video(t=4, seed=i), fps=10, crf=0)
        paths.append(p)

    class FakeDataset:  # anything exposing .video_paths works
        video_paths = paths

    res = compute_dataset_flow(FakeDataset(), tmp_path / "flow", workers=2, progress=False,
                               format="jpg")
    assert sorted(res["computed"]) == ["v0", "v1"], res["failed"]
    assert res["pairs"] == 6 and res["pairs_per_s"] > 0
    fl = load_cached_flow(tmp_path / "flow" / "v1", np.arange(3))
    assert fl.shape == (3, 2, 24, 32)


def test_sharded_by_rank_fills_one_cache_and_resumes(tmp_path, monkeypatch):
    """Three processes (rank 0..2 of 3) each compute a disjoint third of the name-sorted videos
    into one cache; together they cover every video; a rerun skips them all; the ranks come
    from torchrun's RANK / WORLD_SIZE when not given; a leftover partial folder of another
    rank's video is left alone."""
    videos = [(f"v{i}", _video(t=3, h=16, w=16, seed=i)) for i in range(7)]
    (tmp_path / ".partial-v1-99999").mkdir(parents=True)  # rank 1's video, in progress
    shards = []
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        res = compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
        assert res["rank"] == rank and res["world_size"] == 3 and not res["failed"]
        shards.append(set(res["computed"]))
        if rank == 0:
            assert (tmp_path / ".partial-v1-99999").is_dir()
    assert shards == [{"v0", "v3", "v6"}, {"v1", "v4"}, {"v2", "v5"}]
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    again = compute_dataset_flow(videos, tmp_path, workers=0, progress=False)
    assert again["computed"] == [] and sorted(again["skipped"]) == [n for n, _ in videos]
    assert not (tmp_path / ".partial-v1-99999").exists()  # one process: every leftover goes
    with pytest.raises(InputError, match="rank"):
        compute_dataset_flow(videos, tmp_path, rank=3, world_size=3, progress=False)
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(InputError, match="WORLD_SIZE"):
        compute_dataset_flow(videos, tmp_path, progress=False)
