"""Suite-wide test settings: one torch thread per xdist worker, headless matplotlib,
hypothesis without deadlines (timings on a shared 2-core machine are noisy), and the device /
dtype matrix.

Device / dtype matrix (the kornia pattern): a test that takes a ``device`` argument runs once per
selected device, one that takes ``dtype`` once per selected dtype it supports.

- ``--device cpu|cuda|all`` (default ``all``: CPU, plus CUDA when ``torch.cuda.is_available()``).
  ``--device cuda`` without a CUDA device is a usage error ("no CUDA device"), not a silent skip.
  Every CUDA case carries the ``cuda`` marker, so ``pytest -m cuda`` runs exactly the CUDA cases;
  a test that needs CUDA by itself is marked ``@pytest.mark.cuda`` and skipped without a GPU.
- ``--dtype all|NAME[,NAME...]`` (names: float16, bfloat16, float32, float64; default ``all``).
  A test supports float32 and float64 unless it says otherwise with
  ``@pytest.mark.dtypes("float16", "bfloat16", "float32", "float64")`` (ops that claim half
  precision) or a narrower list (heavy tests); it runs the supported dtypes that are selected.

Ids read ``test_x[cpu-float32]``, ``test_x[cuda-float64]``.
"""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch
from hypothesis import settings

from tests._matrix import DEFAULT_DTYPES, DTYPES

matplotlib.use("Agg")

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

settings.register_profile("spacetime", deadline=None, max_examples=30)
settings.load_profile("spacetime")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spacetime", "device / dtype matrix")
    group.addoption(
        "--device", default="all", choices=("cpu", "cuda", "all"),
        help="devices for tests taking `device`: cpu, cuda, or all available (default all)",
    )
    group.addoption(
        "--dtype", default="all",
        help="dtypes for tests taking `dtype`: all (default) or a comma list of "
        + ",".join(DTYPES) + "; each test runs those it supports",
    )


def _selected_devices(config: pytest.Config) -> list[str]:
    choice = config.getoption("--device")
    if choice == "cpu":
        return ["cpu"]
    if choice == "cuda":
        return ["cuda"]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _selected_dtypes(config: pytest.Config) -> list[str]:
    raw = config.getoption("--dtype")
    if raw == "all":
        return list(DTYPES)
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if n not in DTYPES]
    if bad or not names:
        raise pytest.UsageError(
            f"--dtype: expected 'all' or a comma list of {', '.join(DTYPES)}, got {raw!r}"
        )
    return names


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dtypes(*names): dtypes the test supports (default float32, float64)"
    )
    if config.getoption("--device") == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError(
            "--device cuda: no CUDA device (torch.cuda.is_available() is False; "
            f"torch {torch.__version__}, built with CUDA {torch.version.cuda})"
        )
    _selected_dtypes(config)  # fail early on a bad --dtype


def _explicitly_parametrized(metafunc: pytest.Metafunc, name: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "device" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "device"):
        params = [
            pytest.param(d, id=d, marks=[pytest.mark.cuda] if d == "cuda" else [])
            for d in _selected_devices(config)
        ]
        metafunc.parametrize("device", params)
    if "dtype" in metafunc.fixturenames and not _explicitly_parametrized(metafunc, "dtype"):
        mark = metafunc.definition.get_closest_marker("dtypes")
        supported = mark.args if mark else DEFAULT_DTYPES
        unknown = [n for n in supported if n not in DTYPES]
        if unknown:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: unknown dtypes {unknown}")
        chosen = [n for n in _selected_dtypes(config) if n in supported]
        metafunc.parametrize("dtype", [pytest.param(DTYPES[n], id=n) for n in chosen])


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("cuda") and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (none available)")
