"""Run every part of the demo and write ``OUT/README.md`` linking their reports."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from spacetime.fileio import atomic_write

__all__ = ["PARTS", "run_demo"]

PARTS = ("shapes", "video", "flow")

_TITLES = {
    "shapes": "One shape, every 3D representation, and the metrics that compare them",
    "video": "Single-frame vs 3D CNN on classes that differ only by motion; layer tables",
    "flow": "Optical flow against exact ground truth",
}


def run_demo(
    out_dir: str | Path, *, seed: int = 0, quick: bool = False, parts: Sequence[str] = PARTS
) -> dict:
    """Run the chosen demo ``parts`` into ``out_dir/<part>/``; return their figures."""
    from spacetime.demo.flow_tour import run_flow_tour
    from spacetime.demo.shapes_tour import run_shapes_tour
    from spacetime.demo.video_tour import run_video_tour
    from spacetime.errors import InputError

    runners = {"shapes": run_shapes_tour, "video": run_video_tour, "flow": run_flow_tour}
    unknown = [p for p in parts if p not in runners]
    if unknown:
        raise InputError(f"parts: expected a subset of {', '.join(PARTS)}, got {unknown}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, seconds = {}, {}
    for part in parts:
        print(f"\n########## demo part: {part} ##########", flush=True)
        t0 = time.perf_counter()
        results[part] = runners[part](out / part, seed=seed, quick=quick)
        seconds[part] = time.perf_counter() - t0
    lines = ["# spacetime demo", ""]
    for part in parts:
        lines.append(f"- [{_TITLES[part]}]({part}/README.md) — {seconds[part]:.0f} s")
    with atomic_write(out / "README.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"\nDemo finished: open {out / 'README.md'} (pictures in each part's folder).")
    return results
