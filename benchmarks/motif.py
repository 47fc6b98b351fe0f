"""Motif on NetHack (seed 002): env reward only vs intrinsic only vs mixed, the staircase, and steering by words.

Every cell is one ``judgerl run`` of ``judgerl/configs/nethack_motif_demo.yaml``
(the embedded MiniLM judge, 600 caption-pair labels, PPO with the NetHack encoder)
with a few overrides, so the benchmark measures exactly what a user runs:

- ``env``: PPO on the in-game reward only (``reward.model=none``, nothing judged);
- ``intrinsic``: the learned caption reward only (``reward.mix.env_weight=0``);
- ``mixed``: Motif's ``0.1·r_env + 1[r̂ > ε]·z(r̂)/N(message)^3`` (the demo config);
- ``stair_motif_weights``: the staircase with the weights Motif's README gives every task but the score,
  ``10·r_env + 0.1·(intrinsic)``: going down ends the episode, so the goal must outweigh the reward lost;
- ``stair_explore`` (grid ``staircase_explore``): env-only on the staircase without NLE's penalty, plus
  ``0.01`` per map cell first seen (``reward.mix.explore_weight``) against ``10`` for going down;
  ``stair_explore_v4``: the same on ``-v4``, whose crop centre shows what the hero stands on;
- ``descend`` / ``gold`` / ``combat``: ``mixed`` with the judge's goal text replaced (steering by words;
  ``combat`` is Motif's third steering goal, "The Monster Slayer", measured by ``eval/kills``);
- ``steering_question`` grid, cells ``descend`` / ``gold``: the same two goals asked of a chat judge
  (``judge.type=gguf`` or ``openai``, set with ``--set``) as its yes/no ``judge.question``;
  ``steering_topic``: the same with questions about a topic ("Is this message about gold?");
- ``online_mixed``: ``mixed`` with ``labels.mode=online`` (ONI): the judge labels caption pairs from the
  agent's own rollouts while it trains (long episodes cut into fragments, decision 0033); the row adds
  the online counters and how many labelled caption pairs repeat an earlier pair's text (what a chat
  judge no longer pays for, decision 0032).

The agent is evaluated on sampled actions (as Motif does) for ``--eval-episodes``
episodes; the table reports the in-game score, the deepest level, gold, distinct
messages per episode, the task's success rate and agent steps/s (training steps over
training wall-clock). Every seed is printed; the JSON is rewritten after each run
(``--resume`` skips the cells already in it).

Usage:
  python benchmarks/motif.py --grid score --seeds 0 1 2
  python benchmarks/motif.py --grid staircase steering --steps 61440 --out benchmarks/results/motif/demo.json
  python benchmarks/motif.py --grid steering --set task.id=nethack/score-status-v0   # captions with status changes
  python benchmarks/motif.py --grid staircase --steps 500000 --set task.id=nethack/staircase-status-map-v0  # whole map
  python benchmarks/motif.py --grid steering_question --steps 500000 --set task.id=nethack/score-status-map-v1 \
      judge.type=gguf judge.gguf.model_path=qwen2.5-0.5b-instruct.gguf   # a local LLM judge
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from judgerl.config import load_config
from judgerl.labels.store import LabelStore
from judgerl.loop import run

DEMO = "judgerl/configs/nethack_motif_demo.yaml"
ENV_ONLY = [
    "reward.model=none",
    "reward.mix.env_weight=1.0",
    "reward.mix.learned_weight=0.0",
    "reward.mix.normalize=none",
    "reward.mix.threshold_quantile=null",
    "reward.mix.count_decay=0.0",
    "iterations=1",
]
GOALS = {
    "descend": "You find the staircase down. You go down the stairs to a deeper level of the dungeon.",
    "gold": "You pick up gold pieces. You find gold and treasure and useful items.",
    # The packaged MiniLM's cosine to this goal puts "You kill the newt!" (0.47) and "You hit the jackal." (0.29)
    # above every other caption of a 20-caption probe (2026-12-05), with a pet's kill (0.32) among them; the gold
    # goal rates those two 0.08 and 0.10.
    "combat": "You kill the monster! You fight and slay the monsters you meet.",
}
# The same goals as yes/no questions for a chat judge (gguf, openai); the task's instruction stays.
QUESTIONS = {
    "descend": "Does this message show that the agent found the staircase down or went down to a deeper dungeon level?",
    "gold": "Does this message show that the agent picked up gold or items?",
}
# Questions about a topic, which Qwen2.5-0.5B answers far more selectively than the goals above: asked "Is this message
# about the staircase down?", it rates "You see a staircase down." +0.51 nats and "You see gold." -0.16, where the
# descend question above gives -0.04 and -0.14 (benchmarks/caption_questions.py, motif/question_probe_qwen05b.json).
TOPICS = {"descend": "Is this message about the staircase down?", "gold": "Is this message about gold?"}
# grid name -> {cell: overrides}
GRIDS: dict[str, dict[str, list[str]]] = {
    "score": {"env": ENV_ONLY, "intrinsic": ["reward.mix.env_weight=0.0"], "mixed": []},
    "staircase": {
        "stair_env": ["task.id=nethack/staircase-v0", *ENV_ONLY],
        "stair_mixed": ["task.id=nethack/staircase-v0"],
        # Motif's weights for every task but the score (its README): extrinsic 10, intrinsic 0.1. Reaching the goal
        # ends the episode, so with the demo's 0.1 / 1 an agent loses more intrinsic reward by going down than it gains.
        "stair_motif_weights": [
            "task.id=nethack/staircase-v0",
            "reward.mix.env_weight=10.0",
            "reward.mix.learned_weight=0.1",
        ],
    },
    # The env-only staircase without NLE's penalty (-v3), plus the exploration term: 0.01 per map cell first seen,
    # against 10 for going down (decision 0052).
    "staircase_explore": {
        "stair_explore": [
            "task.id=nethack/staircase-status-map-v3",
            *ENV_ONLY,
            "reward.mix.env_weight=10.0",
            "reward.mix.explore_weight=0.01",
        ],
        # the same with the crop's centre showing what the hero stands on (decision 0053)
        "stair_explore_v4": [
            "task.id=nethack/staircase-status-map-v4",
            *ENV_ONLY,
            "reward.mix.env_weight=10.0",
            "reward.mix.explore_weight=0.01",
        ],
    },
    "steering": {name: [f"judge.zero_shot.goal_text={text}"] for name, text in GOALS.items()},
    "steering_question": {name: [f"judge.question={text}"] for name, text in QUESTIONS.items()},
    "steering_topic": {name: [f"judge.question={text}"] for name, text in TOPICS.items()},
    "online": {"mixed": [], "online_mixed": ["labels.mode=online"]},
}
ONLINE_KEYS = ("labels/online", "labels/fragments", "labels/dropped", "reward/swaps", "reward/online_fits")
COLUMNS = ("eval/score", "eval/max_depth", "eval/gold", "eval/kills", "eval/distinct_messages", "eval/success_rate")


def one_run(cell: str, overrides: list[str], seed: int, steps: int, episodes: int, runs_dir: Path) -> dict:
    """Run one cell from scratch; returns its row (the eval metrics and steps/s)."""
    cfg = load_config(
        DEMO,
        [
            f"name={cell}-s{seed}",
            f"runs_dir={runs_dir}",
            f"seed={seed}",
            f"agent.total_timesteps={steps}",
            f"eval.episodes={episodes}",
            *overrides,
        ],
    )
    t0 = time.perf_counter()
    run_dir = run(cfg)
    ev = json.loads((run_dir / "eval.json").read_text())
    row = {"cell": cell, "seed": seed, "steps": steps, "time/total_s": time.perf_counter() - t0}
    row.update({k: ev.get(k, float("nan")) for k in COLUMNS})
    row["agent_steps_per_s"] = ev["budget/env_steps_train"] / max(ev["time/train_s"], 1e-9)
    row.update({k: v for k, v in ev.items() if k.startswith(("audit/", "time/", "labels/ok", "eval/random/"))})
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    iterations = [r for r in records if r["stage"] == "iteration"]
    # the training games of each iteration, e.g. how often they went down (agent/fact/max_depth)
    row["agent_facts"] = [{k: v for k, v in r.items() if k.startswith("agent/fact/")} for r in iterations]
    # the evaluation after each iteration: a learning curve for long runs (iterations=N)
    row["eval_curve"] = [{"iteration": r["step"], **{k: r[k] for k in COLUMNS if k in r}} for r in iterations]
    if cfg.labels.mode == "online":
        last = iterations[-1]
        row.update({k: last.get(k) for k in ONLINE_KEYS})
        with LabelStore(run_dir / "labels.sqlite") as store:
            texts = [tuple(sorted(s.captions[0] for s in q.segments)) for q, _ in store.labelled(min_iteration=0)]
        row["caption_pairs_labelled"] = len(texts)
        row["caption_pairs_repeated"] = len(texts) - len(set(texts))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", nargs="+", choices=list(GRIDS), default=["score"])
    p.add_argument("--cells", nargs="*", default=None, help="only these cells of the grids")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=61440, help="agent steps per run (the demo's: 61,440)")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--out", default="benchmarks/results/motif/demo.json")
    p.add_argument("--resume", action="store_true", help="keep the rows already in --out")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides for every run")
    p.add_argument("--runs-dir", default=None, help="keep the run directories here (default: a temporary folder)")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"load average: {os.getloadavg()}  cores: {os.cpu_count()}")
    out = Path(args.out)
    rows: list[dict] = json.loads(out.read_text()) if args.resume and out.exists() else []
    cells = {c: o for g in args.grid for c, o in GRIDS[g].items() if args.cells is None or c in args.cells}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.runs_dir or scratch
        for seed in args.seeds:
            for cell, overrides in cells.items():
                if any((r["cell"], r["seed"], r["steps"]) == (cell, seed, args.steps) for r in rows):
                    continue
                row = one_run(cell, [*overrides, *args.set], seed, args.steps, args.eval_episodes, Path(tmp))
                row["overrides"] = args.set
                rows.append(row)
                print(json.dumps(row), flush=True)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(rows, indent=2))
    print(
        f"\n{'cell':12s} {'seed':>4s} {'score':>7s} {'depth':>5s} {'gold':>6s} {'kills':>5s} {'msgs':>5s} {'succ':>5s} "
        f"{'steps/s':>7s}"
    )
    for r in rows:
        print(
            f"{r['cell']:12s} {r['seed']:4d} {r['eval/score']:7.1f} {r['eval/max_depth']:5.2f} {r['eval/gold']:6.1f} "
            f"{r.get('eval/kills', float('nan')):5.2f} {r['eval/distinct_messages']:5.1f} "
            f"{r['eval/success_rate']:5.2f} {r['agent_steps_per_s']:7.0f}"
        )
    for cell in cells:
        sel = [r for r in rows if r["cell"] == cell and r["steps"] == args.steps]
        if sel:
            means = {k: np.mean([r.get(k, np.nan) for r in sel]) for k in COLUMNS}  # rows before eval/kills lack it
            print(f"{cell}: " + "  ".join(f"{k} {v:.2f}" for k, v in means.items()) + f"  over {len(sel)} seeds")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
