"""Run every benchmark script in this folder, one after another, and print their tables.

Usage: ``python benchmarks/run_all.py [NAME ...]`` (names like ``chamfer`` or ``bm_chamfer``;
default: all). Each benchmark prints its own table with ratios measured in one run; the figures
reported in ``benchmarks/README.md`` come from these scripts on a 2-core CPU machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bm_*.py"))
    if argv:
        wanted = {a if a.startswith("bm_") else f"bm_{a}" for a in argv}
        scripts = [s for s in scripts if s.stem in wanted]
        missing = wanted - {s.stem for s in scripts}
        if missing:
            print(f"unknown benchmark(s): {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    failed = []
    for script in scripts:
        print(f"\n===== {script.stem} =====", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"----- {script.stem}: exit {rc}, {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
