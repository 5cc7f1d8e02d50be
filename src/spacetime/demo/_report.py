"""Small helpers shared by the demo parts: a report (Markdown ``README.md`` and an HTML
``index.html`` with the interactive 3D views next to the pictures and tables) and a contact
sheet of pictures."""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from spacetime.fileio import atomic_write

__all__ = ["Report", "contact_sheet", "format_table", "markdown_to_html", "part_body",
           "BODY_BEGIN", "BODY_END"]

#: markers around a part page's body, so that the demo's index.html can gather the parts
BODY_BEGIN, BODY_END = "<!-- spacetime-part-begin -->", "<!-- spacetime-part-end -->"


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)
    return out


def markdown_to_html(text: str) -> str:
    """The little Markdown the demo reports use, as HTML: ``#`` headings, pipe tables (from
    :func:`format_table`), fenced code blocks, paragraphs with inline code and links."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(set(c) <= {"-", ":"} for c in cells):
                    rows.append(cells)
                i += 1
            head = "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) if rows else ""
            body = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>"
                           for r in rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif not line.strip():
            i += 1
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not lines[j].startswith(
                    ("|", "#", "```")):
                j += 1
            out.append("<p>" + _inline(" ".join(lines[i:j])) + "</p>")
            i = j
    return "\n".join(out)


def part_body(page: str, prefix: str) -> str:
    """The body of a part page written by :meth:`Report.save`, with its relative links and
    pictures moved under ``prefix`` (for the demo's index page one folder up)."""
    start, end = page.index(BODY_BEGIN) + len(BODY_BEGIN), page.index(BODY_END)
    body = page[start:end]
    return re.sub(r'(src|href)="(?![a-z][a-z0-9+.-]*:|#|/)([^"]*)"',
                  lambda m: f'{m.group(1)}="{prefix}{m.group(2)}"', body)


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
        self.title = title
        self.lines = [f"# {title}", ""]
        self.blocks: list[Any] = []  # HTML strings and interactive figures, in order
        self.figures: dict[str, object] = {}
        self.verbose = verbose

    def section(self, title: str, text: str = "") -> None:
        self.lines += [f"## {title}", "", text, ""] if text else [f"## {title}", ""]
        self.blocks.append(f"<h2>{_inline(title)}</h2>\n" + markdown_to_html(text))
        if self.verbose:
            print(f"\n== {title}")
            if text:
                print(text)

    def add(self, text: str) -> None:
        self.lines += [text, ""]
        self.blocks.append(markdown_to_html(text))
        if self.verbose:
            print(text)

    def image(self, rel_path: str, caption: str) -> None:
        self.lines += [f"![{caption}]({rel_path})", ""]
        self.blocks.append(f'<figure><img class="st-picture" src="{html.escape(rel_path)}" '
                           f'alt="{html.escape(caption)}"><figcaption>{_inline(caption)}'
                           "</figcaption></figure>")

    def view(self, figure: Any, caption: str) -> None:
        """An interactive 3D view (a :class:`spacetime.viz.Figure`): embedded in
        ``index.html``, named in ``README.md``."""
        self.lines += [f"*Interactive 3D view in [index.html](index.html): {caption}.*", ""]
        self.blocks += [f"<p><em>{_inline(caption)}</em></p>", figure]

    def save(self, name: str = "README.md") -> Path:
        """Write ``README.md`` (or ``name``), ``figures.json`` and ``index.html`` (the same
        report with the interactive views); return the Markdown path."""
        from spacetime.viz import write_html

        path = self.out_dir / name
        with atomic_write(path, "w") as f:
            f.write("\n".join(self.lines))
        with atomic_write(self.out_dir / "figures.json", "w") as f:
            json.dump(self.figures, f, indent=2, default=float)
        write_html(self.out_dir / "index.html",
                   [f"<h1>{_inline(self.title)}</h1>\n{BODY_BEGIN}\n", *self.blocks,
                    f"\n{BODY_END}\n"], title=self.title)
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
