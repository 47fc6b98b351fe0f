"""Helpers for tests that drive ``judgerl`` as a user does: a subprocess per command."""

from __future__ import annotations

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
]
"""A CartPole run of a few seconds that still goes through every stage twice."""


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m judgerl.cli ARGS`` to completion, output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "judgerl.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


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
