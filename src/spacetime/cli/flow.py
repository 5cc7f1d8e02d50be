"""`spacetime flow` subcommands (filled in by its owner)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to `subparsers`."""
