"""Which yes/no question makes a local GGUF judge tell a goal's captions apart? Margins per caption, per question.

A caption reward for steering by words can only pay for the goal if the judge's
answer for the goal's captions stands above the rest. This script asks a GGUF
chat model (in-process, llama-cpp-python) each question about each caption, one
caption per prompt, with the prompt judgerl sends (``pointwise_yesno_v1`` and the
task's instruction), and prints ``log P(yes) − log P(no)`` in nats. Run it before
training: it costs seconds, a steering run costs most of an hour.

Usage:
  python benchmarks/caption_questions.py --model qwen2.5-coder-0.5b-instruct.gguf \\
      --questions "stairs=Is this message about the staircase down?" "gold=Is this message about gold?" \\
      [--task nethack/score-status-map-v2] [--captions "You see gold." ...] [--out probe.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.judges.config import GGUFConfig
from judgerl.judges.gguf import GGUFJudge, import_llama
from judgerl.tasks import get_task
from judgerl.types import Segment

# NetHack captions of the -v2 tasks: the two goals' events, then frequent messages an agent meets anyway.
CAPTIONS = (
    "You see a staircase down.",
    "You are standing on a staircase down.",
    "You are now on dungeon level 2 (was 1).",
    "You see gold.",
    "$ - 4 gold pieces. Your gold rises to 4.",
    "You see a staircase up.",
    "You are standing on a staircase up.",
    "You see a fountain.",
    "This orange is delicious!",
    "It's solid stone.",
    "You regain 1 hit points.",
    "You see here a whistle.",
    "You can't go down here.",
)


def one_caption(caption: str) -> Segment:
    """A one-step segment whose caption is ``caption`` (the observation is never shown)."""
    zeros = np.zeros(1, np.float32)
    return Segment(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32), zeros, zeros, (caption,))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="GGUF file")
    ap.add_argument("--questions", nargs="+", required=True, metavar="NAME=QUESTION")
    ap.add_argument("--task", default="nethack/score-status-map-v2", help="task whose instruction the prompt holds")
    ap.add_argument("--captions", nargs="*", default=list(CAPTIONS))
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    args = ap.parse_args()
    task = get_task(args.task)
    questions = dict(q.split("=", 1) for q in args.questions)
    llama = import_llama().Llama(model_path=args.model, n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
    margins: dict[str, list[float]] = {}
    for name, question in questions.items():
        judge = GGUFJudge(GGUFConfig(model_path=args.model), task, calibration="none", question=question, llama=llama)
        margins[name] = [judge.raw_margin(judge._text(task, one_caption(c), episode=False))[0] for c in args.captions]
    print(f"model {Path(args.model).name}, task {task.id}: yes/no margin (nats) per caption")
    for name, question in questions.items():
        print(f"  {name}: {question}")
    print("".join(f"{n[:9]:>10s}" for n in questions) + "  caption")
    for i, caption in enumerate(args.captions):
        print("".join(f"{margins[n][i]:>+10.2f}" for n in questions) + f"  {caption}")
    if args.out:
        result: dict[str, Any] = {"model": Path(args.model).name, "task": task.id, "questions": questions}
        result["margins"] = {c: {n: margins[n][i] for n in questions} for i, c in enumerate(args.captions)}
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
