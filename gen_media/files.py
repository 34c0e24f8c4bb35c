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


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, durable: bool = False) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, then rename it onto ``path``.

    A crash or Ctrl-C mid-write leaves the previous file intact and no temporary file behind.
    ``durable=True`` also fsyncs the data and the directory entry (checkpoints), so the file
    survives a power loss once this returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
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
