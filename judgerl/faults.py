"""Kill points for fault-injection tests: SIGKILL (or a full disk) at the n-th pass through a named write.

Each place where a run writes something it depends on (a label committed, the
queries registered, ``state.json``, a checkpoint, ``eval.json``, the report)
calls :func:`kill_point` with its name right after the write. Normally that is
one dictionary lookup and nothing else. With ``JUDGERL_KILL_AT=name@n`` in the
environment the process kills itself with SIGKILL the ``n``-th time it passes
``name`` -- the tests' way to crash a real run exactly there and check that
resuming it loses nothing, pays nothing twice, and ends as an uninterrupted run.
``JUDGERL_DISK_FULL_AT=name@n`` raises ``OSError(ENOSPC)`` there instead, as a
full disk would at the next write. SQLite's and PostgreSQL's test suites inject
faults the same way.

Names: ``label``, ``queries``, ``state``, ``checkpoint-files`` (a checkpoint's
files are in place, its sidecar not yet), ``checkpoint``, ``eval_json``, ``report``.
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "JUDGERL_KILL_AT"
DISK_FULL_ENV = "JUDGERL_DISK_FULL_AT"
POINTS = ("label", "queries", "state", "checkpoint-files", "checkpoint", "eval_json", "report")
_hits: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process (``JUDGERL_KILL_AT``) or raise ENOSPC (``JUDGERL_DISK_FULL_AT``) at the n-th pass."""
    for env, act in ((ENV, _kill), (DISK_FULL_ENV, _disk_full)):
        spec = os.environ.get(env)
        if not spec:
            continue
        target, _, count = spec.partition("@")
        if target != name:
            continue
        key = f"{env}:{name}"
        _hits[key] = _hits.get(key, 0) + 1
        if _hits[key] == int(count or 1):
            act(name)


def _kill(name: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _disk_full(name: str) -> None:
    raise OSError(errno.ENOSPC, f"No space left on device (injected after {name})")


class WorkerKilled(BaseException):  # noqa: N818 -- named for what it stands for, not an error to handle
    """Raised by fault tests inside a worker thread to stand for the worker being killed.

    A ``BaseException``, so no ``except Exception`` on the way (the judge's retries, the
    HTTP client's) can catch it: only what supervises the worker sees it, as it would see
    a thread that died. Python cannot kill a thread from outside; this is the nearest.
    """
