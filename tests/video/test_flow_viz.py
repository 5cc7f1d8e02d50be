"""Middlebury colour coding, dx/dy images, quiver pictures."""

from __future__ import annotations

import pytest
import torch

from spacetime.errors import InputError
from spacetime.video.flow import (
    flow_components_to_images,
    flow_quiver,
    flow_to_image,
    make_colorwheel,
)


def _unit(dx, dy):
    f = torch.zeros(2, 1, 1)
    f[0], f[1] = dx, dy
    return flow_to_image(f, max_flow=1.0)[:, 0, 0].tolist()


def test_colorwheel_segments():
    wheel = make_colorwheel()
    assert wheel.shape == (55, 3)
    assert wheel[0].tolist() == [255, 0, 0]  # red
    assert wheel[15].tolist() == [255, 255, 0]  # yellow
    assert wheel[21].tolist() == [0, 255, 0]  # green
    assert wheel[25].tolist() == [0, 255, 255]  # cyan
    assert wheel[36].tolist() == [0, 0, 255]  # blue
    assert wheel[49].tolist() == [255, 0, 255]  # magenta


def test_reference_colours():
    assert _unit(1.0, 0.0) == [255, 0, 0]  # right = red
    r, g, b = _unit(-1.0, 0.0)  # left = cyan
    assert r == 0 and g > 150 and b == 255
    r, g, b = _unit(0.0, 1.0)  # down (image y) = yellow-orange
    assert r == 255 and 150 < g < 255 and b == 0
    r, g, b = _unit(0.0, -1.0)  # up = blue-violet
    assert b == 255 and g == 0 and 50 < r < 200
    assert _unit(0.0, 0.0) == [255, 255, 255]  # no motion = white
    r, g, b = _unit(0.5, 0.0)  # half magnitude = desaturated red
    assert r == 255 and 120 < g < 135 and 120 < b < 135


def test_matches_torchvision():
    from torchvision.utils import flow_to_image as tv_flow_to_image

    g = torch.Generator().manual_seed(0)
    fl = torch.randn(2, 2, 9, 11, generator=g) * 5
    assert torch.equal(flow_to_image(fl), tv_flow_to_image(fl))
    assert torch.equal(flow_to_image(fl[0]), tv_flow_to_image(fl[0]))


def test_max_flow_nan_and_errors():
    fl = torch.zeros(2, 2, 2)
    fl[0, 0, 0] = 10.0
    fl[1, 1, 1] = float("nan")
    img = flow_to_image(fl, max_flow=5.0)
    assert img.dtype == torch.uint8 and img.shape == (3, 2, 2)
    assert img[:, 1, 1].tolist() == [0, 0, 0]  # unknown drawn black
    assert img[0, 0, 0] == int(255 * 0.75)  # beyond max_flow: darkened
    with pytest.raises(InputError, match="max_flow"):
        flow_to_image(fl, max_flow=0.0)
    with pytest.raises(InputError, match="flow"):
        flow_to_image(torch.zeros(3, 2, 2))
    empty = flow_to_image(torch.zeros(0, 2, 3, 3))
    assert empty.shape == (0, 3, 3, 3)


def test_components_images():
    fl = torch.zeros(2, 2, 3)
    fl[0, 0, 0] = 4.0
    fl[1, 0, 1] = -4.0
    dx, dy = flow_components_to_images(fl, bound=4.0)
    assert dx.shape == (2, 3) and dx.dtype == torch.uint8
    assert dx[0, 0] == 255 and dx[1, 1] == 128 and dy[0, 1] == 0
    bx, by = flow_components_to_images(fl[None])
    assert bx.shape == (1, 2, 3)


def test_quiver(tmp_path):
    from PIL import Image

    fl = torch.ones(2, 20, 30)
    p = flow_quiver(torch.rand(3, 20, 30), fl, tmp_path / "q.png", step=5)
    assert Image.open(p).size[0] > 0
    p2 = flow_quiver(None, fl, tmp_path / "q2.png")
    assert p2.exists()
    with pytest.raises(InputError, match="image"):
        flow_quiver(torch.rand(3, 10, 30), fl, tmp_path / "q3.png")
    assert not (tmp_path / "q3.png").exists()
