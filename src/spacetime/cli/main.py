"""Entry point of the ``spacetime`` command.

Each command family lives in its own module with a ``register(subparsers)`` function that adds
its parsers and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning
an exit code). Heavy imports happen inside ``func`` so that ``spacetime --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spacetime import __version__
from spacetime.cli import (
    demo,
    flow,
    lecture,
    meshrcnn,
    recipe,
    shapes,
    shapes_models,
    video,
    weights,
)
from spacetime.errors import SpacetimeError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spacetime",
        description="3D vision and video understanding: shapes, metrics, clips, models.",
    )
    parser.add_argument("--version", action="version", version=f"spacetime {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, lecture, shapes, shapes_models, meshrcnn, video, flow, weights,
                   recipe):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SpacetimeError as exc:
        print(f"spacetime: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # disk full, permission denied, destination is a directory, ...
        print(f"spacetime: error: {_os_error_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print("spacetime: error: out of memory (reduce the input or the sizes asked for)",
              file=sys.stderr)
        return 1


def _os_error_line(exc: OSError) -> str:
    """One line for a file-system failure: what happened, and to which path."""
    import errno

    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EFBIG: "file too large (disk full or file-size limit)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EISDIR: "destination is a directory",
        errno.ENOTDIR: "a parent of the path is not a directory",
        errno.EROFS: "read-only file system",
        errno.ENOENT: "no such file or directory",
    }.get(exc.errno or -1, exc.strerror or str(exc))
    where = exc.filename if exc.filename is not None else ""
    return f"{where}: {reason}" if where else f"{reason}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
