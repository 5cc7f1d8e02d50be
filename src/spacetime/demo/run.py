"""Run every part of the demo and write ``OUT/README.md`` linking their reports, and
``OUT/index.html``: every part's pictures, tables and interactive 3D views in one page."""

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
    out_dir: str | Path, *, seed: int = 0, quick: bool = False, parts: Sequence[str] = PARTS,
    device: str = "auto",
) -> dict:
    """Run the chosen demo ``parts`` into ``out_dir/<part>/``; return their figures.

    ``device``: where the video models train and evaluate and where Horn-Schunck runs
    (``"auto"``: CUDA when available, else the CPU; ``"cpu"``, ``"cuda[:N]"``); the shape tour
    and OpenCV's flow methods run on the CPU."""
    from spacetime.demo.flow_tour import run_flow_tour
    from spacetime.demo.shapes_tour import run_shapes_tour
    from spacetime.demo.video_tour import run_video_tour
    from spacetime.engine.device import resolve_device
    from spacetime.errors import InputError

    runners = {"shapes": run_shapes_tour, "video": run_video_tour, "flow": run_flow_tour}
    unknown = [p for p in parts if p not in runners]
    if unknown:
        raise InputError(f"parts: expected a subset of {', '.join(PARTS)}, got {unknown}")
    device = resolve_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results, seconds = {}, {}
    for part in parts:
        print(f"\n########## demo part: {part} ##########", flush=True)
        t0 = time.perf_counter()
        kw = {} if part == "shapes" else {"device": device}
        results[part] = runners[part](out / part, seed=seed, quick=quick, **kw)
        seconds[part] = time.perf_counter() - t0
    lines = ["# spacetime demo", ""]
    for part in parts:
        lines.append(f"- [{_TITLES[part]}]({part}/README.md) — {seconds[part]:.0f} s")
    with atomic_write(out / "README.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    _write_index(out, parts, seconds)
    print(f"\nDemo finished: open {out / 'index.html'} in a browser (interactive 3D views), or "
          f"{out / 'README.md'} (pictures in each part's folder).")
    return results


def _write_index(out: Path, parts: Sequence[str], seconds: dict[str, float]) -> Path:
    """``out/index.html``: the parts' pages (``<part>/index.html``) gathered into one."""
    import html

    from spacetime.demo._report import part_body
    from spacetime.viz import html_page

    toc = "".join(f'<li><a href="#part-{p}">{html.escape(_TITLES[p])}</a> — '
                  f"{seconds[p]:.0f} s</li>" for p in parts)
    blocks = [f"<h1>spacetime demo</h1>\n<ul>{toc}</ul>\n"]
    for part in parts:
        page = (out / part / "index.html").read_text(encoding="utf-8")
        blocks.append(f'<section id="part-{part}"><hr>\n{part_body(page, part + "/")}'
                      "</section>\n")
    path = out / "index.html"
    with atomic_write(path, "wb") as f:
        f.write(html_page(blocks, title="spacetime demo").encode("utf-8"))
    return path
