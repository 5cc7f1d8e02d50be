"""Small helpers shared by the demo parts: a Markdown report and a contact sheet of pictures."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spacetime.fileio import atomic_write

__all__ = ["Report", "contact_sheet", "format_table"]


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table that also reads well in a terminal."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class Report:
    """Collects Markdown sections and JSON figures; prints each section as it is added."""

    def __init__(self, out_dir: str | os.PathLike, title: str, *, verbose: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.lines = [f"# {title}", ""]
        self.figures: dict[str, object] = {}
        self.verbose = verbose

    def section(self, title: str, text: str = "") -> None:
        self.lines += [f"## {title}", "", text, ""] if text else [f"## {title}", ""]
        if self.verbose:
            print(f"\n== {title}")
            if text:
                print(text)

    def add(self, text: str) -> None:
        self.lines += [text, ""]
        if self.verbose:
            print(text)

    def image(self, rel_path: str, caption: str) -> None:
        self.lines += [f"![{caption}]({rel_path})", ""]

    def save(self, name: str = "README.md") -> Path:
        path = self.out_dir / name
        with atomic_write(path, "w") as f:
            f.write("\n".join(self.lines))
        with atomic_write(self.out_dir / "figures.json", "w") as f:
            json.dump(self.figures, f, indent=2, default=float)
        return path


def contact_sheet(
    images: Sequence[np.ndarray], titles: Sequence[str], path: str | os.PathLike, cols: int = 4
) -> Path:
    """Write a grid of ``(H, W, 3)`` uint8 pictures with titles as one PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from spacetime.fileio import atomic_path

    rows = (len(images) + cols - 1) // cols
    aspect = max(img.shape[0] / img.shape[1] for img in images)
    cell_w = 3.2 if aspect > 0.5 else 4.8
    fig = Figure(figsize=(cell_w * cols, (cell_w * aspect + 0.35) * rows), dpi=100)
    FigureCanvasAgg(fig)
    for i, (img, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
