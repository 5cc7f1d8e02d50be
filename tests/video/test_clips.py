"""spacetime.video.clips: clip geometry, the three samplers, short videos, no out-of-range index."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from spacetime.errors import InputError
from spacetime.video.clips import (
    ClipInfo,
    ConstantClipsPerVideoSampler,
    RandomClipSampler,
    UniformClipSampler,
    clips_to_indices,
)


def _naive_clip(start, clip_len, native_fps, target_fps, n):
    """Reference: frame shown at time start/native + k/target, computed independently."""
    out = []
    for k in range(clip_len):
        t = Fraction(start) / native_fps + Fraction(k) / target_fps
        out.append(math.floor(t * native_fps) % n)
    return tuple(out)


def test_step_span_positions():
    s = UniformClipSampler(4, num_clips=2, fps=10)
    assert s.step(30) == 3 and s.span(30) == 10 and s.num_positions(24, 30) == 15
    assert UniformClipSampler(4, fps=10).step(25) == Fraction(5, 2)
    assert RandomClipSampler(16).step(Fraction(30000, 1001)) == 1
    assert RandomClipSampler(3, frame_step=2).span(99) == 5


def test_uniform_matches_docstring_diagram():
    clips = UniformClipSampler(4, num_clips=2, fps=10)(24, 30)
    assert [c.frame_indices for c in clips] == [(0, 3, 6, 9), (14, 17, 20, 23)]
    assert [c.clip_index for c in clips] == [0, 1] and [c.is_last_clip for c in clips] == [0, 1]
    assert clips[1].clip_start_sec == Fraction(14, 30)
    assert clips[1].clip_end_sec == Fraction(14, 30) + Fraction(4, 10)
    assert isinstance(clips[0], ClipInfo) and clips[0].aug_index == 0


@pytest.mark.parametrize("native,target", [(30, 5), (25, 10), (Fraction(30000, 1001), 8), (8, 8)])
def test_fractional_steps_match_time_reference(native, target):
    sampler = UniformClipSampler(7, num_clips=3, fps=target)
    for c in sampler(200, native):
        start = c.frame_indices[0]
        assert c.frame_indices == _naive_clip(start, 7, Fraction(native), Fraction(target), 200)


def test_uniform_evenly_spaced_and_single():
    starts = [c.frame_indices[0] for c in UniformClipSampler(2, num_clips=5)(11, 10)]
    assert starts == [0, 2, 5, 7, 9]  # 10 positions, round half up
    one = UniformClipSampler(2, num_clips=1)(11, 10)
    assert len(one) == 1 and one[0].frame_indices == (4, 5) and one[0].is_last_clip


def test_exactly_one_clip_position():
    for sampler in (UniformClipSampler(8, num_clips=3), RandomClipSampler(8, num_clips=4),
                    ConstantClipsPerVideoSampler(8, 3, random=True)):
        clips = sampler(8, 8, generator=torch.Generator().manual_seed(0))
        assert all(c.frame_indices == tuple(range(8)) for c in clips)


def test_more_clips_than_positions_repeat():
    clips = UniformClipSampler(4, num_clips=6)(5, 5)  # 2 positions
    assert [c.frame_indices[0] for c in clips] == [0, 0, 0, 1, 1, 1]
    assert [c.clip_index for c in clips] == list(range(6))
    per_seg = ConstantClipsPerVideoSampler(4, 5)(6, 5)  # 3 positions, 5 segments
    assert [c.frame_indices[0] for c in per_seg] == [0, 0, 1, 1, 2]


def test_short_video_loop_and_repeat_last():
    loop = UniformClipSampler(6, num_clips=2, frame_step=2)(4, 30)
    assert all(c.frame_indices == (0, 2, 0, 2, 0, 2) for c in loop)
    rep = UniformClipSampler(6, num_clips=1, frame_step=2, short_video="repeat_last")(4, 30)
    assert rep[0].frame_indices == (0, 2, 3, 3, 3, 3)
    single = RandomClipSampler(3)(1, 30)
    assert single[0].frame_indices == (0, 0, 0)


def test_random_is_seeded_and_constant_per_segment():
    s = RandomClipSampler(4, num_clips=3)
    a = s(100, 25, generator=torch.Generator().manual_seed(3))
    b = s(100, 25, generator=torch.Generator().manual_seed(3))
    assert a == b and len(a) == 3
    draws = {s(100, 25, generator=torch.Generator().manual_seed(i))[0].frame_indices[0]
             for i in range(30)}
    assert len(draws) > 10 and max(draws) <= 96
    seg = ConstantClipsPerVideoSampler(4, 4, random=True)
    for i in range(20):
        starts = [c.frame_indices[0] for c in seg(43, 10, torch.Generator().manual_seed(i))]
        assert [st_ // 10 for st_ in starts] == [0, 1, 2, 3]  # P = 40, one start per segment
    assert [c.frame_indices[0] for c in ConstantClipsPerVideoSampler(4, 4)(43, 10)] == [4, 14,
                                                                                         24, 34]


def test_clips_to_indices_and_errors():
    idx = clips_to_indices(UniformClipSampler(3, num_clips=2)(10, 10))
    assert idx.shape == (2, 3) and idx.dtype == torch.long
    with pytest.raises(InputError, match="clips: expected at least one"):
        clips_to_indices([])
    with pytest.raises(InputError, match="clip_len: expected an int >= 1"):
        UniformClipSampler(0)
    with pytest.raises(InputError, match="give either fps or frame_step"):
        RandomClipSampler(4, fps=5, frame_step=2)
    with pytest.raises(InputError, match="fps: expected a value > 0"):
        RandomClipSampler(4, fps=0)
    with pytest.raises(InputError, match="short_video: expected one of"):
        RandomClipSampler(4, short_video="pad")
    with pytest.raises(InputError, match="num_frames: expected an int >= 1"):
        RandomClipSampler(4)(0, 30)
    with pytest.raises(InputError, match="num_clips"):
        UniformClipSampler(4, num_clips=0)
    assert "clip_len=4" in repr(UniformClipSampler(4, fps=5))


@given(
    n=st.integers(1, 300),
    clip_len=st.integers(1, 24),
    native=st.sampled_from([Fraction(30000, 1001), Fraction(25), Fraction(30), Fraction(8)]),
    target=st.sampled_from([Fraction(1), Fraction(5), Fraction(15, 2), Fraction(30), Fraction(60)]),
    k=st.integers(1, 12),
    kind=st.sampled_from(["uniform", "random", "constant", "constant_random"]),
    short=st.sampled_from(["loop", "repeat_last"]),
    seed=st.integers(0, 2**31),
)
def test_property_indices_always_in_range(n, clip_len, native, target, k, kind, short, seed):
    kw = dict(fps=target, short_video=short)
    sampler = {
        "uniform": lambda: UniformClipSampler(clip_len, k, **kw),
        "random": lambda: RandomClipSampler(clip_len, k, **kw),
        "constant": lambda: ConstantClipsPerVideoSampler(clip_len, k, **kw),
        "constant_random": lambda: ConstantClipsPerVideoSampler(clip_len, k, random=True, **kw),
    }[kind]()
    clips = sampler(n, native, generator=torch.Generator().manual_seed(seed))
    assert len(clips) == k
    span = sampler.span(native)
    for j, c in enumerate(clips):
        assert len(c.frame_indices) == clip_len and c.clip_index == j
        assert all(0 <= i < n for i in c.frame_indices)
        if span <= n:  # a full clip fits: indices follow the exact time reference
            assert c.frame_indices == _naive_clip(c.frame_indices[0], clip_len, native, target, n)
            assert c.frame_indices[-1] - c.frame_indices[0] == span - 1
    assert clips[-1].is_last_clip and not any(c.is_last_clip for c in clips[:-1])
