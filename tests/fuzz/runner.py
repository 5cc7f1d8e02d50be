"""Run a batch of fuzz cases (from :mod:`tests.fuzz.corpus`) in this process and print one JSON
line per case: ``{"id", "outcome", "detail"}``.

Run as ``python -m tests.fuzz.runner CASES.json START STOP`` in a subprocess that has a memory
limit (RLIMIT_AS) and a timeout (see ``test_fuzz.py``). A ``start`` line is printed before each
case, so that a hang or a crash names the case. Outcomes:

- ``rejected``: a spacetime error (or OSError for writes), as it should;
- ``accepted``: the input loaded (fine unless the case says ``must_reject``);
- ``traceback``: any other exception (always a failure);
- ``clobbered``: a failing write changed the destination or left a file behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spacetime.errors import SpacetimeError

PREVIOUS = b"previous content that must survive"


def _reader(name: str):
    from spacetime.shapes import io as sio
    from spacetime.video.flow import io as fio

    if name == "load_model":
        from spacetime.api import load_model

        return lambda p: load_model(p, device="cpu")
    if name == "read_video":
        from spacetime.video.io import read_video

        return read_video
    if name == "video_folder":
        from spacetime.video.datasets.folder import VideoFolder

        def load(p):
            from spacetime.errors import FileFormatError

            ds = VideoFolder(p)
            items = [ds[i] for i in range(len(ds))]
            if any(type(x).__name__ == "SkippedItem" for x in items):
                # unreadable clips are skipped with a BadVideoWarning naming the file, by design
                raise FileFormatError("unreadable clips skipped with BadVideoWarning")
            return items
        return load
    if name == "flow_folder":
        from spacetime.video.flow.evaluate import evaluate_flow_folder

        return lambda p: evaluate_flow_folder(p, method="farneback")
    if name == "read_rgb_image":
        return sio.read_rgb_image
    if hasattr(sio, name):
        return getattr(sio, name)
    return getattr(fio, name)


def _run_cli(argv: list[str]) -> tuple[str, str]:
    """``spacetime`` in this process: (outcome, detail). A clean error returns 1 or 2."""
    from spacetime.cli.main import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    except BaseException as exc:  # noqa: BLE001 - anything escaping main is a traceback
        return "traceback", f"CLI {type(exc).__name__}: {str(exc)[:200]}"
    text = err.getvalue()
    if rc not in (0, 1, 2) or "Traceback" in text:
        return "traceback", f"CLI rc={rc} {text[-300:]}"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if rc != 0 and (not lines or not lines[-1].startswith(("spacetime: error:", "usage:",
                                                            "spacetime "))):
        return "traceback", f"CLI rc={rc} without an error line: {text[-200:]}"
    return ("rejected" if rc else "accepted"), text.strip()[-200:]


def run_read(case: dict[str, Any], out: Path) -> tuple[str, str]:
    try:
        _reader(case["reader"])(case["path"])
        outcome, detail = "accepted", ""
    except SpacetimeError as exc:
        outcome, detail = "rejected", str(exc)[:200]
    except BaseException as exc:  # noqa: BLE001
        return "traceback", f"API {type(exc).__name__}: {str(exc)[:200]}"
    if case.get("argv"):
        argv = [a.replace("{f}", case["path"]).replace("{o}", str(out / "cli_out"))
                for a in case["argv"]]
        cli, cdetail = _run_cli(argv)
        if cli == "traceback":
            return cli, cdetail
    return outcome, detail


def _data(writer: str, ext: str) -> dict[str, Any]:
    """Objects big enough to exceed the simulated full disk."""
    from spacetime.shapes.structures import Meshes, Pointclouds, VoxelGrid

    g = torch.Generator().manual_seed(0)
    v = torch.rand(3000, 3, generator=g)
    f = torch.randint(0, 3000, (6000, 3), generator=g)
    return {"mesh": Meshes([v], [f]), "cloud": Pointclouds([v]),
            "small": Meshes([v[:50]], [f[:80] % 50]),
            "tex": Meshes([v], [f], verts_uvs=[v[:, :2]], faces_uvs=[f],
                          texture_images=[torch.rand(64, 64, 3, generator=g)]),
            "grid": VoxelGrid((torch.rand(1, 32, 32, 32, generator=g) > 0.5).float()),
            "img": torch.rand(64, 64, generator=g) * 3,
            "normals": torch.nn.functional.normalize(torch.rand(3, 64, 64, generator=g), dim=0),
            "flow": torch.rand(2, 64, 64, generator=g) * 4,
            "rgb": (torch.rand(64, 64, 3, generator=g) * 255).to(torch.uint8).numpy()}


def _write(writer: str, dest: Path, data: dict[str, Any], src_dir: Path) -> None:
    from spacetime.shapes import io as sio

    if writer == "save_mesh":
        sio.save_mesh(data["mesh"], dest)
    elif writer == "save_textured_obj":
        sio.save_mesh(data["tex"], dest)
    elif writer == "save_pointcloud":
        sio.save_pointcloud(data["cloud"], dest)
    elif writer == "save_voxels":
        sio.save_voxels(data["grid"], dest)
    elif writer == "save_depth":
        sio.save_depth(data["img"], dest)
    elif writer == "save_normals":
        sio.save_normals(data["normals"], dest)
    elif writer == "write_flow":
        from spacetime.video.flow.io import write_flow

        write_flow(dest, data["flow"])
    elif writer == "write_image":
        from spacetime.video.flow.evaluate import write_image

        write_image(dest, data["rgb"])
    elif writer == "save_checkpoint":
        from spacetime.engine import save_checkpoint

        save_checkpoint(dest, {"model": {"w": torch.rand(5000)}})
    elif writer == "write_video":
        from spacetime.video.io import write_video

        write_video(dest, torch.randint(0, 255, (8, 3, 64, 64), dtype=torch.uint8), fps=8)
    elif writer == "show":
        from spacetime.viz import show

        show(data["small"], dest, size=64)
    elif writer in ("cli_convert", "cli_show"):
        src = src_dir / f"{writer}.ply"
        if not src.exists():
            sio.save_mesh(data["mesh"] if writer == "cli_convert" else data["small"], src)
        argv = (["convert", str(src), str(dest), "-q", "--resolution", "16"]
                if writer == "cli_convert" else ["show", str(src), "-o", str(dest),
                                                  "--size", "64", "-q"])
        outcome, detail = _run_cli(argv)
        if outcome == "traceback":
            raise RuntimeError(detail)
        if outcome == "rejected":
            raise OSError(detail)
    else:  # pragma: no cover
        raise AssertionError(writer)


def run_write(case: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    d = Path(case["dir"])
    src_dir = d.parent / "_sources"
    src_dir.mkdir(exist_ok=True)
    dest = d / f"out{case['ext']}"
    mode = case["mode"]
    if mode == "full_disk":
        dest.write_bytes(PREVIOUS)
    elif mode == "dest_is_dir":
        dest.mkdir(exist_ok=True)
    else:
        (d / "blocker").write_bytes(PREVIOUS)
        dest = d / "blocker" / f"out{case['ext']}"
    before = sorted(p.name for p in d.iterdir())
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        if case["fsize"]:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case["fsize"], old[1]))
        try:
            _write(case["writer"], dest, data, src_dir)
            outcome, detail = "accepted", "the write reported success"
        except (SpacetimeError, OSError) as exc:
            outcome, detail = "rejected", f"{type(exc).__name__}: {str(exc)[:160]}"
        except BaseException as exc:  # noqa: BLE001
            outcome, detail = "traceback", f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
    after = sorted(p.name for p in d.iterdir())
    if after != before:
        return "clobbered", f"files before {before}, after {after}"
    if mode == "full_disk" and dest.read_bytes() != PREVIOUS:
        return "clobbered", "the previous file was replaced"
    if mode == "parent_is_file" and (d / "blocker").read_bytes() != PREVIOUS:
        return "clobbered", "the blocking file was changed"
    return outcome, detail


def main(argv: list[str]) -> int:
    cases = json.loads(Path(argv[0]).read_text())[int(argv[1]): int(argv[2])]
    out = Path(argv[3])
    out.mkdir(parents=True, exist_ok=True)
    data = None
    torch.set_num_threads(1)
    for case in cases:
        print(json.dumps({"start": case["id"]}), flush=True)
        t0 = time.perf_counter()
        if case["kind"] == "read":
            outcome, detail = run_read(case, out)
        else:
            data = data or _data(case["writer"], case["ext"])
            outcome, detail = run_write(case, data)
        print(json.dumps({"id": case["id"], "outcome": outcome, "detail": detail,
                          "seconds": round(time.perf_counter() - t0, 3)}), flush=True)
    return 0


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main(sys.argv[1:]))
