"""`spacetime weights`: convert other projects' published weight files into spacetime
checkpoints (over :mod:`spacetime.weights`; nothing is downloaded).

::

    spacetime weights formats                                   # what --from accepts
    spacetime weights convert c3d.pickle --from c3d-sports1m -o c3d_sports1m.pt
    spacetime weights convert c3d_ucf101.pth --from mmaction2-c3d --classes classInd.txt -o c3d.pt
    spacetime weights convert resnet18-f37072fd.pth --from torchvision --model single-frame \\
        -o sf_resnet18.pt
    spacetime video predict clip.mp4 --checkpoint c3d_sports1m.pt   # the weights' normalisation

See ``docs/weights.md`` for where to get each file and what is checked.
"""

from __future__ import annotations

import argparse
from typing import Any

from spacetime.cli._args import print_help, print_json

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime weights {formats,convert}``."""
    top = subparsers.add_parser(
        "weights", help="convert published weights (C3D Sports-1M, MMAction2, torchvision)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.set_defaults(func=lambda a: print_help(top))
    sub = top.add_subparsers(dest="weights_command", metavar="SUBCOMMAND")

    f = sub.add_parser("formats", help="list the formats --from accepts")
    f.set_defaults(func=_cmd_formats)

    c = sub.add_parser("convert", help="convert a weight file into a spacetime checkpoint",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    c.add_argument("src", help="the peer's weight file (.pth, .pt, .pickle, .pkl)")
    c.add_argument("--from", dest="from_format", required=True,
                   help="its format (spacetime weights formats)")
    c.add_argument("-o", "--out", required=True, help="the checkpoint to write (.pt)")
    c.add_argument("--classes", default=None,
                   help="text file with one class name per line (UCF101 classInd.txt works)")
    c.add_argument("--model", default=None,
                   help="torchvision: single-frame, late-fusion-pool, spatial-stream, "
                        "two-stream, voxel-gen, voxel-tubes, point-gen, occnet, matryoshka or "
                        "octree-gen")
    c.add_argument("--frames", type=int, default=None, help="torchvision: clip length stored")
    c.add_argument("--size", type=int, default=None, help="torchvision: crop size (224)")
    c.add_argument("--num-flows", type=int, default=None,
                   help="torchvision two-stream: L stacked flows (10)")
    c.add_argument("--flow-method", default=None,
                   help="torchvision two-stream: flow estimator at inference (dis)")
    c.add_argument("--fusion", default=None,
                   help="torchvision two-stream: average or linear (average)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=_cmd_convert)


def _cmd_formats(args: argparse.Namespace) -> int:
    from spacetime.weights import format_table

    print(format_table())
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from spacetime.weights import convert_weights

    options: dict[str, Any] = {k: v for k, v in (("classes", args.classes),
                                                  ("model", args.model),
                                                  ("frames", args.frames),
                                                  ("size", args.size),
                                                  ("num_flows", args.num_flows),
                                                  ("flow_method", args.flow_method),
                                                  ("fusion", args.fusion)) if v is not None}
    report = convert_weights(args.src, args.from_format, args.out, **options)
    if args.json:
        print_json(report.to_dict())
    else:
        print(report)
    return 0
