"""Helpers for tests that drive ``judgerl`` as a user does: a subprocess per command, or ``main`` in this process.

A subprocess costs 3-4 s of imports (torch, SB3, matplotlib) before the command's own work. A test that
checks what a command says or writes, not how a process starts, stops or dies, calls
:func:`cli_in_process` instead (the same ``judgerl.cli.main``, its output captured); one that needs a
process of its own (killed, signalled, holding the lock) forks it from a preloaded interpreter with
:mod:`judgerl.testing.forked` (decision 0039). :func:`cli` is for what a fresh interpreter must show.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

TINY_RUN = [
    "task.id=cartpole/balance-v0",
    "iterations=2",
    "collect_steps=300",
    "agent.total_timesteps=1024",
    "labels.total=12",
    "eval.episodes=2",
    "eval.fresh_timesteps=600",
    "reward.epochs=5",
    "eval.gif_frames=0",
]
"""A CartPole run of a few seconds that still goes through every stage twice.

No agent GIFs: rendering a CartPole episode frame by frame costs 0.5-2 s per GIF, and the GIFs have
their own tests (tests/unit/test_report.py sets ``eval.gif_frames``).
"""


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m judgerl.cli ARGS`` to completion, output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "judgerl.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def cli_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``judgerl.cli.main(ARGS)`` in this process, as :func:`cli` runs it in a subprocess.

    The exit status is ``main``'s return value (or argparse's ``SystemExit`` code); stdout and stderr
    are what ``main`` printed. An exception ``main`` does not turn into a message propagates, so a
    traceback fails the test as surely as it would show in a subprocess's stderr.
    """
    from judgerl.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse: --help (0) or a usage error (2); a message exits 1, as Python does
            code = e.code if isinstance(e.code, int) else 0 if e.code is None else 1
            if not isinstance(e.code, int | None):
                print(e.code, file=err)
    return subprocess.CompletedProcess(["judgerl", *args], code, out.getvalue(), err.getvalue())


def sets(items: list[str]) -> list[str]:
    """``--set a --set b`` (the form every version accepts; several pairs per flag are tested on their own)."""
    return [a for item in items for a in ("--set", item)]


def label_rows(db: Path) -> list[tuple[str, str]]:
    """``(query_key, status)`` of every label row in a store; empty when it has no labels table yet."""
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT query_key, status FROM labels").fetchall()
    except sqlite3.OperationalError:
        return []
