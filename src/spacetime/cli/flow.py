"""`spacetime flow`: optical flow from the command line.

Subcommands (``spacetime flow SUBCOMMAND --help`` for options)::

    spacetime flow pair A.png B.png -o flow.flo [--method dis] [--image flow.png] [--gt GT.flo]
        [--html pair.html]
    spacetime flow pair A.png B.png --checkpoint runs/raft/checkpoints/best.pt   # trained RAFT
    spacetime flow video VIDEO.mp4 -o DIR [--method dis] [--format flo|npy]   # + side-by-side mp4
    spacetime flow eval DIR [--method dis tvl1 ...] [--checkpoint CKPT]   # Middlebury / KITTI
    spacetime flow eval --checkpoint CKPT [--split test]  # the SyntheticFlow test split
    spacetime flow train [--out runs/raft] [--epochs 4]   # RAFT on the synthetic flow data
    spacetime flow cache VIDEO... -o DIR [--workers 2]    # two-stream flow cache (resumable)
    spacetime flow export DIR [--layout kitti]            # synthetic benchmark folder

Shortcut: when the first argument is not a subcommand, ``spacetime flow A.png B.png ...`` runs
``pair`` (first argument has an image extension) and ``spacetime flow VIDEO ...`` runs ``video``.
(The flow family parses its own arguments so that both forms work; options go after the
positional arguments.) ``train``, ``eval`` and ``--checkpoint`` run :mod:`spacetime.api.flow`;
a checkpoint carries its RAFT architecture (correlation levels) and flow updates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spacetime.cli._args import (
    DEVICE_HELP,
    add_device,
    add_train_options,
    json_dict,
    print_json,
    train_options,
)

__all__ = ["register", "build_flow_parser", "run_flow"]

_SUBCOMMANDS = ("pair", "video", "eval", "train", "cache", "export")
_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
_METHODS = (
    "farneback", "dis", "dis-ultrafast", "dis-fast", "dis-medium", "tvl1", "horn-schunck",
    "raft-small", "raft-large",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``spacetime flow`` (its subcommands are parsed by :func:`build_flow_parser`)."""
    p = subparsers.add_parser(
        "flow",
        help="optical flow: pair, video, eval, train, cache, export",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("argv", nargs=argparse.REMAINDER, help="subcommand and its arguments")
    p.set_defaults(func=run_flow)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", default=None, choices=_METHODS,
                   help="estimator (default dis; not with --checkpoint)")
    p.add_argument("--checkpoint", default=None,
                   help="a RAFT checkpoint from `flow train` (it carries its architecture)")
    p.add_argument("--iters", type=int, default=None,
                   help="RAFT flow updates (default: the checkpoint's, else 12)")
    add_device(p, "where horn-schunck / raft run (OpenCV's methods run on the CPU)")


def build_flow_parser() -> argparse.ArgumentParser:
    """The parser of ``spacetime flow`` subcommands."""
    from spacetime.api.flow import DEFAULTS

    parser = argparse.ArgumentParser(prog="spacetime flow", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="flow_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("pair", help="flow between two images")
    p.add_argument("frame1")
    p.add_argument("frame2")
    p.add_argument("-o", "--output", default=None, help="flow file: .flo, .png (KITTI) or .npy")
    p.add_argument("--image", default=None, help="write the Middlebury colour picture here")
    p.add_argument("--components", default=None,
                   help="write dx and dy grayscale images as PREFIX_dx.png, PREFIX_dy.png")
    p.add_argument("--quiver", default=None, help="write an arrow picture here")
    p.add_argument("--gt", default=None, help="ground-truth flow: print EPE / Fl-all / AE")
    p.add_argument("--html", default=None,
                   help="write an interactive page here: both frames and the flow (with --gt "
                        "also the true flow and the end-point error map)")
    _common(p)

    p = sub.add_parser("video", help="flow for every frame pair of a video")
    p.add_argument("video")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--format", default="flo", choices=("flo", "npy"))
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="resize the short side while decoding")
    p.add_argument("--no-mp4", action="store_true", help="skip the side-by-side mp4")
    _common(p)

    p = sub.add_parser(
        "eval", help="EPE / Fl-all / AE on a Middlebury- or KITTI-layout folder, or of a "
        "checkpoint on the SyntheticFlow test split",
        description="With ROOT: every pair of the folder; without: the SyntheticFlow split "
        "(test by default) at the checkpoint's training size and seed.",
    )
    p.add_argument("root", nargs="?", default=None,
                   help="benchmark folder (default: the SyntheticFlow split)")
    p.add_argument("--method", nargs="+", default=None, choices=_METHODS,
                   help="methods to score (default dis, or only the checkpoint)")
    p.add_argument("--checkpoint", default=None, help="also score this RAFT checkpoint")
    p.add_argument("--split", default="test", choices=("test", "val"),
                   help="SyntheticFlow split (without ROOT)")
    p.add_argument("--layout", default=None, choices=("middlebury", "kitti"))
    p.add_argument("--limit", type=int, default=None, help="score only the first N pairs")
    p.add_argument("--iters", type=int, default=None,
                   help="RAFT flow updates (default: the checkpoint's, else 12)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--out", default=None,
                   help="write metrics.json here (OUT/METHOD/metrics.json for several)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = sub.add_parser(
        "train", help="train RAFT on the built-in synthetic flow data",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train on the SyntheticFlow train split; validation (best.pt, the "
        "held-out EPE of flow_eval.json) uses its val split; `flow eval --checkpoint` scores "
        "the test split.",
    )
    p.add_argument("--model", default="raft-small", choices=("raft-small", "raft-large"))
    p.add_argument("--model-kwargs", type=json_dict, default={},
                   help="extra build_raft kwargs as JSON")
    p.add_argument("--size", type=int, nargs="+", default=[64, 64], metavar="PX",
                   help="frame size: H W, or H for square frames")
    p.add_argument("--train-samples", type=int, default=512)
    p.add_argument("--val-samples", type=int, default=64)
    p.add_argument("--iters", type=int, default=6, help="RAFT flow updates per pass")
    p.add_argument("--corr-levels", type=int, default=None,
                   help="correlation levels (default 4); 3 trains 64 px frames without "
                   "padding to 128 (CPU friendly)")
    p.add_argument("--init-checkpoint", default=None,
                   help="initial weights (torchvision RAFT state dict or spacetime checkpoint)")
    add_train_options(p, DEFAULTS)

    p = sub.add_parser("cache", help="precompute the flow of many videos (resumable)")
    p.add_argument("videos", nargs="+", help="video files or folders of videos")
    p.add_argument("-o", "--output", required=True, help="cache folder")
    p.add_argument("--method", default="dis", choices=_METHODS)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--bound", type=float, default=20.0)
    p.add_argument("--format", default="png", choices=("png", "jpg", "npy"))
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--rank", type=int, default=None,
                   help="this process's share: every WORLD_SIZE-th video from RANK (default: "
                   "torchrun's RANK / WORLD_SIZE; shard one cache across machines)")
    p.add_argument("--world-size", type=int, default=None)
    add_device(p, "where horn-schunck / raft run, in every worker (OpenCV's methods run on "
               "the CPU; under torchrun, cuda means cuda:LOCAL_RANK)")

    p = sub.add_parser("export", help="write a synthetic Middlebury/KITTI-layout folder")
    p.add_argument("root")
    p.add_argument("--layout", default="middlebury", choices=("middlebury", "kitti"))
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--size", type=int, nargs=2, default=(96, 128), metavar=("H", "W"))
    p.add_argument("--seed", type=int, default=0)
    return parser


def _dispatch_argv(argv: list[str]) -> list[str]:
    if argv and argv[0] not in _SUBCOMMANDS and not argv[0].startswith("-"):
        kind = "pair" if Path(argv[0]).suffix.lower() in _IMAGE_EXTS else "video"
        return [kind, *argv]
    return argv


def _estimator(args: argparse.Namespace) -> tuple[Any, str]:
    """``(what api.flow.predict takes, its name)`` for ``--method`` / ``--checkpoint``."""
    if args.checkpoint is None:
        method = args.method or "dis"
        return method, method
    from spacetime.api import flow
    from spacetime.errors import InputError

    if args.method is not None:
        raise InputError(f"--method {args.method}: --checkpoint gives the model; drop one")
    loaded = flow.load_model(args.checkpoint, device=args.device)
    return loaded, f"{loaded.spec.model} ({args.checkpoint})"


def _cmd_pair(args: argparse.Namespace) -> int:
    import torch

    from spacetime.api.flow import predict
    from spacetime.video.flow import (
        flow_components_to_images,
        flow_metrics,
        flow_quiver,
        flow_to_image,
        read_flow,
        write_flow,
    )
    from spacetime.video.flow.evaluate import read_image, write_image

    target, label = _estimator(args)
    a, b = read_image(args.frame1), read_image(args.frame2)
    flow = predict(target, a, b, device=args.device, num_flow_updates=args.iters)
    mag = flow.norm(dim=0)
    print(f"{label}: flow {tuple(flow.shape[1:])} mean |F| {float(mag.mean()):.3f} px, "
          f"max {float(mag.max()):.3f} px")
    if args.output:
        print(f"wrote {write_flow(args.output, flow)}")
    if args.image:
        print(f"wrote {write_image(args.image, flow_to_image(flow))}")
    if args.components:
        dx, dy = flow_components_to_images(flow)
        for name, img in (("dx", dx), ("dy", dy)):
            print(f"wrote {write_image(f'{args.components}_{name}.png', img.numpy())}")
    if args.quiver:
        print(f"wrote {flow_quiver(torch.from_numpy(a).permute(2, 0, 1), flow, args.quiver)}")
    gt = read_flow(args.gt) if args.gt else None
    if gt is not None:
        m = flow_metrics(flow, gt)
        print(f"EPE {m['epe']:.4f} px  Fl-all {m['fl_all']:.2f} %  AE {m['ae']:.2f} deg")
    if args.html:
        from spacetime.viz import view_flow_pair

        page = view_flow_pair(a, b, flow, gt=gt, title=f"{label}: {args.frame1} → {args.frame2}")
        print(f"wrote {page.save(args.html)}")
    return 0


def _cmd_video(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    from spacetime.api.flow import predict
    from spacetime.video.flow import flow_to_image, write_flow
    from spacetime.video.io import read_video, video_info, write_video

    info = video_info(args.video)
    frames = read_video(args.video, num_frames=args.max_frames, size=args.size)
    if frames.shape[0] < 2:
        from spacetime.errors import InputError

        raise InputError(f"video: {args.video} has fewer than 2 frames")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    target, _ = _estimator(args)
    flows = []
    for s in range(0, frames.shape[0] - 1, 16):
        chunk = frames[s : s + 17]
        flows.append(predict(target, chunk[:-1], chunk[1:], device=args.device,
                             num_flow_updates=args.iters))
    flow = torch.cat(flows)
    for i, fl in enumerate(flow):
        write_flow(out / f"flow_{i:05d}.{args.format}", fl)
    print(f"wrote {flow.shape[0]} flows to {out}")
    if not args.no_mp4:
        max_flow = float(flow.norm(dim=1).max()) or 1.0
        colours = flow_to_image(flow, max_flow=max_flow)
        side = torch.cat([frames[:-1], colours], dim=3)
        h, w = side.shape[-2:]
        side = F.pad(side, (0, w % 2, 0, h % 2))
        p = write_video(out / "side_by_side.mp4", side, fps=info.fps)
        print(f"wrote {p} (frames | flow colours, max |F| {max_flow:.2f} px)")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from spacetime.api import flow

    targets: list[str] = list(args.method or ([] if args.checkpoint else ["dis"]))
    if args.checkpoint:
        targets.append(args.checkpoint)
    results = []
    for target in targets:
        out = None
        if args.out is not None:
            name = "checkpoint" if target == args.checkpoint else target
            out = Path(args.out) if len(targets) == 1 else Path(args.out) / name
        raft = target == args.checkpoint or target.startswith("raft")
        res = flow.evaluate(target, root=args.root, split=args.split, layout=args.layout,
                            limit=args.limit, num_flow_updates=args.iters if raft else None,
                            batch_size=args.batch_size, device=args.device, out=out)
        results.append(res)
        if not args.json:
            print(res)
            if res.files:
                print("wrote " + " and ".join(str(f) for f in res.files))
            print()
    if args.json:
        dicts = [r.to_dict() for r in results]
        print_json(dicts[0] if len(dicts) == 1 else dicts)
    elif len(results) > 1:
        print(f"{'method':<16} {'EPE':>8} {'Fl-all%':>8} {'AE deg':>8} {'ms/pair':>9}")
        for r in results:
            m = r.metrics
            print(f"{r.model:<16} {m['epe']:>8.3f} {m['fl_all']:>8.2f} {m['ae']:>8.2f} "
                  f"{1000 * m['time_s']:>9.1f}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from spacetime.api import flow

    opts = train_options(args)
    flow.train(args.model, model_kwargs=args.model_kwargs, size=tuple(args.size),
               train_samples=args.train_samples, val_samples=args.val_samples,
               num_flow_updates=args.iters, corr_levels=args.corr_levels,
               init_checkpoint=args.init_checkpoint, **opts)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from spacetime.engine.device import process_device
    from spacetime.video.flow.cache import compute_dataset_flow

    videos: list[Path] = []
    exts = {".mp4", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v"}
    for v in args.videos:
        p = Path(v)
        if p.is_dir():
            videos.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in exts))
        else:
            videos.append(p)
    device = process_device(args.device)  # under torchrun: this process's GPU
    torch_method = args.method == "horn-schunck" or args.method.startswith("raft")
    res = compute_dataset_flow(
        videos, args.output, method=args.method, workers=args.workers, bound=args.bound,
        format=args.format, size=args.size, max_frames=args.max_frames,
        progress=sys.stderr.isatty(), rank=args.rank, world_size=args.world_size,
        **({"device": device} if torch_method else {}),
    )
    shard = (f"rank {res['rank']} of {res['world_size']}: {res['shard']} of {len(videos)} "
             "videos; " if res["world_size"] > 1 else "")
    print(f"{shard}computed {len(res['computed'])} videos ({res['pairs']} pairs, "
          f"{res['pairs_per_s']:.1f} pairs/s), skipped {len(res['skipped'])} already done, "
          f"failed {len(res['failed'])}")
    for name, msg in res["failed"].items():
        print(f"  failed {name}: {msg}")
    return 1 if res["failed"] else 0


def _cmd_export(args: argparse.Namespace) -> int:
    from spacetime.video.flow import SyntheticFlow
    from spacetime.video.flow.evaluate import export_flow_folder

    ds = SyntheticFlow(args.count, tuple(args.size), split="val", seed=args.seed)
    root = export_flow_folder(args.root, ds, layout=args.layout)
    print(f"wrote {args.count} synthetic pairs to {root} ({args.layout} layout)")
    return 0


_COMMANDS = {
    "pair": _cmd_pair,
    "video": _cmd_video,
    "eval": _cmd_eval,
    "train": _cmd_train,
    "cache": _cmd_cache,
    "export": _cmd_export,
}


def run_flow(args: argparse.Namespace) -> int:
    """Entry point of ``spacetime flow``: parse the remainder and run the subcommand."""
    argv = list(getattr(args, "argv", []) or [])
    if not argv:
        build_flow_parser().print_help()
        return 2
    inner = build_flow_parser().parse_args(_dispatch_argv(argv))
    return _COMMANDS[inner.flow_command](inner)
