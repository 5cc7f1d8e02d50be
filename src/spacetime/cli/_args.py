"""Argument types and small helpers shared by the ``spacetime`` command families."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["int_list", "json_dict", "print_help"]


def int_list(text: str) -> tuple[int, ...]:
    """``"3,16,112,112"`` or ``"3x16x112x112"`` → ``(3, 16, 112, 112)``."""
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from exc


def json_dict(text: str) -> dict[str, Any]:
    """A JSON object given on the command line, e.g. ``'{"channels": [16, 32]}'``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def print_help(parser: argparse.ArgumentParser) -> int:
    """Print ``parser``'s help; exit code 2 (a command family called without a subcommand)."""
    parser.print_help()
    return 2
