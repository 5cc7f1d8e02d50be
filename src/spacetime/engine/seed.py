"""Seeding and random-number-generator state capture for reproducible training.

:func:`seed_everything` seeds Python's ``random``, NumPy's global generator, torch (CPU and every
CUDA device) and returns a ``torch.Generator`` for DataLoaders. :func:`seed_worker` is the
``worker_init_fn`` that derives each DataLoader worker's Python/NumPy seeds from the torch seed
torch already gives the worker (``base_seed + worker_id``), so augmentations in workers are
reproducible too.

:func:`get_rng_state` / :func:`set_rng_state` capture and restore all of these generators as
plain Python values and tensors only, so the state can be stored in a checkpoint that is loaded
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from spacetime.checks import check_int

__all__ = ["seed_everything", "seed_worker", "make_generator", "get_rng_state", "set_rng_state"]


def seed_everything(seed: int, *, deterministic: bool = False) -> torch.Generator:
    """Seed Python, NumPy, torch (CPU and all CUDA devices); return a seeded ``torch.Generator``.

    Args:
        seed: non-negative int.
        deterministic: also ask torch for deterministic kernels
            (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN benchmark off).
            Slower on GPU; on CPU results are already deterministic for a fixed thread count.

    Returns:
        A CPU ``torch.Generator`` seeded with ``seed``, to pass to ``DataLoader(generator=...)``.
    """
    check_int(seed, "seed", min_value=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by worker / child processes
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return make_generator(seed)


def make_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=seed_worker)``: seed Python and NumPy inside a worker.

    torch already seeds each worker with ``base_seed + worker_id`` where ``base_seed`` is drawn
    from the loader's generator; this derives the Python/NumPy seeds from that value.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def get_rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, Any]:
    """Capture Python, NumPy, torch CPU/CUDA RNG states (plus named generators) as plain data.

    Everything returned is a tensor, int, float, str, bool, None, list, tuple or dict, so it can
    be saved with ``torch.save`` and read back with ``torch.load(weights_only=True)``.
    """
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": {"version": version, "state": list(internal), "gauss": gauss},
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np.asarray(np_state["state"]["key"], dtype=np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
    }
    return state


def set_rng_state(
    state: dict[str, Any], generators: dict[str, torch.Generator] | None = None
) -> None:
    """Restore the states captured by :func:`get_rng_state` (CUDA only where available)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"]), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": npst["bit_generator"],
            "state": {
                "key": npst["key"].cpu().numpy().astype(np.uint32),
                "pos": int(npst["pos"]),
            },
            "has_gauss": int(npst["has_gauss"]),
            "gauss": float(npst["gauss"]),
        }
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        n = min(len(cuda_states), torch.cuda.device_count())
        for i in range(n):
            torch.cuda.set_rng_state(cuda_states[i].cpu(), i)
    saved = state.get("generators") or {}
    for name, g in (generators or {}).items():
        if name in saved:
            g.set_state(saved[name].cpu())
