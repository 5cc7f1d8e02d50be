"""The device / dtype matrix itself (tests/conftest.py) and ``make test-gpu``: the target exists,
and without a GPU it fails at once and says "no CUDA device" (its check, the CUDA benchmark
runner and ``pytest --device cuda`` are called in-process: no subprocess start-ups)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU failure")


def test_fixtures_parametrize(request, device, dtype):
    """Ids read ``[cpu-float32]``; CUDA cases carry the ``cuda`` marker."""
    assert request.node.callspec.id in (f"{device}-{str(dtype).split('.')[1]}",)
    assert (request.node.get_closest_marker("cuda") is not None) == (device == "cuda")
    assert dtype in (torch.float32, torch.float64)  # the default supported set


@pytest.mark.dtypes("float16", "bfloat16")
def test_dtypes_marker_selects(dtype):
    assert dtype in (torch.float16, torch.bfloat16)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_gpu_target_exists():
    out = subprocess.run(["make", "-n", "test-gpu"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "run_all.py --check-cuda" in out.stdout
    assert "pytest -m cuda --device cuda" in out.stdout
    assert "run_all.py --device cuda" in out.stdout


@NO_GPU
def test_gpu_commands_fail_clearly_without_cuda(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import run_all
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for args in (["--check-cuda"], ["--device", "cuda"]):
        assert run_all.main(args) == 1
        assert "no CUDA device" in capsys.readouterr().err
    assert run_all.supports_device(ROOT / "benchmarks" / "bm_point_ops.py")
    assert run_all.supports_device(ROOT / "benchmarks" / "bm_chamfer.py")
    # pytest --device cuda: a usage error (exit 4), not a green run of zero tests
    from tests.conftest import pytest_configure

    with pytest.raises(pytest.UsageError, match="--device cuda: no CUDA device"):
        pytest_configure(_Config({"--device": "cuda", "--dtype": "all"}))


class _Config:
    """The two options the matrix reads, and ``addinivalue_line``."""

    def __init__(self, options):
        self.options = options

    def getoption(self, name):
        return self.options[name]

    def addinivalue_line(self, name, line):
        pass


def test_dtype_option_parsing():
    from tests.conftest import _selected_dtypes

    def config(value):
        return _Config({"--dtype": value})

    assert _selected_dtypes(config("all")) == ["float16", "bfloat16", "float32", "float64"]
    assert _selected_dtypes(config("float64, float16")) == ["float64", "float16"]
    for bad in ("float8", "", ","):
        with pytest.raises(pytest.UsageError, match="--dtype: expected 'all' or a comma list"):
            _selected_dtypes(config(bad))
