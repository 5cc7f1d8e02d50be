"""RAFT wrapper: padding and shapes on tiny inputs, weights loading, sequence loss."""

from __future__ import annotations

import pytest
import torch

from spacetime.errors import FileFormatError, InputError
from spacetime.video.flow import build_raft, estimate_flow, raft_padding, sequence_loss
from tests._matrix import assert_on, close


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return build_raft("raft-small").eval()


def test_padding_arithmetic():
    assert raft_padding(128, 128) == (0, 0, 0, 0)
    assert raft_padding(130, 129) == (3, 4, 3, 3)  # to 136 x 136
    assert raft_padding(37, 45) == (41, 42, 45, 46)  # up to the 128 minimum
    for h, w in [(1, 1), (7, 9), (129, 200), (8, 8)]:
        left, right, top, bottom = raft_padding(h, w)
        hh, ww = h + top + bottom, w + left + right
        assert hh % 8 == 0 and ww % 8 == 0 and hh >= 128 and ww >= 128
    with pytest.raises(InputError, match="h"):
        raft_padding(0, 5)


@pytest.mark.parametrize("size", [(37, 45), (1, 1), (130, 131)])
def test_shapes_any_size(small, size):
    h, w = size
    f = torch.rand(1, 3, h, w)
    with torch.no_grad():
        preds = small(f, f, num_flow_updates=2)
    assert len(preds) == 2 and all(p.shape == (1, 2, h, w) for p in preds)


def test_forward_on_device(small, device):
    """RAFT-small (one dtype) on ``device``: predictions stay there, equal the CPU ones."""
    import copy

    f1, f2 = torch.rand(1, 3, 20, 28), torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        ref = small(f1, f2, num_flow_updates=2)[-1]
        model = copy.deepcopy(small).to(device)
        # no default_device_elsewhere here: torchvision's RAFT itself makes a scalar tensor on
        # the default device (torch.tensor(num_channels) in its correlation block)
        out = model(f1.to(device), f2.to(device), num_flow_updates=2)[-1]
    assert_on(out, device, torch.float32)
    close(out, ref, torch.float32, atol=1e-3, rtol=1e-3)


def test_input_checks(small):
    with pytest.raises(InputError, match="frame2"):
        small(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))
    with pytest.raises(InputError, match="frame1"):
        small(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(InputError, match="num_flow_updates"):
        small(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), num_flow_updates=0)


def test_estimate_flow_with_model_and_checkpoint(small, tmp_path):
    f = torch.rand(3, 20, 24)
    fl = estimate_flow(f, f, "raft-small", model=small, num_flow_updates=2)
    assert fl.shape == (2, 20, 24)
    p = tmp_path / "raft.pt"
    torch.save(small.raft.state_dict(), p)
    fl2 = estimate_flow(f, f, "raft-small", checkpoint=p, num_flow_updates=2)
    torch.testing.assert_close(fl, fl2)
    torch.save({"model": small.state_dict()}, tmp_path / "ckpt.pt")  # spacetime checkpoint form
    build_raft("raft-small", checkpoint=tmp_path / "ckpt.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(FileFormatError):
        build_raft("raft-small", checkpoint=tmp_path / "bad.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(FileFormatError, match="does not match"):
        build_raft("raft-small", checkpoint=tmp_path / "other.pt")
    with pytest.raises(InputError, match="name"):
        build_raft("raft-huge")


def test_sequence_loss_weights_and_backward(small):
    gt = torch.zeros(1, 2, 2, 2)
    preds = [torch.ones(1, 2, 2, 2), torch.full((1, 2, 2, 2), 2.0)]
    # weights 0.8 for the first, 1 for the last: 0.8 * 1 + 1 * 2
    assert float(sequence_loss(preds, gt)) == pytest.approx(2.8)
    valid = torch.zeros(1, 2, 2)
    valid[0, 0, 0] = 1
    assert float(sequence_loss(preds, gt, valid)) == pytest.approx(2.8)
    big = gt.clone()
    big[0, 0, 1, 1] = 1000.0  # above max_flow: ignored
    assert float(sequence_loss(preds, big)) == pytest.approx(2.8)
    with pytest.raises(InputError, match="predictions"):
        sequence_loss([], gt)
    with pytest.raises(InputError, match=r"predictions\[0\]"):
        sequence_loss([torch.zeros(1, 2, 3, 3)], gt)
    small.train()
    f = torch.rand(1, 3, 24, 24)
    out = small(f, f, num_flow_updates=2)
    sequence_loss(out, torch.zeros(1, 2, 24, 24)).backward()
    assert any(p.grad is not None for p in small.parameters())
    small.zero_grad()
    small.eval()


def test_estimate_flow_raft_keeps_caller_rng():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    f = torch.rand(3, 8, 8)
    torch.manual_seed(5)
    estimate_flow(f, f, "raft-small", num_flow_updates=1)
    assert torch.equal(torch.rand(3), expected)
