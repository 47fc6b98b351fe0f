"""Run a judgerl command with MountainCar's end caption replaced (how `sweep.json` here was made).

Usage (2026-12-03, seed 0, reward columns only):
  python run_with_end_caption.py "the car has reached the flag on top of the right hill; the episode is over" \\
      sweep-alpha --set task.id=mountaincar/reach-flag-v0 name=zs-mc --alphas 0,0.5,1 --seeds 0 --no-train --out DIR
"""

from __future__ import annotations

import dataclasses
import sys

from judgerl.cli import main
from judgerl.tasks.registry import get_task, register_task


def run(end_caption: str, argv: list[str]) -> int:
    """Register MountainCar with ``end_caption`` in this process, then run the CLI on ``argv``."""
    task = get_task("mountaincar/reach-flag-v0")
    register_task(dataclasses.replace(task, end_caption=end_caption), overwrite=True)
    return main(argv)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1], sys.argv[2:]))
