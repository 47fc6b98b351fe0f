"""Atomic single files: write to a temporary file beside the target, fsync, rename, fsync the folder.

A kill, an OOM or a full disk at any moment leaves the old file or the new
one, never half of one. ``keep_prev`` keeps the replaced version as
``<name>.prev``. Checkpoints (``judgerl.checkpoints``) are built on these.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_MARK = ".tmp-"
"""Temporary files are ``.<name>.tmp-<pid>-<token><suffix>``: hidden, and keeping the suffix (SB3 appends
``.zip``/``.pkl`` to a path without it)."""

PREV = ".prev"
META = ".meta.json"


# ── Atomic single files ──────────────────────────────────────────────────────────────


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` with the same suffix (``.agent.zip.tmp-12-ab12cd34.zip``)."""
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def prev_path(path: Path) -> Path:
    """Where the previous version of ``path`` is kept: ``<name>.prev``."""
    return path.with_name(path.name + PREV)


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (a rename alone does not order data before metadata)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable; a file system without directory fsync is skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as e:
        # Some file systems (and Windows) refuse fsync on a directory; the rename is still atomic.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _link_or_copy(src: Path, dst: Path) -> None:
    """Make ``dst`` a durable copy of ``src`` atomically (hard link when the file system allows it)."""
    tmp = temp_path(dst)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            fsync_file(tmp)
        os.replace(tmp, dst)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def rotate_prev(path: Path) -> None:
    """Keep the current ``path`` as ``<name>.prev`` (replacing the older one); nothing if absent."""
    if path.exists():
        _link_or_copy(path, prev_path(path))


@contextmanager
def atomic_path(path: str | Path, keep_prev: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    The temporary file lies in the same folder (a rename across file systems is
    not atomic) and keeps ``path``'s suffix. On an exception (a full disk, a
    failing writer, Ctrl-C) it is removed and ``path`` is untouched.

    Args:
        path: The final file.
        keep_prev: Keep the replaced file as ``<name>.prev``.

    Yields:
        The temporary path; the caller must create it.

    Raises:
        FileNotFoundError: The caller wrote nothing to the temporary path.
    """
    final = Path(path)
    tmp = temp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} (meant for {final})")
        fsync_file(tmp)
        if keep_prev:
            rotate_prev(final)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, keep_prev: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, keep_prev) as tmp, tmp.open("wb") as f:
        f.write(data)


def atomic_write_text(path: str | Path, text: str, keep_prev: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    atomic_write_bytes(path, text.encode("utf-8"), keep_prev)


def clean_stale_temps(folder: Path) -> list[Path]:
    """Remove temporary files a killed writer left in ``folder`` (call it only while holding the run lock).

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in folder.glob(f".*{TMP_MARK}*"):
        if p.is_file():
            _unlink_quietly(p)
            removed.append(p)
    return removed


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
