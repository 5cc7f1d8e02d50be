"""Safe file writing shared by every writer in spacetime.

:func:`atomic_write` writes to a temporary file in the destination folder and renames it over
the destination only when the write succeeded, so an interrupted or failing writer never leaves a
half-written file behind; :func:`atomic_paths` does the same for several files written as one
(OBJ + MTL + texture). Images are encoded in memory (:func:`write_image_atomic`) and written
through the same path. :func:`load_npy_bytes` / :func:`load_npz_bytes` read NumPy files with
their headers checked against :mod:`spacetime.limits` before anything is allocated.

Failures of the file system (disk full, permission denied, destination is a directory, a
parent is a file) raise ``OSError`` with the destination left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from spacetime.errors import FileFormatError

__all__ = [
    "atomic_write",
    "atomic_path",
    "atomic_paths",
    "write_bytes_atomic",
    "encode_image",
    "write_image_atomic",
    "load_npy_bytes",
    "load_npz_bytes",
    "read_file_bytes",
    "image_header_size",
    "decode_image",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    Use this when a library (trimesh, PyAV, OpenCV) writes by file name. The temporary name keeps
    the destination's suffix so that format detection by extension still works.
    """
    dest = Path(path)
    _check_path_writable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    suffix = dest.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates owner-only files (0600); give the result the usual umask-based mode.
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temporary file for writing; rename it to ``path`` when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def _check_path_writable(dest: Path) -> None:
    """Clear errors for destinations that cannot work (before anything is written)."""
    if dest.is_dir():
        raise IsADirectoryError(21, "destination is a directory", str(dest))
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(20, "a parent of the destination is a file",
                                         str(parent))
            break


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[Path]]:
    """Several files written as one: yield a temporary path per destination; when the block
    succeeds, rename them all over their destinations; when anything fails (in the block or
    while renaming), every destination keeps its previous content (or stays absent) and no
    temporary file is left.

    Use it for multi-file formats (OBJ + MTL + texture). Before renaming, existing destinations
    are hard-linked (or copied) to backups so that a failed rename can be rolled back.
    """
    dests = [Path(p) for p in paths]
    for d in dests:
        _check_path_writable(d)
        d.parent.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []
    try:
        for d in dests:
            fd, tmp = tempfile.mkstemp(prefix=f".{d.name}.", suffix=f".tmp{d.suffix}",
                                       dir=d.parent)
            os.close(fd)
            temps.append(Path(tmp))
        yield list(temps)
        _commit(temps, dests)
    finally:
        for t in temps:
            with contextlib.suppress(FileNotFoundError):
                t.unlink()


def _commit(temps: list[Path], dests: list[Path]) -> None:
    import shutil

    mode = 0o666 & ~_umask()
    backups: list[Path | None] = []
    done: list[int] = []
    try:
        for d in dests:
            _check_path_writable(d)
            if d.exists():
                fd, b = tempfile.mkstemp(prefix=f".{d.name}.", suffix=".bak", dir=d.parent)
                os.close(fd)
                os.unlink(b)
                try:
                    os.link(d, b)
                except OSError:
                    shutil.copy2(d, b)
                backups.append(Path(b))
            else:
                backups.append(None)
        for i, (t, d) in enumerate(zip(temps, dests)):
            if t.exists():
                os.chmod(t, mode)
            os.replace(t, d)
            done.append(i)
    except BaseException:
        for i in reversed(done):
            b = backups[i]
            with contextlib.suppress(OSError):
                if b is not None:
                    os.replace(b, dests[i])
                else:
                    dests[i].unlink()
        raise
    finally:
        for b in backups:
            if b is not None:
                with contextlib.suppress(FileNotFoundError):
                    b.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); return the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def encode_image(img: Any, ext: str = ".png", params: Sequence[int] = ()) -> bytes:
    """Encode an OpenCV image (``(H, W)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA, uint8 or
    uint16 for PNG) in memory with ``cv2.imencode``; raise ``OSError`` when OpenCV fails."""
    import cv2

    ok, enc = cv2.imencode(ext, img, list(params))
    if not ok:
        raise OSError(f"OpenCV could not encode a {ext} image of shape {img.shape}")
    return enc.tobytes()


def write_image_atomic(
    path: str | os.PathLike, img: Any, params: Sequence[int] = ()
) -> Path:
    """Encode ``img`` in memory (format from ``path``'s extension, default PNG) and write it
    atomically. Never trusts ``cv2.imwrite``, which reports success for small PNGs even when the
    disk is full."""
    ext = Path(path).suffix.lower() or ".png"
    return write_bytes_atomic(path, encode_image(img, ext, params))


def _npy_header(fp: Any, source: str, limit: str) -> tuple[tuple[int, ...], Any, int]:
    """Read an ``.npy`` header from ``fp``; check it (no objects, within ``limit`` bytes);
    return ``(shape, dtype, data_bytes)``."""
    import numpy as np

    from spacetime.errors import FileFormatError
    from spacetime.limits import check_limit

    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            shape, _fortran, dtype = fmt._read_array_header(fp, version)  # noqa: SLF001
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises many types
        raise FileFormatError(f"{source}: not a valid .npy header ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:120]})") from None
    if dtype.hasobject:
        raise FileFormatError(f"{source}: holds Python objects (dtype {dtype}); only numeric "
                              "arrays are read (pickles are never loaded)")
    count = 1
    for s in shape:
        count *= int(s)
    nbytes = count * dtype.itemsize
    check_limit(nbytes, f"array of shape {tuple(shape)} {dtype} bytes", limit, source)
    return tuple(int(s) for s in shape), dtype, nbytes


def load_npy_bytes(
    data: bytes, source: str | os.PathLike, *, limit: str = "MAX_ARRAY_BYTES"
) -> Any:
    """An ``.npy`` file's array, its header checked first: no Python objects, at most
    ``limits.<limit>`` bytes, and the file holds the bytes it declares (numpy would allocate
    a header's size before noticing a 100-byte file).

    Raises:
        FileFormatError: not an ``.npy`` file, objects, too large or truncated.
    """
    import io

    import numpy as np

    from spacetime.errors import FileFormatError

    src = os.fspath(source)
    fp = io.BytesIO(data)
    _shape, _dtype, nbytes = _npy_header(fp, src, limit)
    left = len(data) - fp.tell()
    if left < nbytes:
        raise FileFormatError(f"{src}: truncated .npy: header declares {nbytes} data bytes, "
                              f"file holds {left}")
    fp.seek(0)
    try:
        return np.load(fp, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"{src}: not a valid .npy file ({exc})") from None


def load_npz_bytes(
    data: bytes, source: str | os.PathLike, *, limit: str = "MAX_ARRAY_BYTES"
) -> dict[str, Any]:
    """Every array of an ``.npz`` file (name → array), each member's header checked as in
    :func:`load_npy_bytes` before it is decompressed."""
    import io
    import zipfile

    from spacetime.errors import FileFormatError

    src = os.fspath(source)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FileFormatError(f"{src}: not a valid .npz file ({exc})") from None
    out: dict[str, Any] = {}
    with zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            where = f"{src}[{name!r}]"
            try:
                with zf.open(info) as member:
                    _shape, _dtype, nbytes = _npy_header(member, where, limit)
                if info.file_size > nbytes + 65536 + 128:
                    raise FileFormatError(f"{where}: member of {info.file_size} bytes for "
                                          f"{nbytes} declared data bytes")
                raw = zf.read(info)
            except FileFormatError:
                raise
            except Exception as exc:  # noqa: BLE001 - zipfile / zlib raise many types
                raise FileFormatError(f"{where}: cannot read ({type(exc).__name__}: "
                                      f"{' '.join(str(exc).split())[:120]})") from None
            out[name] = load_npy_bytes(raw, where, limit=limit)
    return out


def read_file_bytes(path: str | os.PathLike) -> bytes:
    """The bytes of ``path``, refusing files over ``limits.MAX_FILE_BYTES`` before reading.

    Raises:
        MissingFileError: no such file. FileFormatError: the file is too large.
    """
    from spacetime.errors import MissingFileError
    from spacetime.limits import check_limit

    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"{os.fspath(path)}: no such file")
    check_limit(p.stat().st_size, "file size in bytes", "MAX_FILE_BYTES", p)
    return p.read_bytes()


def image_header_size(data: bytes, source: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` an encoded image declares, read from its header without decoding,
    checked against ``limits.MAX_IMAGE_PIXELS``.

    PNG's IHDR is read directly; other formats through Pillow's lazy ``Image.open``.

    Raises:
        FileFormatError: unreadable header, or more pixels than the limit.
    """
    import io
    import struct
    import warnings

    from spacetime.errors import FileFormatError
    from spacetime.limits import check_image_size, get

    src = os.fspath(source)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise FileFormatError(f"{src}: cannot decode image: truncated PNG header (no IHDR)")
        w, h = struct.unpack(">II", data[16:24])
        return check_image_size(h, w, src)
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise FileFormatError(
            f"{src}: image pixels exceed the limit spacetime.limits.MAX_IMAGE_PIXELS = "
            f"{get('MAX_IMAGE_PIXELS'):,} (and Pillow's own)") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on bad headers
        raise _UnknownImageHeader(f"{src}: cannot decode image (not a format Pillow "
                                  f"identifies: {type(exc).__name__})") from None
    return check_image_size(h, w, src)


def decode_image(data: bytes, source: str | os.PathLike, flags: int | None = None) -> Any:
    """Decode an image file's bytes with OpenCV (``IMREAD_UNCHANGED`` by default) after
    :func:`image_header_size` has checked its declared size.

    Raises:
        FileFormatError: not a readable image, or too many pixels.
    """
    import cv2
    import numpy as np

    from spacetime.errors import FileFormatError

    src = os.fspath(source)
    if not data:
        raise FileFormatError(f"{src}: empty file, not an image")
    try:
        image_header_size(data, src)
    except _UnknownImageHeader:
        pass  # a format only OpenCV reads: its own pixel limit applies, ours is checked below
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED if flags is None else flags)
    except cv2.error as exc:
        raise FileFormatError(f"{src}: cannot decode image ({str(exc).strip()[-120:]})") from None
    if img is None or img.size == 0:
        raise FileFormatError(f"{src}: cannot decode image (truncated, corrupt or not an "
                              "image)")
    from spacetime.limits import check_image_size

    check_image_size(img.shape[0], img.shape[1], src)
    return img


class _UnknownImageHeader(FileFormatError):
    """Pillow does not identify the format (OpenCV may still decode it)."""
