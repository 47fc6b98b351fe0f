"""Kill points for fault-injection tests: SIGKILL the process at the n-th pass through a named write.

Each place where a run writes something it depends on (a label committed, the
queries registered, ``state.json``, a checkpoint, ``eval.json``, the report)
calls :func:`kill_point` with its name right after the write. Normally that is
one dictionary lookup and nothing else. With ``JUDGERL_KILL_AT=name@n`` in the
environment the process kills itself with SIGKILL the ``n``-th time it passes
``name`` -- the tests' way to crash a real run exactly there and check that
resuming it loses nothing, pays nothing twice, and ends as an uninterrupted run.
SQLite's and PostgreSQL's test suites inject faults the same way.

Names: ``label``, ``queries``, ``state``, ``checkpoint-files`` (a checkpoint's
files are in place, its sidecar not yet), ``checkpoint``, ``eval_json``, ``report``.
"""

from __future__ import annotations

import os
import signal

ENV = "JUDGERL_KILL_AT"
POINTS = ("label", "queries", "state", "checkpoint-files", "checkpoint", "eval_json", "report")
_hits: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process if ``JUDGERL_KILL_AT`` names this point and this is its ``n``-th pass."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, count = spec.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
