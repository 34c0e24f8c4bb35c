"""Files that appear whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file; mkstemp alone gives 0o600


def atomic_write_path(path: str | os.PathLike, write: Callable[[str], object], *, durable: bool = False) -> Path:
    """Call ``write(tmp_name)`` to fill a temporary file beside ``path``, then rename it onto ``path``.

    For writers that need a file *name* (FFmpeg's MP4 muxer reopens the file for ``+faststart``).
    A crash or Ctrl-C mid-write leaves the previous file intact and no temporary file behind.
    ``durable=True`` also fsyncs the directory entry, so the rename survives a power loss.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        try:  # make the rename itself durable (POSIX); not possible everywhere
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, durable: bool = False) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then rename it onto ``path``.

    ``durable=True`` (checkpoints) also fsyncs the data and the directory entry, so the file survives
    a power loss once this returns.
    """

    def by_name(tmp: str) -> None:
        with open(tmp, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())

    return atomic_write_path(path, by_name, durable=durable)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``path`` holds ``text`` (UTF-8) whole, or keeps what it held before."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))
