"""`spacetime recipe`: the full-scale recipes, one per paper result (over
:mod:`spacetime.recipes`).

::

    spacetime recipe list                                   # name, paper, expected, GPU-hours
    spacetime recipe show c3d-ucf101                        # data layout, settings, commands
    spacetime recipe run c3d-ucf101 --data /data/ucf101 --device cuda
    spacetime recipe run c3d-ucf101 --data /data/ucf101 --device cuda --gpus 8   # torchrun
    spacetime recipe run pointnet-modelnet40 --data /data/ModelNet40 --smoke --device cpu

Several machines: ``torchrun --nnodes M --nproc_per_node N --rdzv_backend c10d
--rdzv_endpoint HOST:PORT -m spacetime recipe run NAME --data DIR`` on every machine
(docs/recipes.md, with a SLURM script).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from spacetime.cli._args import LazyChoices, print_help, print_json

__all__ = ["register"]


def _names() -> list[str]:
    from spacetime.recipes import recipe_names

    return recipe_names()


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime recipe {list,show,run}``."""
    top = subparsers.add_parser(
        "recipe", help="full-scale recipes reproducing the papers' numbers",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.set_defaults(func=lambda a: print_help(top))
    sub = top.add_subparsers(dest="recipe_command", metavar="SUBCOMMAND")

    p = sub.add_parser("list", help="every recipe: name, paper, expected numbers, GPU-hours")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="a recipe's data layout, settings, numbers and commands")
    p.add_argument("name", choices=LazyChoices(_names), metavar="NAME")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("run", help="train, evaluate with the paper's protocol, compare",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", choices=LazyChoices(_names), metavar="NAME")
    p.add_argument("--data", required=True, help="the dataset folder (spacetime recipe show)")
    p.add_argument("--out", default=None, help="run directory (default runs/NAME)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--gpus", type=int, default=1,
                   help="processes on this machine: > 1 re-launches under torchrun")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    p.add_argument("--smoke", action="store_true",
                   help="the executable check: batch 1, two steps, the recipe's reduced sizes")
    p.add_argument("--prepare-only", action="store_true",
                   help="only the data preparation (two-stream: the flow cache; sharded by "
                   "rank under torchrun)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--set", dest="overrides", action="append", default=[], type=_assignment,
                   metavar="NAME=VALUE",
                   help="override a train argument (VALUE: JSON, else a string; batch_size "
                   "is the global batch), e.g. --set batch_size=240 --set lr=0.001")
    p.add_argument("--dry-run", action="store_true",
                   help="with --gpus N: print the torchrun command instead of running it")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_run)


def _assignment(text: str) -> tuple[str, object]:
    """``"lr=0.001"`` → ``("lr", 0.001)``; a value that is not JSON stays a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip(), json.loads(value)
    except json.JSONDecodeError:
        return name.strip(), value


def _cmd_list(args: argparse.Namespace) -> int:
    from spacetime.recipes import list_recipes, recipe_table

    recipes = list_recipes()
    if args.json:
        print_json([{"name": r.name, "paper": r.paper, "title": r.title,
                     "expected": r.expected(), "gpu_hours": r.gpu_hours} for r in recipes])
    else:
        print(recipe_table(recipes))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from spacetime.recipes import describe, load_recipe

    print(describe(load_recipe(args.name)))
    return 0


def _relaunch_args(args: argparse.Namespace) -> list[str]:
    extra = ["--device", args.device]
    if args.out is not None:
        extra += ["--out", args.out]
    if args.max_steps is not None:
        extra += ["--max-steps", str(args.max_steps)]
    for name, value in args.overrides:
        extra += ["--set", f"{name}={json.dumps(value)}"]
    extra += [flag for flag, on in (("--smoke", args.smoke), ("--prepare-only",
                                                              args.prepare_only),
                                    ("--resume", args.resume), ("--json", args.json)) if on]
    return extra


def _cmd_run(args: argparse.Namespace) -> int:
    from spacetime.errors import InputError
    from spacetime.recipes import format_command, run_recipe, torchrun_command

    if args.gpus < 1:
        raise InputError(f"--gpus: expected at least 1, got {args.gpus}")
    if args.gpus > 1 and "LOCAL_RANK" not in os.environ:  # not yet under torchrun
        import subprocess

        cmd = torchrun_command(args.name, args.data, gpus=args.gpus,
                               extra=_relaunch_args(args))
        print(format_command(cmd), flush=True)
        return 0 if args.dry_run else subprocess.call(cmd)
    run = run_recipe(args.name, args.data, out=args.out, device=args.device,
                     max_steps=args.max_steps, smoke=args.smoke,
                     prepare_only=args.prepare_only, resume=args.resume,
                     overrides=dict(args.overrides), log=lambda line: print(line, flush=True))
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.json:
        print_json(run.to_dict())
    elif args.prepare_only:
        print(f"prepared: {run.prepared or 'nothing to prepare for ' + args.name}")
    else:
        print(run)
    sys.stdout.flush()
    return 0
