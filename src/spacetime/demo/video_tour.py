"""Demo part 2: the lecture's video classifiers on the built-in synthetic motion classes.

The classes of :class:`~spacetime.video.SyntheticMotion` differ **only by motion** (the same kind
of textured object moves left/right/up/down, rotates or grows/shrinks; every single frame has the
same distribution in every class). A single-frame CNN therefore stays at chance while a slow-fusion
3D CNN learns the classes — the lecture's point, measured. Both models are trained with
:func:`spacetime.api.video.train` (the shared engine; validation on the val split) and evaluated
on the held-out test split with test-time clip averaging (:func:`spacetime.api.video.evaluate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spacetime.demo._report import Report, contact_sheet, format_table

__all__ = ["run_video_tour"]


def _clip_strip(video, n: int = 6) -> np.ndarray:
    """``(T, 3, H, W)`` uint8 → one ``(H, n*W, 3)`` strip of evenly spaced frames."""
    idx = np.linspace(0, video.shape[0] - 1, n).round().astype(int)
    frames = [video[i].permute(1, 2, 0).numpy() for i in idx]
    return np.concatenate(frames, axis=1)


def run_video_tour(out_dir: str | Path, *, seed: int = 0, quick: bool = False,
                   device: str = "cpu") -> dict:
    """Train single-frame vs slow-fusion on the motion classes (on ``device``); write a report
    under ``out_dir``; return the figures."""
    from spacetime.analysis import format_layer_table, layer_table
    from spacetime.api import video
    from spacetime.video import SyntheticMotion
    from spacetime.video.models import c3d, toy_early_fusion, toy_late_fusion, toy_slow_fusion

    out = Path(out_dir)
    report = Report(out, "spacetime demo — video: single frame vs 3D CNN")
    frames, size = 8, 32
    epochs = 3 if quick else 6

    ds = SyntheticMotion("test", classes="motion", videos_per_class=1, num_frames=frames,
                         size=size, seed=seed)
    strips = [_clip_strip(ds[i]["video"]) for i in range(len(ds))]
    sheet = contact_sheet(strips, ds.class_names, out / "motion_classes.png", cols=2)
    report.section(
        "The data",
        "Eight classes that differ only by motion (8 frames of 32×32; each row is one video).",
    )
    report.image(sheet.name, "one video per motion class")

    figures: dict = {}
    rows = []
    for name in ("single-frame", "slow-fusion"):
        run = out / "runs" / name
        video.train(name, "synthetic-motion", model_kwargs={"channels": [16, 32, 32]},
                    classes="motion", frames=frames, size=size, epochs=epochs,
                    optimizer="adam", lr=0.01, seed=seed, out=run, progress=False,
                    tensorboard=False, device=device)
        res = video.evaluate(run / "checkpoints" / "best.pt", num_clips=2, device=device,
                             out=run / "eval").metrics
        figures[name] = {"clip_top1": res["clip"]["top1"], "video_top1": res["video"]["top1"]}
        rows.append([name, f"{100 * res['clip']['top1']:.1f}",
                     f"{100 * res['video']['top1']:.1f}", f"{100 / 8:.1f}"])
        report.image(f"runs/{name}/curves.png", f"{name} training curves")
        report.image(f"runs/{name}/eval/confusion.png", f"{name} confusion matrix")
    report.section(
        "Test-split accuracy (%), video = mean of the probabilities of 2 clips",
        format_table(["model", "clip top-1", "video top-1", "chance"], rows),
    )

    tables = []
    for title, model, shape in (
        ("Late fusion", toy_late_fusion(num_classes=10), (3, 20, 64, 64)),
        ("Early fusion", toy_early_fusion(num_classes=10), (3, 20, 64, 64)),
        ("Slow fusion (3D CNN)", toy_slow_fusion(num_classes=10), (3, 20, 64, 64)),
        ("C3D", c3d(num_classes=101), (3, 16, 112, 112)),
    ):
        tables.append(f"### {title}\n\n```\n{format_layer_table(layer_table(model, shape))}\n```")
    report.section("The lecture's layer tables, computed from the models", "\n\n".join(tables))
    report.figures = figures
    report.save()
    return figures
