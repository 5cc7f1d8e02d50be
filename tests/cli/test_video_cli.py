import pytest

from spacetime.cli.main import main


def test_table_c3d_matches_lecture(capsys):
    assert main(["video", "table", "c3d"]) == 0
    out = capsys.readouterr().out
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1 "))
    assert "64 x 16 x 112 x 112" in conv1 and " 1.04 " in conv1
    conv2 = next(line for line in out.splitlines() if line.startswith("conv2 "))
    assert "11.10" in conv2


def test_table_toy_slow_fusion_default_input(capsys):
    assert main(["video", "table", "toy-slow-fusion", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "input 3 x 20 x 64 x 64" in out
    pool = next(line for line in out.splitlines() if "pool1" in line)
    assert "12 x 5 x 16 x 16" in pool and "6 x 6 x 6" in pool


def test_table_errors(capsys):
    assert main(["video", "table", "nope"]) == 1
    assert "model: expected one of" in capsys.readouterr().err
    assert main(["video", "table", "c3d", "--input", "3,16,112"]) == 1
    assert "--input: expected C,T,H,W" in capsys.readouterr().err
    assert main(["video", "table", "c3d", "--model-kwargs", '{"bogus": 1}']) == 1
    assert "does not take 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["video", "table", "c3d", "--model-kwargs", "[1]"])
