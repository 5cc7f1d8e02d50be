"""Run every benchmark script in this folder, one after another, and print their tables.

Usage: ``python benchmarks/run_all.py [--device cpu|cuda] [NAME ...]`` (names like ``chamfer`` or
``bm_chamfer``; default: all). Each benchmark prints its own table with ratios measured in one
run; the figures reported in ``benchmarks/README.md`` come from these scripts on a 2-core CPU
machine.

``--device cuda`` runs only the benchmarks that take a ``--device`` flag (their ops run on CUDA),
passing it on; it fails at once with "no CUDA device" when there is none (``make test-gpu``).
``--check-cuda`` only does that check.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cuda_problem() -> str | None:
    """Why CUDA cannot be used here, or None when a CUDA device is available."""
    import torch

    if torch.cuda.is_available():
        return None
    return (f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda})")


def supports_device(script: Path) -> bool:
    """Whether a benchmark takes ``--device`` (and so can run its ops on CUDA)."""
    return 'add_argument("--device"' in script.read_text(encoding="utf-8")


def main(argv: list[str]) -> int:
    argv = list(argv)
    device = "cpu"
    if "--check-cuda" in argv:
        problem = cuda_problem()
        print(problem or "CUDA device available", file=sys.stderr if problem else sys.stdout)
        return 1 if problem else 0
    if "--device" in argv:
        i = argv.index("--device")
        if i + 1 >= len(argv) or argv[i + 1] not in ("cpu", "cuda"):
            print("--device: expected cpu or cuda", file=sys.stderr)
            return 2
        device = argv[i + 1]
        del argv[i : i + 2]
    scripts = sorted(HERE.glob("bm_*.py"))
    if argv:
        wanted = {a if a.startswith("bm_") else f"bm_{a}" for a in argv}
        scripts = [s for s in scripts if s.stem in wanted]
        missing = wanted - {s.stem for s in scripts}
        if missing:
            print(f"unknown benchmark(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    extra: list[str] = []
    if device == "cuda":
        problem = cuda_problem()
        if problem:
            print(f"run_all.py --device cuda: {problem}", file=sys.stderr)
            return 1
        skipped = [s.stem for s in scripts if not supports_device(s)]
        scripts = [s for s in scripts if supports_device(s)]
        print(f"CUDA benchmarks: {', '.join(s.stem for s in scripts) or 'none'} "
              f"(CPU-only, skipped: {', '.join(skipped) or 'none'})", flush=True)
        extra = ["--device", "cuda"]
    failed = []
    for script in scripts:
        print(f"\n===== {script.stem} =====", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *extra])
        print(f"----- {script.stem}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
