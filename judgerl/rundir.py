"""The run directory's guards: one writer at a time, checked paths, a store that matches the state.

What a start of ``judgerl run`` (or the loop, when called directly) must do
before it spends anything, in this order::

    check_paths(cfg)                      # runs_dir, labels.store, model files: before any work
    with RunLock(cfg.run_dir):            # a second run on the same name is refused
        prepare_run_dir(cfg, force=...)   # config fingerprint, label store vs state.json, config.yaml
        ...                               # preflight, loop

The atomic-write and checkpoint helpers live in :mod:`judgerl.checkpoints` and
:mod:`judgerl.agents.checkpoint`; the fingerprint in :mod:`judgerl.fingerprint`.
All are re-exported here. Every refusal is a :class:`RunDirError` (a
:class:`~judgerl.configbase.ConfigError`): the CLI prints one line per problem
and exits 2.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from judgerl import config as config_module
from judgerl.checkpoints import (
    CheckpointInfo,
    Loaded,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    clean_stale_temps,
    load_checkpoint,
    load_with_fallback,
    save_checkpoint,
    save_torch_atomic,
)
from judgerl.config import RunConfig
from judgerl.configbase import ConfigError
from judgerl.fingerprint import check_resume, fingerprint, write_run_config
from judgerl.runstate import RunState

__all__ = [
    "CheckpointInfo",
    "Loaded",
    "RunDirError",
    "RunLock",
    "RunLocked",
    "StoreMismatch",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_paths",
    "check_resume",
    "check_store_matches_state",
    "count_label_rows",
    "fingerprint",
    "label_health_warning",
    "load_checkpoint",
    "load_with_fallback",
    "prepare_run_dir",
    "save_checkpoint",
    "save_torch_atomic",
    "store_path",
    "write_run_config",
]


class RunDirError(ConfigError):
    """The run directory cannot be used as it is; the message names the path and the fix."""


class RunLocked(RunDirError):
    """Another process holds the run directory's lock.

    Attributes:
        pid: The holder's PID as written in the lock file (``None`` if it could not be read).
    """

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class StoreMismatch(RunDirError):
    """``state.json`` says labels were bought, and the label store does not hold them."""


# ── #3 One writer per run directory ──────────────────────────────────────────────────


class RunLock:
    """Exclusive lock on a run directory: ``fcntl.flock`` on ``<run_dir>/.lock``.

    The holder writes ``<pid>\\n<host>\\n<start time>`` into the file. The kernel drops the
    lock when the holder exits in any way, SIGKILL included, so a stale file never blocks.
    Re-entrant within one process (the CLI and the loop may both take it): only the
    outermost release unlocks. On acquiring, temporary files a killed writer left in the
    run directory are removed (no one else can be writing them).

    Args:
        run_dir: The run directory (created if missing).

    Raises:
        RunLocked: On entering, when another process holds it; names its PID.
    """

    _held: ClassVar[dict[str, list[int]]] = {}  # realpath -> [fd, depth]
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / ".lock"

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _key(self) -> str:
        return os.path.realpath(self.path)

    def acquire(self) -> None:
        """Take the lock (see the class docs)."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunDirError(
                f"cannot create the lock file {self.path} ({e.strerror or e}); choose a writable runs_dir"
            ) from None
        key = self._key()
        with self._guard:
            if key in self._held:
                os.close(fd)  # this process holds it already: one level deeper
                self._held[key][1] += 1
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = _read_holder(fd)
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunDirError(f"cannot lock run directory {self.run_dir}: {e.strerror}") from None
                raise _locked_error(self.run_dir, holder) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{socket.gethostname()}\n{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
            self._held[key] = [fd, 1]
        clean_stale_temps(self.run_dir)

    def release(self) -> None:
        """Release one level; the outermost release unlocks and clears the holder's PID."""
        key = self._key()
        with self._guard:
            entry = self._held.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] > 0:
                return
            fd = entry[0]
            del self._held[key]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_holder(fd: int) -> list[str]:
    with contextlib.suppress(OSError):
        return os.pread(fd, 4096, 0).decode("utf-8", "replace").split("\n")
    return []


def _locked_error(run_dir: Path, holder: list[str]) -> RunLocked:
    pid = int(holder[0]) if holder and holder[0].strip().isdigit() else None
    host = holder[1].strip() if len(holder) > 1 else ""
    since = holder[2].strip() if len(holder) > 2 else ""
    who = f"PID {pid}" if pid is not None else "a process whose PID is not recorded yet"
    if host and host != socket.gethostname():
        who += f" on {host}"
    if since:
        who += f", started {since}"
    stop = f"stop it (kill {pid}), " if pid is not None else ""
    return RunLocked(
        f"run directory {run_dir} is in use by another judgerl process ({who}); wait for it to finish, "
        f"{stop}or choose another run name",
        pid,
    )


# ── #4 The label store must hold what state.json says was bought ─────────────────────


def store_path(cfg: RunConfig) -> Path:
    """The label store's path (``RunConfig.store_path``)."""
    return cfg.store_path


def count_label_rows(path: Path) -> int | None:
    """Label rows in a store file, read-only; ``None`` when the file is missing or no store.

    Counts every judge's rows (the number ``LabelStore.stats()["labels/total"]`` reports).
    """
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(con.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return None


def check_store_matches_state(state: RunState, path: Path, expect_labels: bool = True) -> None:
    """Refuse to resume when the label store lost labels that ``state.json`` says were bought.

    A deleted or truncated store would otherwise be replaced by an empty one and
    the run would go on with fewer labels (or buy them again) and say nothing.

    Expected: ``state.labels_bought`` rows (set by the loop at every ``state.save``),
    and at least one row once an iteration finished or a stage past collection was
    reached (for a ``state.json`` written before the counter existed).

    Args:
        state: The loaded run state.
        path: The label store file (:func:`store_path`).
        expect_labels: False for runs that buy no labels (``reward.model`` none/zero_shot):
            then only ``labels_bought`` counts.

    Raises:
        StoreMismatch: The store is missing, empty, unreadable or holds fewer rows.
    """
    expected = int(state.labels_bought)
    if expect_labels and (state.iteration > 0 or state.stage in ("judged", "fitted", "trained") or state.done):
        # A state.json from before the counter: a finished stage past collection means labels were bought.
        expected = max(expected, 1)
    if expected == 0:
        return
    rows = count_label_rows(path)
    if rows is not None and rows >= expected:
        return
    if not path.exists():
        found = "is missing"
    elif path.is_file() and path.stat().st_size == 0:
        found = "is empty (0 bytes)"
    elif rows is None:
        found = "is not a readable label store"
    else:
        found = f"holds only {rows} label row(s)"
    raise StoreMismatch(
        f"labels.store: {path} {found}, but state.json says {expected} label row(s) were bought "
        f"(iteration {state.iteration}); restore the store from a backup (or point labels.store at it), "
        "or start over under a new run name; resuming would lose or buy those labels again"
    )


def prepare_run_dir(cfg: RunConfig, force: bool = False) -> RunState:
    """Resume checks under the run lock, then ``config.yaml``: the one call before any spending.

    1. :func:`check_resume` (config fingerprint; ``force`` records and accepts a change);
    2. :func:`check_store_matches_state` (a lost label store is refused);
    3. :func:`write_run_config` (only now is ``config.yaml`` rewritten).

    Args:
        cfg: The config about to run.
        force: ``--force-config``: accept a changed fingerprint.

    Returns:
        The loaded ``state.json`` (fresh for a new run).
    """
    run_dir = cfg.run_dir
    check_resume(run_dir, cfg, force=force)
    state = RunState.load(run_dir)
    # Reward models that buy no labels (config.NO_LABELS) leave no store behind.
    no_labels = getattr(config_module, "NO_LABELS", ())
    expect_labels = getattr(cfg.reward, "model", None) not in no_labels
    check_store_matches_state(state, store_path(cfg), expect_labels=expect_labels)
    write_run_config(run_dir, cfg)
    return state


# Path checks and the label-health warning live in judgerl.run_checks (re-exported for callers).
from judgerl.run_checks import check_paths, label_health_warning  # noqa: E402
