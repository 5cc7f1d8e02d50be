"""``spacetime demo``: the guided tour on built-in synthetic data (see :mod:`spacetime.demo`)."""

from __future__ import annotations

import argparse

from spacetime.cli._args import add_device

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime demo`` to ``subparsers``."""
    p = subparsers.add_parser(
        "demo",
        help="run the guided tour on built-in synthetic data (pictures + reports)",
        description="Run the guided tour: 3D representations and metrics, single-frame vs 3D "
        "CNN on motion-only classes, optical flow. Writes OUT/README.md and pictures.",
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--seed", type=int, default=0, help="one seed for everything (default: 0)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer epochs")
    p.add_argument(
        "--parts", default="shapes,video,flow",
        help="comma-separated parts to run (default: shapes,video,flow)",
    )
    add_device(p, "where the demo's models train and its flow / shape computations run")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from spacetime.demo import run_demo

    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    run_demo(args.out, seed=args.seed, quick=args.quick, parts=parts, device=args.device)
    return 0
