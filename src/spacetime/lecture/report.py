"""The lab's result type and report (Markdown + HTML with the plots)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetime.checks import check_in
from spacetime.fileio import atomic_write

__all__ = ["VERDICTS", "SCALES", "ClaimResult", "write_report", "plot", "md_table"]

#: the three possible verdicts
VERDICTS = ("reproduced", "not reproduced at this scale", "the slide's number is wrong")
#: experiment sizes
SCALES = ("quick", "default", "full")


@dataclass
class ClaimResult:
    """One claim of the lecture and what the experiment found.

    Attributes:
        name: the experiment's key in :data:`~spacetime.lecture.EXPERIMENTS`.
        title: a short title.
        claim: the lecture's words (quoted).
        ran: what was run (models, data, sizes), one paragraph.
        numbers: the measurements (plain values; ``figures.json`` holds them all).
        verdict: one of :data:`VERDICTS`.
        why: the reason for the verdict, with the numbers that decide it (and, when not
            reproduced, what scale would be needed; when the slide is wrong, the right value).
        figures: pictures written into the experiment's folder (paths relative to the report).
        table: an optional Markdown table of the numbers.
        seconds: wall time of the experiment.
    """

    name: str
    title: str
    claim: str
    ran: str
    numbers: dict[str, Any]
    verdict: str
    why: str
    figures: list[str] = field(default_factory=list)
    table: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        check_in(self.verdict, "verdict", VERDICTS)


def plot(path: Path, draw: Any, *, size: tuple[float, float] = (6.4, 3.6)) -> Path:
    """Draw with ``draw(fig)`` on a matplotlib Agg figure and save it atomically as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from spacetime.fileio import atomic_path

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    draw(fig)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (floats with 4 significant digits)."""
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _md_to_html_table(table: str) -> str:
    rows = [r.strip().strip("|").split("|") for r in table.strip().splitlines()]
    if len(rows) < 2:
        return ""
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>"
                   for r in rows[2:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_BADGE = {"reproduced": "#1a7f37", "not reproduced at this scale": "#9a6700",
          "the slide's number is wrong": "#cf222e"}


def write_report(out: Path, results: Sequence[ClaimResult], scale: str) -> tuple[Path, Path]:
    """``out/README.md`` and ``out/index.html`` (self-contained but for the PNGs beside it)
    and ``out/figures.json``; returns the two report paths."""
    from spacetime.engine.rundir import write_json

    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    md = [f"# The lecture lab ({scale} scale)", "",
          f"{len(results)} claims: {summary}.", "",
          md_table(["claim", "verdict", "seconds"],
                   [[f"[{r.title}](#{r.name})", r.verdict, round(r.seconds, 1)]
                    for r in results]), ""]
    page = [f"<h1>The lecture lab ({html.escape(scale)} scale)</h1>",
            f"<p>{len(results)} claims: {html.escape(summary)}.</p>"]
    for r in results:
        md += [f'<a id="{r.name}"></a>', f"## {r.title}", "", f"> {r.claim}", "",
               f"**Verdict: {r.verdict}.** {r.why}", "", f"*What ran:* {r.ran}", ""]
        page += [f'<h2 id="{r.name}">{html.escape(r.title)}</h2>',
                 f"<blockquote>{html.escape(r.claim)}</blockquote>",
                 f'<p><b style="color:{_BADGE[r.verdict]}">Verdict: {html.escape(r.verdict)}'
                 f".</b> {html.escape(r.why)}</p>",
                 f"<p><i>What ran:</i> {html.escape(r.ran)}</p>"]
        if r.table:
            md += [r.table, ""]
            page.append(_md_to_html_table(r.table))
        for f in r.figures:
            md += [f"![{r.title}]({f})", ""]
            page.append(f'<p><img src="{html.escape(f)}" alt="{html.escape(r.title)}" '
                        'style="max-width:100%"></p>')
    style = ("body{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
             "blockquote{color:#555;border-left:4px solid #ccc;margin-left:0;padding-left:1em}")
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>spacetime lecture lab"
           f"</title><style>{style}</style></head><body>" + "\n".join(page) + "</body></html>")
    with atomic_write(out / "README.md", "w") as fh:
        fh.write("\n".join(md) + "\n")
    with atomic_write(out / "index.html", "w") as fh:
        fh.write(doc)
    write_json(out / "figures.json", {r.name: {"verdict": r.verdict, "numbers": r.numbers,
                                                "seconds": r.seconds} for r in results})
    return out / "README.md", out / "index.html"
