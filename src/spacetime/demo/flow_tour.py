"""Demo part 3: optical flow F(x, y) = (dx, dy) with I_{t+1}(x + dx, y + dy) = I_t(x, y).

A pair from the built-in synthetic flow data (textured layers moved by known affine motions, so
the ground truth is exact) is given to the classical estimators (OpenCV's Farnebäck, DIS and
TV-L1, and our batched differentiable Horn–Schunck); the report shows each flow in the Middlebury
colour wheel next to the ground truth, with end-point error and time per pair.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from spacetime.demo._report import Report, contact_sheet, format_table

__all__ = ["run_flow_tour"]


def _rgb(t) -> np.ndarray:
    return (t.permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)


def run_flow_tour(out_dir: str | Path, *, seed: int = 0, quick: bool = False,
                  device: str = "cpu") -> dict:
    """Estimate flow on a synthetic pair with every classical method (Horn-Schunck on
    ``device``, OpenCV's on the CPU); write a report."""
    from spacetime.video.flow import (
        SyntheticFlow,
        end_point_error,
        estimate_flow,
        flow_to_image,
        outlier_rate,
    )

    out = Path(out_dir)
    report = Report(out, "spacetime demo — optical flow")
    size = (96, 128) if quick else (192, 256)
    item = SyntheticFlow(1, size, split="test", seed=seed, max_translation=6.0)[0]
    gt = item["flow"]
    valid = item["valid"] & ~item["occlusion"]
    pics = [(_rgb(item["frame1"]), "frame t"), (_rgb(item["frame2"]), "frame t+1")]
    max_flow = float(gt.norm(dim=0).max())
    pics.append((flow_to_image(gt, max_flow=max_flow).permute(1, 2, 0).numpy(),
                 "ground truth"))
    rows, figures = [], {}
    dis_flow = gt
    for method in ("farneback", "dis", "tvl1", "horn-schunck"):
        t0 = time.perf_counter()
        dev = {"device": device} if method == "horn-schunck" else {}
        flow = estimate_flow(item["frame1"], item["frame2"], method=method, **dev).cpu()
        dt = time.perf_counter() - t0
        epe = float(end_point_error(flow, gt, valid))
        fl = float(outlier_rate(flow, gt, valid))
        figures[method] = {"epe": epe, "fl_all": fl, "seconds": dt}
        rows.append([method, round(epe, 3), f"{100 * fl:.1f}", round(1000 * dt, 1)])
        if method == "dis":
            dis_flow = flow
        img = flow_to_image(flow, max_flow=max_flow).permute(1, 2, 0).numpy()
        pics.append((img, f"{method}: EPE {epe:.2f} px"))
    sheet = contact_sheet([p for p, _ in pics], [c for _, c in pics], out / "flow.png", cols=4)
    report.section(
        f"Flow on a {size[1]}×{size[0]} synthetic pair (non-occluded pixels)",
        format_table(["method", "EPE (px)", "Fl-all %", "ms"], rows),
    )
    report.image(sheet.name, "frames, ground-truth flow and estimates (hue = direction)")
    from spacetime.viz import Figure

    report.view(Figure("flow fields with their colour key", cols=2, height=260)
                .add_flow(gt, title="ground truth", max_flow=max_flow)
                .add_flow(dis_flow, title="DIS estimate", max_flow=max_flow),
                "the ground-truth flow and the DIS estimate, with the colour wheel")
    report.figures = figures
    report.save()
    return figures
