"""How finely does a local GGUF model grade the pendulum's state? Pointwise yes/no and pairwise A/B margins.

A judge can only teach a swing-up if its answers rise with the pendulum's
height all the way from hanging to upright. This script asks a GGUF chat model
(in-process, llama-cpp-python) about segments that hold one state for 25 steps,
at six heights (0° = upright … 175° = hanging) and four speeds, with the prompts
judgerl sends:

- pointwise: ``log P(yes) − log P(no)`` for each question given (default: the
  task's own question), mean over the speeds, per height;
- pairwise (``pairwise_v1``, no ties): ``log P(A) − log P(B)`` for every pair of
  heights in both orders; the both-orders margin ``(m_AB − m_BA) / 2`` is what
  the higher segment is preferred by once the position bias cancels, and the
  mean of ``m_AB`` and ``m_BA`` is the position bias.

Usage:
  python benchmarks/gguf_grading.py --model /path/to/qwen2.5-0.5b-instruct.gguf [--questions "Is ...?" ...]
  (default model: the packaged SmolLM2-135M)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.judges.config import GGUFConfig
from judgerl.judges.gguf import GGUFJudge, import_llama
from judgerl.judges.gguf_scoring import PrefixEvaluator, answer_token_ids, margin_from_logits, render_chat
from judgerl.judges.llm_prompts import View, load_prompt, render_pairwise
from judgerl.tasks.classic import PENDULUM, pendulum_caption
from judgerl.types import Query, Segment

DEGREES = (0, 20, 50, 90, 135, 175)
SPEEDS = (0.1, 1.0, 3.0, 6.0)
STEPS = 25


def held_state(deg: float, speed: float) -> Segment:
    """A segment of ``STEPS`` steps at angle ``deg`` from upright and angular speed ``speed`` (rad/s)."""
    th = math.radians(deg)
    obs = np.tile(np.array([math.cos(th), math.sin(th), speed], np.float32), (STEPS, 1))
    zeros = np.zeros(STEPS, np.float32)
    captions = tuple(pendulum_caption(o) for o in obs)
    return Segment(obs=obs, acts=np.zeros((STEPS, 1), np.float32), env_rewards=zeros, dones=zeros, captions=captions)


def pointwise(llama: Any, model: str, question: str | None) -> dict[int, float]:
    """Mean yes/no margin (nats) over the speeds, per height in degrees."""
    judge = GGUFJudge(GGUFConfig(model_path=model), PENDULUM, calibration="none", question=question, llama=llama)
    out = {}
    for deg in DEGREES:
        margins = [judge.raw_margin(judge._text(PENDULUM, held_state(deg, w), episode=False))[0] for w in SPEEDS]
        out[deg] = float(np.mean(margins))
    return out


def pairwise(llama: Any) -> list[dict[str, float]]:
    """A/B margins for every pair of heights (the first is the higher, i.e. better), both orders."""
    scorer = PrefixEvaluator(llama, reuse_prefix=True)

    def tokenize(text: str) -> list[int]:
        return list(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    a_ids, b_ids = answer_token_ids(tokenize, ("A",)), answer_token_ids(tokenize, ("B",))
    template = load_prompt("pairwise_v1")

    def margin(first: Segment, second: Segment) -> float:
        prompt = render_pairwise(template, PENDULUM, Query("pairwise", (first, second)), View(show="captions"), False)
        chat = render_chat(llama, [{"role": "user", "content": prompt.text}], None)
        return margin_from_logits(scorer.next_logits(scorer.tokenize(chat)), a_ids, b_ids)

    rows = []
    for hi, lo in itertools.combinations(DEGREES, 2):
        ab, ba = margin(held_state(hi, 1.0), held_state(lo, 1.0)), margin(held_state(lo, 1.0), held_state(hi, 1.0))
        rows.append({"higher": hi, "lower": lo, "higher_first": ab, "lower_first": ba, "both_orders": (ab - ba) / 2})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="GGUF file (default: the packaged SmolLM2-135M)")
    ap.add_argument("--questions", nargs="*", default=[], help="yes/no questions (default: the task's own)")
    ap.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    args = ap.parse_args()
    from judgerl.judges.embedded import packaged_smollm2_path

    model = args.model or str(packaged_smollm2_path())
    llama = import_llama().Llama(model_path=model, n_ctx=2048, n_threads=1, n_threads_batch=1, verbose=False)
    result: dict[str, Any] = {"model": Path(model).name, "pointwise": {}, "pairwise": []}
    print(f"model {Path(model).name}; pointwise yes/no margin (nats), mean over speeds {SPEEDS} rad/s")
    print("question".ljust(55) + "".join(f"{d:>8}°" for d in DEGREES))
    for q in args.questions or [None]:
        row = pointwise(llama, model, q)
        result["pointwise"][q or PENDULUM.question] = row
        print((q or PENDULUM.question)[:54].ljust(55) + "".join(f"{row[d]:>+9.2f}" for d in DEGREES), flush=True)
    rows = pairwise(llama)
    result["pairwise"] = rows
    print("\npairwise A/B margin (nats): higher-first, lower-first, both orders (> 0 = the higher preferred)")
    for r in rows:
        print(
            f"{r['higher']:>4}° vs {r['lower']:>4}°  {r['higher_first']:+.2f}  {r['lower_first']:+.2f}  "
            f"{r['both_orders']:+.2f}"
        )
    both = np.array([r["both_orders"] for r in rows])
    bias = np.array([(r["higher_first"] + r["lower_first"]) / 2 for r in rows])
    print(
        f"both orders: higher preferred in {int((both > 0).sum())} of {len(rows)}; mean |margin| "
        f"{np.abs(both).mean():.3f}; mean position bias towards A {bias.mean():+.3f}"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
