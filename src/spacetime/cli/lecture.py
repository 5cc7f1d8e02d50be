"""``spacetime lecture``: every claim of the lecture as an experiment with a verdict
(:mod:`spacetime.lecture`)."""

from __future__ import annotations

import argparse

from spacetime.cli._args import add_device

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime lecture``."""
    p = subparsers.add_parser(
        "lecture",
        help="run the lecture's claims as experiments; a report with plots and verdicts",
        description="Run one experiment per claim of the lecture (scale ambiguity, voxel "
        "memory, F1 and outliers, cubify, mesh topology, the edge regulariser, video sizes "
        "and costs, single-frame vs temporal models, two-stream networks, optical flow) and "
        "write OUT/README.md and OUT/index.html: the claim quoted, what ran, the plot, the "
        "numbers and a verdict.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="scale", const="quick",
                      help="small sizes: the whole lab in about a minute on 2 cores")
    size.add_argument("--full", action="store_const", dest="scale", const="full",
                      help="large sizes (hours on a CPU)")
    p.set_defaults(scale="default")
    p.add_argument("--only", default=None, metavar="NAME,...",
                   help="run only these experiments (default: all)")
    p.add_argument("--out", default="lecture_out", help="report folder (default lecture_out)")
    p.add_argument("--seed", type=int, default=0, help="one seed for everything (default 0)")
    add_device(p, "where the experiments that train a model train it")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from spacetime.lecture import run_lecture

    only = None if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    run_lecture(args.out, scale=args.scale, only=only, seed=args.seed, device=args.device,
                progress=not args.no_progress)
    return 0
