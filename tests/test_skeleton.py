import pytest
import torch

import spacetime
from spacetime.checks import check_tensor
from spacetime.cli.main import main
from spacetime.errors import InputError, SpacetimeError
from spacetime.fileio import atomic_write
from spacetime.ragged import list_to_packed, list_to_padded, padded_to_list, padded_to_packed


def test_version():
    assert spacetime.__version__


def test_check_tensor_message():
    with pytest.raises(InputError, match=r"points: expected shape \(N, P, 3\), got \(2, 5, 4\)"):
        check_tensor(torch.zeros(2, 5, 4), "points", ("N", "P", 3))
    sizes = check_tensor(torch.zeros(2, 5, 3), "x", ("N", "P", 3))
    with pytest.raises(InputError, match="N=2"):
        check_tensor(torch.zeros(3, 5, 3), "y", ("N", "P", 3), sizes=sizes)
    with pytest.raises(InputError, match="expected a torch.Tensor"):
        check_tensor([1, 2], "x")
    with pytest.raises(InputError, match="finite"):
        check_tensor(torch.tensor([float("nan")]), "x", finite=True)
    assert issubclass(InputError, ValueError) and issubclass(InputError, SpacetimeError)


def test_ragged_roundtrip():
    a, b = torch.arange(4.0).view(2, 2), torch.arange(6.0).view(3, 2)
    padded = list_to_padded([a, b], pad_value=-1)
    assert padded.shape == (2, 3, 2) and padded[0, 2].eq(-1).all()
    packed, lengths, first, idx = list_to_packed([a, b])
    assert lengths.tolist() == [2, 3] and first.tolist() == [0, 2]
    assert idx.tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(padded_to_packed(padded, lengths), packed)
    back = padded_to_list(padded, lengths)
    assert torch.equal(back[0], a) and torch.equal(back[1], b)


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target) as f:
        f.write(b"ok")
    assert target.read_bytes() == b"ok"


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_atomic_write_file_mode_follows_umask(tmp_path):
    import os
    import stat

    target = tmp_path / "mode.bin"
    with atomic_write(target) as f:
        f.write(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
